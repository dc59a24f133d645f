package grid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid/care"
)

// Home isolation, health monitoring and central isolation (DOMAIN.md, "Isolation,
// supplies, the vulnerable"). A spell is placed by a grid worker or command staff
// for a person in their jurisdiction, checked twice a day, and released on its last
// day by the sweeper (sweep.go) when no alert about it is open. The rules are in
// grid/care; this file stores them.

// Isolation kinds.
const (
	HomeIsolation    = "home_isolation"
	HealthMonitoring = "health_monitoring"
	CentralIsolation = "central_isolation"
)

// IsolationReasons are why a person is isolated or monitored.
var IsolationReasons = []string{"returnee", "close_contact", "secondary_contact"}

// CareWriters are the roles that place spells, record check-ins and contacts, and
// handle alerts and deliveries: the grid workers who do the work, command staff and
// admin.
func CareWriters() []Role { return []Role{Admin, Commander, GridWorker} }

// CommandWriters are the roles that run sites, transfers and care assignments.
func CommandWriters() []Role { return []Role{Admin, Commander} }

func requireRoleIn(u User, roles []Role) error {
	if !slices.Contains(roles, u.Role) {
		return Errorf(Forbidden, "", "role %s may not do this", u.Role)
	}
	return nil
}

// Isolation is one spell of home isolation, health monitoring or central isolation.
type Isolation struct {
	ID            int64
	PersonID      int64
	HouseholdID   int64
	AreaID        int64
	Kind          string
	Reason        string
	StartDate     time.Time // day 1 of the period
	PeriodDays    int
	LastDay       time.Time // StartDate + PeriodDays - 1
	BeganOn       time.Time // the day this spell began
	Status        string    // active, released or transferred
	EndedOn       *time.Time
	SiteID        int64
	PolicyVersion int
	Eligibility   *care.Eligibility // home isolation only
	CreatedAt     time.Time
	ReleasedAt    *time.Time
	ReleaseNote   string
	// Person and household, masked for the reader.
	PersonName string
	Phone      string
	Address    string
	Location   orb.Point
	// Today's state, in the care policy's local day.
	CheckInsToday   int
	LastCheckInAt   *time.Time
	LastTemperature *float64
	NextDue         *time.Time // the hour by which the next check-in of today is due; nil when none left
	OpenAlerts      int
}

// IsolationInput places a person under home isolation or health monitoring.
type IsolationInput struct {
	PersonID   int64
	Kind       string
	Reason     string
	StartDate  *time.Time // day 1; nil: today
	PeriodDays int        // 0: the policy's
	Conditions care.Conditions
}

// personRef is what the care writes need of a person, read under a row lock.
type personRef struct {
	ID, HouseholdID, AreaID int64
	Birth                   *time.Time
	Vulnerable              bool
	Location                orb.Point
}

// lockPerson reads and locks person id when u may see it; NotFound otherwise.
func lockPerson(ctx context.Context, tx pgx.Tx, u User, id int64) (personRef, error) {
	var p personRef
	err := tx.QueryRow(ctx, `
		SELECT p.id, p.household_id, COALESCE(h.area_id, 0), p.birth_date, ST_X(h.geom), ST_Y(h.geom), p.vulnerability <> '{}'
		FROM persons p JOIN households h ON h.id = p.household_id
		WHERE p.id = $1 AND ($2 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[]))
		FOR UPDATE OF p`, id, seesAll(u), userAreas(u)).
		Scan(&p.ID, &p.HouseholdID, &p.AreaID, &p.Birth, &p.Location[0], &p.Location[1], &p.Vulnerable)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, Errorf(NotFound, "person_id", "person %d not found", id)
	}
	if err != nil {
		return p, dbError("load person", err)
	}
	return p, nil
}

func pointBound(p orb.Point) *orb.Bound { b := p.Bound(); return &b }

// CheckEligibility answers whether person id may isolate at home under the current
// policy, starting on start (nil: today at now). The answer shows the person's age,
// so the read is audited. NotFound outside the jurisdiction; Forbidden outside
// CareWriters (the roles that place spells, all of which see birth dates).
func (s *Store) CheckEligibility(ctx context.Context, c Caller, id int64, start *time.Time, cond care.Conditions, now time.Time) (care.Eligibility, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return care.Eligibility{}, err
	}
	var out care.Eligibility
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		p, err := lockPerson(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		day := pol.Policy.Day(now)
		if start != nil {
			day = *start
		}
		out = pol.Policy.HomeIsolationEligibility(p.Birth, day, cond)
		if out.Age == nil {
			return nil
		}
		// The age is read from the birth date: a read of personal data, logged.
		return appendAudit(ctx, tx, c, AuditReadPerson, "person", p.ID, map[string]any{"person_ids": []int64{p.ID}, "fields": []string{"birth_date"}})
	})
	return out, err
}

// PlaceIsolation puts a person under home isolation or health monitoring at now.
// Errors: Forbidden for roles outside CareWriters; NotFound for a person outside the
// jurisdiction; Invalid naming the field for a bad kind, reason, period or start
// date, and field "eligibility" with the reasons when home isolation is not allowed;
// Conflict when a spell is already under way.
func (s *Store) PlaceIsolation(ctx context.Context, c Caller, in IsolationInput, now time.Time) (Isolation, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return Isolation{}, err
	}
	if in.Kind != HomeIsolation && in.Kind != HealthMonitoring {
		return Isolation{}, Errorf(Invalid, "kind", "%q is not one of home_isolation, health_monitoring (central isolation comes by transfer)", in.Kind)
	}
	if !slices.Contains(IsolationReasons, in.Reason) {
		return Isolation{}, Errorf(Invalid, "reason", "%q is not one of %s", in.Reason, strings.Join(IsolationReasons, ", "))
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		today := pol.Policy.Day(now)
		period := in.PeriodDays
		if period == 0 {
			period = pol.Policy.PeriodDays
		}
		if period < 1 || period > 60 {
			return Errorf(Invalid, "period_days", "must be between 1 and 60")
		}
		start := today
		if in.StartDate != nil {
			start = *in.StartDate
		}
		if start.After(today) {
			return Errorf(Invalid, "start_date", "is in the future")
		}
		if care.LastDay(start, period).Before(today) {
			return Errorf(Invalid, "start_date", "the period of %d days from %s is over", period, start.Format(time.DateOnly))
		}
		p, err := lockPerson(ctx, tx, c.User, in.PersonID)
		if err != nil {
			return err
		}
		var busy bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM isolations WHERE person_id = $1 AND status = 'active')`, p.ID).Scan(&busy); err != nil {
			return dbError("check spells", err)
		}
		if busy {
			return Errorf(Conflict, "person_id", "person %d is already under isolation or monitoring", p.ID)
		}
		elig := json.RawMessage(`{}`)
		if in.Kind == HomeIsolation {
			e := pol.Policy.HomeIsolationEligibility(p.Birth, start, in.Conditions)
			if !e.Eligible {
				return Errorf(Invalid, "eligibility", "home isolation not allowed: %s", strings.Join(e.Reasons, "; "))
			}
			elig, _ = json.Marshal(e)
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO isolations (person_id, household_id, kind, reason, start_date, period_days, began_on, eligibility, policy_version, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10::bigint, 0), $11) RETURNING id`,
			p.ID, p.HouseholdID, in.Kind, in.Reason, start, period, today, string(elig), pol.Version, c.User.ID, now).Scan(&id)
		if err != nil {
			return dbError("insert isolation", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE persons SET status = $2, version = version + 1, updated_at = now() WHERE id = $1`, p.ID, in.Kind); err != nil {
			return dbError("update person status", err)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "isolation", EntityID: id, AreaID: p.AreaID,
			BBox: pointBound(p.Location), Payload: map[string]any{"kind": in.Kind, "status": "active"}})
		return err
	})
	if err != nil {
		return Isolation{}, err
	}
	return s.GetIsolation(ctx, c, id, now)
}

// IsolationFilter selects spells; zero values select every active spell.
type IsolationFilter struct {
	Status string // active (default), released, transferred or all
	Kind   string // "" for every kind
	AreaID int64  // 0: the whole jurisdiction
}

const isolationSelect = `
	SELECT i.id, i.person_id, i.household_id, COALESCE(h.area_id, 0), i.kind, i.reason, i.start_date, i.period_days,
	       i.began_on, i.status, i.ended_on, COALESCE(i.site_id, 0), i.policy_version, i.eligibility::text, i.created_at,
	       i.released_at, i.release_note, p.name, p.phone, h.address, ST_X(h.geom), ST_Y(h.geom),
	       (SELECT count(*) FROM checkins k WHERE k.isolation_id = i.id AND k.at >= $1 AND k.at < $2),
	       lc.at, lc.temperature::float8,
	       (SELECT count(*) FROM alerts a WHERE a.isolation_id = i.id AND a.status <> 'closed')
	FROM isolations i
	JOIN persons p ON p.id = i.person_id
	JOIN households h ON h.id = i.household_id
	LEFT JOIN LATERAL (SELECT at, temperature FROM checkins k WHERE k.isolation_id = i.id ORDER BY at DESC LIMIT 1) lc ON true`

// isolationWhere starts the filter for isolationSelect: its first two arguments are
// the bounds of pol's day at now, between which the check-ins of today are counted.
func isolationWhere(pol care.Policy, now time.Time) *where {
	today := pol.Day(now)
	return &where{args: []any{pol.At(today, 0), pol.At(today, 24)}}
}

// queryIsolations runs isolationSelect with w (started by isolationWhere) and
// completes and masks the rows for u.
func (s *Store) queryIsolations(ctx context.Context, tx pgx.Tx, u User, pol care.Policy, now time.Time, sql string, args []any) ([]Isolation, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbError("list isolations", err)
	}
	defer rows.Close()
	mask := PersonPolicy(u, true)
	today := pol.Day(now)
	out := []Isolation{}
	for rows.Next() {
		var x Isolation
		var elig string
		if err := rows.Scan(&x.ID, &x.PersonID, &x.HouseholdID, &x.AreaID, &x.Kind, &x.Reason, &x.StartDate, &x.PeriodDays,
			&x.BeganOn, &x.Status, &x.EndedOn, &x.SiteID, &x.PolicyVersion, &elig, &x.CreatedAt, &x.ReleasedAt, &x.ReleaseNote,
			&x.PersonName, &x.Phone, &x.Address, &x.Location[0], &x.Location[1], &x.CheckInsToday, &x.LastCheckInAt,
			&x.LastTemperature, &x.OpenAlerts); err != nil {
			return nil, dbError("scan isolation", err)
		}
		x.LastDay = care.LastDay(x.StartDate, x.PeriodDays)
		if elig != "{}" {
			var e care.Eligibility
			if json.Unmarshal([]byte(elig), &e) == nil {
				x.Eligibility = &e
			}
		}
		masked := mask.Apply(Person{Name: x.PersonName, Phone: x.Phone})
		x.PersonName, x.Phone = masked.Name, masked.Phone
		if err := s.placeFor(u, &x.Address, &x.Location); err != nil {
			return nil, fmt.Errorf("isolation %d: %w", x.ID, err)
		}
		if x.Status == "active" && x.CheckInsToday < len(pol.CheckInHours) && !today.After(x.LastDay) {
			due := pol.At(today, pol.CheckInHours[x.CheckInsToday])
			x.NextDue = &due
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list isolations", err)
	}
	return out, nil
}

// nameAndPhoneShown names which of name and phone (all a care list shows of a
// person) p shows in clear, for the audit row: a sampler sees the name only.
func nameAndPhoneShown(p MaskPolicy) []string {
	out := []string{}
	if p.Name {
		out = append(out, "name")
	}
	if p.Phone {
		out = append(out, "phone")
	}
	return out
}

// auditIsolationRead logs the read of the persons of xs when u sees them in clear.
func auditIsolationRead(ctx context.Context, tx pgx.Tx, c Caller, entityID int64, xs []Isolation) error {
	fields := nameAndPhoneShown(PersonPolicy(c.User, true))
	if len(fields) == 0 || len(xs) == 0 {
		return nil
	}
	ids := make([]int64, len(xs))
	for i, x := range xs {
		ids[i] = x.PersonID
	}
	return appendAudit(ctx, tx, c, AuditReadPerson, "isolation", entityID, map[string]any{"person_ids": ids, "fields": fields})
}

// ListIsolations lists the spells inside c's jurisdiction matching f, newest first,
// with today's check-ins; persons are masked per PersonPolicy and their read audited.
func (s *Store) ListIsolations(ctx context.Context, c Caller, f IsolationFilter, now time.Time) ([]Isolation, error) {
	st := f.Status
	if st == "" {
		st = "active"
	}
	if !slices.Contains([]string{"active", "released", "transferred", "all"}, st) {
		return nil, Errorf(Invalid, "status", "%q is not one of active, released, transferred, all", st)
	}
	if f.Kind != "" && !slices.Contains([]string{HomeIsolation, HealthMonitoring, CentralIsolation}, f.Kind) {
		return nil, Errorf(Invalid, "kind", "%q is not one of home_isolation, health_monitoring, central_isolation", f.Kind)
	}
	var out []Isolation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		w := isolationWhere(pol.Policy, now)
		w.visibleAreaCol(c.User, "h.area_id")
		if st != "all" {
			w.add("i.status = ?", st)
		}
		if f.Kind != "" {
			w.add("i.kind = ?", f.Kind)
		}
		if f.AreaID != 0 {
			w.underArea("h.area_id", f.AreaID)
		}
		out, err = s.queryIsolations(ctx, tx, c.User, pol.Policy, now, isolationSelect+w.sql()+fmt.Sprintf(" ORDER BY i.id DESC LIMIT %d", MaxLimit), w.args)
		if err != nil {
			return err
		}
		return auditIsolationRead(ctx, tx, c, 0, out)
	})
	return out, err
}

// GetIsolation reads one spell; NotFound outside c's jurisdiction.
func (s *Store) GetIsolation(ctx context.Context, c Caller, id int64, now time.Time) (Isolation, error) {
	var out Isolation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		w := isolationWhere(pol.Policy, now)
		w.add("i.id = ?", id)
		w.visibleAreaCol(c.User, "h.area_id")
		xs, err := s.queryIsolations(ctx, tx, c.User, pol.Policy, now, isolationSelect+w.sql(), w.args)
		if err != nil {
			return err
		}
		if len(xs) == 0 {
			return Errorf(NotFound, "", "isolation %d not found", id)
		}
		out = xs[0]
		return auditIsolationRead(ctx, tx, c, id, xs)
	})
	return out, err
}

// CheckIn is one temperature reading of a person under isolation or monitoring.
type CheckIn struct {
	ID           int64
	IsolationID  int64
	At           time.Time
	TemperatureC float64
	Source       string // worker or resident
	Symptoms     string
	RecordedBy   int64
	Fever        bool
	AlertID      int64 // the fever alert raised by this reading; 0 for none
}

// CheckInInput is a reading as recorded.
type CheckInInput struct {
	TemperatureC float64
	Source       string     // "worker" (measured by the grid worker) or "resident" (reported)
	At           *time.Time // when measured; nil: now
	Symptoms     string
}

// RecordCheckIn records a reading for spell id at now, and raises a fever alert when
// it reaches the policy's fever line, in one transaction. Errors: Forbidden outside
// CareWriters; Invalid naming temperature_c (outside 30–45 °C), source, at (in the
// future or before the spell) or symptoms; NotFound outside the jurisdiction;
// Conflict when the spell is no longer under way.
func (s *Store) RecordCheckIn(ctx context.Context, c Caller, id int64, in CheckInInput, now time.Time) (CheckIn, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return CheckIn{}, err
	}
	if err := care.CheckTemperature(in.TemperatureC); err != nil {
		return CheckIn{}, careError(err)
	}
	if in.Source != "worker" && in.Source != "resident" {
		return CheckIn{}, Errorf(Invalid, "source", "%q is not one of worker, resident", in.Source)
	}
	if utf8.RuneCountInString(in.Symptoms) > maxReasonLen {
		return CheckIn{}, Errorf(Invalid, "symptoms", "is longer than %d characters", maxReasonLen)
	}
	at := now
	if in.At != nil {
		at = *in.At
	}
	if at.After(now.Add(5 * time.Minute)) {
		return CheckIn{}, Errorf(Invalid, "at", "is in the future")
	}
	out := CheckIn{TemperatureC: in.TemperatureC, Source: in.Source, Symptoms: strings.TrimSpace(in.Symptoms), At: at, IsolationID: id, RecordedBy: c.User.ID}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		var personID, areaID int64
		var status string
		var began time.Time
		var loc orb.Point
		err = tx.QueryRow(ctx, `
			SELECT i.person_id, COALESCE(h.area_id, 0), i.status, i.began_on, ST_X(h.geom), ST_Y(h.geom)
			FROM isolations i JOIN households h ON h.id = i.household_id
			WHERE i.id = $1 AND ($2 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[]))
			FOR UPDATE OF i`, id, seesAll(c.User), userAreas(c.User)).Scan(&personID, &areaID, &status, &began, &loc[0], &loc[1])
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(NotFound, "", "isolation %d not found", id)
		}
		if err != nil {
			return dbError("load isolation", err)
		}
		if status != "active" {
			return Errorf(Conflict, "", "isolation %d is %s: no more check-ins", id, status)
		}
		if pol.Policy.Day(at).Before(began) {
			return Errorf(Invalid, "at", "is before the spell began on %s", began.Format(time.DateOnly))
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO checkins (isolation_id, at, temperature, source, symptoms, recorded_by)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6::bigint, 0)) RETURNING id`,
			id, at, in.TemperatureC, in.Source, out.Symptoms, c.User.ID).Scan(&out.ID); err != nil {
			return dbError("insert check-in", err)
		}
		out.Fever = pol.Policy.IsFever(in.TemperatureC)
		if out.Fever {
			a := AlertInput{Kind: AlertFever, Key: fmt.Sprintf("fever:checkin:%d", out.ID), AreaID: areaID, PersonID: personID,
				IsolationID: id, Location: loc, RaisedAt: now,
				Message: fmt.Sprintf("fever %.1f °C at a check-in (line %.1f °C)", in.TemperatureC, pol.Policy.FeverC),
				Detail:  map[string]any{"temperature_c": in.TemperatureC, "checkin_id": out.ID}}
			if out.AlertID, _, err = raiseAlert(ctx, tx, a); err != nil {
				return err
			}
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "checkin", Entity: "isolation", EntityID: id, AreaID: areaID,
			BBox: pointBound(loc), Payload: map[string]any{"checkin_id": out.ID, "fever": out.Fever}})
		return err
	})
	if err != nil {
		return CheckIn{}, err
	}
	return out, nil
}

// ListCheckIns lists the readings of spell id, oldest first; NotFound outside the
// jurisdiction.
func (s *Store) ListCheckIns(ctx context.Context, c Caller, id int64) ([]CheckIn, error) {
	var out []CheckIn
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM isolations i JOIN households h ON h.id = i.household_id
			WHERE i.id = $1 AND ($2 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[])))`,
			id, seesAll(c.User), userAreas(c.User)).Scan(&ok); err != nil {
			return dbError("load isolation", err)
		}
		if !ok {
			return Errorf(NotFound, "", "isolation %d not found", id)
		}
		rows, err := tx.Query(ctx, `SELECT id, at, temperature::float8, source, symptoms, COALESCE(recorded_by, 0)
			FROM checkins WHERE isolation_id = $1 ORDER BY at, id`, id)
		if err != nil {
			return dbError("list check-ins", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckIn, error) {
			k := CheckIn{IsolationID: id}
			err := r.Scan(&k.ID, &k.At, &k.TemperatureC, &k.Source, &k.Symptoms, &k.RecordedBy)
			k.Fever = pol.Policy.IsFever(k.TemperatureC)
			return k, err
		})
		if err != nil {
			return dbError("list check-ins", err)
		}
		return nil
	})
	return out, err
}
