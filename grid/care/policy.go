package care

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Policy holds every threshold of isolation and care; it is stored with a version
// and edited by admin, never hard-coded in the rules. JSON names are the API's.
type Policy struct {
	// PeriodDays is the default length of a spell of isolation or monitoring, day 1
	// being its start date.
	PeriodDays int `json:"period_days"`
	// FeverC is the temperature in °C from which a check-in is a fever (inclusive).
	FeverC float64 `json:"fever_c"`
	// CheckInHours are the local hours by which the 1st, 2nd, ... check-in of each day
	// must be in: at hour CheckInHours[i] a day with fewer than i+1 check-ins has
	// missed one.
	CheckInHours []int `json:"checkin_hours"`
	// ContactHour is the local hour by which each vulnerable person inside a sealed
	// or control zone must have been contacted that day.
	ContactHour int `json:"contact_hour"`
	// ElderlyMinAge and ChildMaxAge are the age grounds for home isolation.
	ElderlyMinAge int `json:"elderly_min_age"`
	ChildMaxAge   int `json:"child_max_age"`
	// UTCOffsetMinutes fixes the local day of check-ins, contacts and reports.
	UTCOffsetMinutes int `json:"utc_offset_minutes"`
}

// DefaultPolicy is the policy shipped with the server. Sources (DOMAIN.md and the
// plans in shared/seeds):
//   - 14 days: "Home isolation: 14 days from arrival or last exposure".
//   - 37.3 °C: the fever line of the plans' temperature checks (体温≥37.3℃).
//   - Check-ins by 12:00 and 20:00: "temperature twice daily", morning and evening.
//   - Contact by 18:00: the vulnerable "must be contacted daily", in working hours.
//   - Age 70+ and 14 or under: the age grounds for home isolation.
//   - Days in China Standard Time (UTC+8).
func DefaultPolicy() Policy {
	return Policy{PeriodDays: 14, FeverC: 37.3, CheckInHours: []int{12, 20}, ContactHour: 18,
		ElderlyMinAge: 70, ChildMaxAge: 14, UTCOffsetMinutes: 8 * 60}
}

// Temperatures outside MinTempC..MaxTempC are typing errors, not readings.
const (
	MinTempC = 30.0
	MaxTempC = 45.0
)

// FieldError is a rule violation naming the JSON field and the reason.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks p; errors are *FieldError naming the field under "policy.".
func (p Policy) Validate() error {
	bad := func(f, format string, args ...any) error {
		return &FieldError{Field: "policy." + f, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.PeriodDays < 1 || p.PeriodDays > 60:
		return bad("period_days", "must be between 1 and 60")
	case p.FeverC < 36 || p.FeverC > 40:
		return bad("fever_c", "must be between 36 and 40")
	case len(p.CheckInHours) < 1 || len(p.CheckInHours) > 6:
		return bad("checkin_hours", "must list 1 to 6 hours")
	case p.ContactHour < 1 || p.ContactHour > 24:
		return bad("contact_hour", "must be between 1 and 24")
	case p.ElderlyMinAge < 50 || p.ElderlyMinAge > 100:
		return bad("elderly_min_age", "must be between 50 and 100")
	case p.ChildMaxAge < 0 || p.ChildMaxAge > 18:
		return bad("child_max_age", "must be between 0 and 18")
	case p.UTCOffsetMinutes < -12*60 || p.UTCOffsetMinutes > 14*60:
		return bad("utc_offset_minutes", "must be between -720 and 840")
	}
	for i, h := range p.CheckInHours {
		if h < 1 || h > 24 || (i > 0 && h <= p.CheckInHours[i-1]) {
			return bad("checkin_hours", "must be increasing hours between 1 and 24")
		}
	}
	return nil
}

// Location is the fixed zone of the policy's local day.
func (p Policy) Location() *time.Location { return time.FixedZone("care", p.UTCOffsetMinutes*60) }

// Day is the local calendar day of t, as midnight UTC of that date (the form in
// which pgx reads a SQL date).
func (p Policy) Day(t time.Time) time.Time {
	t = t.In(p.Location())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// At is the instant of the local hour h (0..24) on day.
func (p Policy) At(day time.Time, h int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, p.Location()).Add(time.Duration(h) * time.Hour)
}

// LastDay is the last day of a period of days starting on start (day 1).
func LastDay(start time.Time, days int) time.Time { return start.AddDate(0, 0, days-1) }

// CheckTemperature refuses a reading outside MinTempC..MaxTempC or with more than
// one decimal.
func CheckTemperature(c float64) error {
	if math.IsNaN(c) || c < MinTempC || c > MaxTempC {
		return &FieldError{Field: "temperature_c", Reason: fmt.Sprintf("must be between %g and %g °C", MinTempC, MaxTempC)}
	}
	if math.Abs(c*10-math.Round(c*10)) > 1e-6 {
		return &FieldError{Field: "temperature_c", Reason: "must have at most one decimal"}
	}
	return nil
}

// IsFever reports whether a reading in °C is a fever under p (FeverC inclusive).
// Readings carry one decimal, so the comparison is made in tenths.
func (p Policy) IsFever(c float64) bool { return math.Round(c*10) >= math.Round(p.FeverC*10) }

// Slot is one check-in a day requires: the Index-th (0-based) of Day, due by Due.
type Slot struct {
	Day   time.Time
	Index int
	Due   time.Time
}

// Key names the slot in alert keys: "2026-11-23#1".
func (s Slot) Key() string { return fmt.Sprintf("%s#%d", s.Day.Format(time.DateOnly), s.Index) }

// MissedCheckIns lists the check-in slots of a spell that began on began (day) and
// ends on last (day) whose hour has passed at now and which the check-ins at (any
// order) do not fill: slot i of a day is filled when at least i+1 check-ins of that
// local day came in by its hour. Slots before began (the day a spell begins counts
// from when it was placed: placed at placedAt, only slots due after it) are skipped.
func (p Policy) MissedCheckIns(began, last, placedAt time.Time, at []time.Time, now time.Time) []Slot {
	perDay := map[time.Time][]time.Time{}
	for _, t := range at {
		d := p.Day(t)
		perDay[d] = append(perDay[d], t)
	}
	var out []Slot
	today := p.Day(now)
	for d := began; !d.After(last) && !d.After(today); d = d.AddDate(0, 0, 1) {
		ins := perDay[d]
		slices.SortFunc(ins, func(a, b time.Time) int { return a.Compare(b) })
		for i, h := range p.CheckInHours {
			due := p.At(d, h)
			if due.After(now) || !due.After(placedAt) {
				continue
			}
			n := 0
			for _, t := range ins {
				if !t.After(due) {
					n++
				}
			}
			if n < i+1 {
				out = append(out, Slot{Day: d, Index: i, Due: due})
			}
		}
	}
	return out
}

// ReleaseAt is when a spell ending on last may be released: the last check-in hour
// of its last day, so that day's temperatures are in first.
func (p Policy) ReleaseAt(last time.Time) time.Time {
	return p.At(last, p.CheckInHours[len(p.CheckInHours)-1])
}

// Releasable reports whether a spell ending on last is released at now: its release
// time has come and no alert about it is open.
func (p Policy) Releasable(last time.Time, openAlerts int, now time.Time) bool {
	return !now.Before(p.ReleaseAt(last)) && openAlerts == 0
}

// ContactMissed reports whether a vulnerable person due for contact on the day of
// now, last contacted on lastContact (nil: never), has missed it at now.
func (p Policy) ContactMissed(lastContact *time.Time, now time.Time) bool {
	today := p.Day(now)
	if now.Before(p.At(today, p.ContactHour)) {
		return false
	}
	return lastContact == nil || p.Day(*lastContact).Before(today)
}
