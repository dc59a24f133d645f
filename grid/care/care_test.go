package care

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var cst = time.FixedZone("CST", 8*3600)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDefaultPolicyValid(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy()
	p.CheckInHours = []int{20, 12}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "checkin_hours") {
		t.Fatalf("decreasing hours: %v", err)
	}
}

func TestEligibility(t *testing.T) {
	p := DefaultPolicy()
	start := day("2026-11-23")
	born := func(s string) *time.Time { d := day(s); return &d }
	room := Conditions{SeparateRoom: true, SeparateBathroom: true}
	for _, tc := range []struct {
		name    string
		birth   *time.Time
		c       Conditions
		ok      bool
		grounds []string
		reason  string
	}{
		{"70 today", born("1956-11-23"), room, true, []string{"age_70_plus"}, ""},
		{"70 tomorrow", born("1956-11-24"), room, false, nil, "no ground"},
		{"14 exactly", born("2012-11-23"), room, true, []string{"age_14_or_under"}, ""},
		{"turned 15 today", born("2011-11-23"), room, false, nil, "no ground"},
		{"pregnant adult", born("1995-01-01"), Conditions{Pregnant: true, SeparateRoom: true, SeparateBathroom: true}, true, []string{"pregnant"}, ""},
		{"severe illness", born("1980-01-01"), Conditions{SevereIllness: true, SeparateRoom: true, SeparateBathroom: true}, true, []string{"severe_illness"}, ""},
		{"relative critically ill", born("1980-01-01"), Conditions{RelativeCriticallyIll: true, SeparateRoom: true, SeparateBathroom: true}, true, []string{"relative_critically_ill"}, ""},
		{"elderly without separate bathroom", born("1940-01-01"), Conditions{SeparateRoom: true}, false, []string{"age_70_plus"}, "no separate bathroom"},
		{"elderly without separate room", born("1940-01-01"), Conditions{SeparateBathroom: true}, false, []string{"age_70_plus"}, "no separate room"},
		{"unknown age, no other ground", nil, room, false, nil, "age unknown"},
	} {
		got := p.HomeIsolationEligibility(tc.birth, start, tc.c)
		if got.Eligible != tc.ok {
			t.Errorf("%s: eligible %v, want %v (%v)", tc.name, got.Eligible, tc.ok, got.Reasons)
		}
		if tc.grounds != nil && !slices.Equal(got.Grounds, tc.grounds) {
			t.Errorf("%s: grounds %v, want %v", tc.name, got.Grounds, tc.grounds)
		}
		if tc.reason != "" && !strings.Contains(strings.Join(got.Reasons, "; "), tc.reason) {
			t.Errorf("%s: reasons %v, want one saying %q", tc.name, got.Reasons, tc.reason)
		}
		if got.Eligible != (len(got.Reasons) == 0) {
			t.Errorf("%s: eligible %v with reasons %v", tc.name, got.Eligible, got.Reasons)
		}
	}
}

func TestFeverThreshold(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct {
		c    float64
		want bool
	}{{36.5, false}, {37.2, false}, {37.3, true}, {37.4, true}, {39.0, true}} {
		if got := p.IsFever(tc.c); got != tc.want {
			t.Errorf("IsFever(%v) = %v", tc.c, got)
		}
	}
	p.FeverC = 37.5
	if p.IsFever(37.4) || !p.IsFever(37.5) {
		t.Error("a policy of 37.5 must move the line")
	}
	for _, c := range []float64{29.9, 45.1, 36.55} {
		if CheckTemperature(c) == nil {
			t.Errorf("CheckTemperature(%v) passed", c)
		}
	}
	for _, c := range []float64{30, 36.6, 45} {
		if err := CheckTemperature(c); err != nil {
			t.Errorf("CheckTemperature(%v): %v", c, err)
		}
	}
}

func TestMissedCheckIns(t *testing.T) {
	p := DefaultPolicy() // by 12:00 and 20:00 CST
	began, last := day("2026-11-23"), day("2026-12-06")
	placed := at("2026-11-23 08:00")
	keys := func(ss []Slot) []string {
		out := []string{}
		for _, s := range ss {
			out = append(out, s.Key())
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ins  []string
		now  string
		want []string
	}{
		{"before the first hour nothing is missed", nil, "2026-11-23 11:59", []string{}},
		{"at 12:00 the first is missed", nil, "2026-11-23 12:00", []string{"2026-11-23#0"}},
		{"a morning check-in fills the first", []string{"2026-11-23 09:00"}, "2026-11-23 19:00", []string{}},
		{"one check-in does not fill the second", []string{"2026-11-23 09:00"}, "2026-11-23 20:00", []string{"2026-11-23#1"}},
		{"two late ones fill only the second", []string{"2026-11-23 13:00", "2026-11-23 14:00"}, "2026-11-23 21:00", []string{"2026-11-23#0"}},
		{"both in", []string{"2026-11-23 09:00", "2026-11-23 19:59"}, "2026-11-24 11:00", []string{}},
		{"next day counts apart", []string{"2026-11-23 09:00", "2026-11-23 19:00"}, "2026-11-24 12:30", []string{"2026-11-24#0"}},
		{"a check-in after midnight belongs to the next day", []string{"2026-11-23 09:00", "2026-11-24 00:30"}, "2026-11-24 12:30", []string{"2026-11-23#1"}},
		{"nothing after the last day", nil, "2026-12-10 23:00", nil},
	} {
		var ins []time.Time
		for _, s := range tc.ins {
			ins = append(ins, at(s))
		}
		got := keys(p.MissedCheckIns(began, last, placed, ins, at(tc.now)))
		if tc.want == nil {
			if len(got) != 14*2 {
				t.Errorf("%s: %d missed, want 28 (every slot of 14 days)", tc.name, len(got))
			}
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Placed at 15:00: the 12:00 slot of the first day was never due.
	got := keys(p.MissedCheckIns(began, last, at("2026-11-23 15:00"), nil, at("2026-11-23 21:00")))
	if !slices.Equal(got, []string{"2026-11-23#1"}) {
		t.Errorf("placed at 15:00: %v", got)
	}
	// The configured hour moves the deadline.
	p.CheckInHours = []int{10, 18}
	got = keys(p.MissedCheckIns(began, last, placed, nil, at("2026-11-23 10:00")))
	if !slices.Equal(got, []string{"2026-11-23#0"}) {
		t.Errorf("hours 10 and 18 at 10:00: %v", got)
	}
}

func TestReleaseDay(t *testing.T) {
	p := DefaultPolicy()
	start := day("2026-11-23")
	last := LastDay(start, p.PeriodDays)
	if last.Format(time.DateOnly) != "2026-12-06" {
		t.Fatalf("last day of 14 from 11-23: %s", last.Format(time.DateOnly))
	}
	for _, tc := range []struct {
		now  string
		open int
		want bool
	}{
		{"2026-12-05 23:59", 0, false},
		{"2026-12-06 19:59", 0, false},
		{"2026-12-06 20:00", 0, true},
		{"2026-12-06 20:00", 1, false},
		{"2026-12-08 09:00", 0, true},
	} {
		if got := p.Releasable(last, tc.open, at(tc.now)); got != tc.want {
			t.Errorf("Releasable at %s with %d open: %v", tc.now, tc.open, got)
		}
	}
}

func TestContactMissed(t *testing.T) {
	p := DefaultPolicy()
	y := at("2026-11-22 10:00")
	if p.ContactMissed(nil, at("2026-11-23 17:59")) {
		t.Error("missed before the hour")
	}
	if !p.ContactMissed(nil, at("2026-11-23 18:00")) || !p.ContactMissed(&y, at("2026-11-23 18:00")) {
		t.Error("not missed at the hour")
	}
	today := at("2026-11-23 08:00")
	if p.ContactMissed(&today, at("2026-11-23 23:00")) {
		t.Error("missed although contacted today")
	}
}
