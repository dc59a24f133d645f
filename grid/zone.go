package grid

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gridtrace/gridtrace/geo"
)

// ZoneKind is what a zone imposes (DOMAIN.md, "Zones and their rules").
type ZoneKind string

// The zone kinds, strongest first.
const (
	SealedZone     ZoneKind = "sealed"     // 封控区: residents do not leave home
	ControlZone    ZoneKind = "control"    // 管控区: people do not leave the zone
	PrecautionZone ZoneKind = "precaution" // 防范区: social distancing
)

// ZoneKinds lists the kinds from the strongest to the weakest.
func ZoneKinds() []ZoneKind { return []ZoneKind{SealedZone, ControlZone, PrecautionZone} }

// ParseZoneKind checks a zone kind; the error names field "kind".
func ParseZoneKind(s string) (ZoneKind, error) {
	if k := ZoneKind(s); slices.Contains(ZoneKinds(), k) {
		return k, nil
	}
	return "", Errorf(Invalid, "kind", "%q is not one of sealed, control, precaution", s)
}

// rank orders kinds: 3 sealed, 2 control, 1 precaution.
func (k ZoneKind) rank() int { return 3 - slices.Index(ZoneKinds(), k) }

// weaker is the next weaker kind, "" below precaution.
func (k ZoneKind) weaker() ZoneKind {
	switch k {
	case SealedZone:
		return ControlZone
	case ControlZone:
		return PrecautionZone
	}
	return ""
}

// ZoneStatus is where a zone is in its lifecycle: proposed → active → (downgraded)
// → lifted, or proposed → rejected. Lifted and rejected zones are closed: kept with
// their history, never changed again.
type ZoneStatus string

// The zone statuses.
const (
	ZoneProposed   ZoneStatus = "proposed"
	ZoneActive     ZoneStatus = "active"
	ZoneDowngraded ZoneStatus = "downgraded"
	ZoneLifted     ZoneStatus = "lifted"
	ZoneRejected   ZoneStatus = "rejected"
)

// ZoneStatuses lists every status.
func ZoneStatuses() []ZoneStatus {
	return []ZoneStatus{ZoneProposed, ZoneActive, ZoneDowngraded, ZoneLifted, ZoneRejected}
}

// ParseZoneStatus checks a status; the error names field.
func ParseZoneStatus(field, s string) (ZoneStatus, error) {
	if st := ZoneStatus(s); slices.Contains(ZoneStatuses(), st) {
		return st, nil
	}
	return "", Errorf(Invalid, field, "%q is not one of proposed, active, downgraded, lifted, rejected", s)
}

// enforced reports whether the zone's rules apply to the people inside.
func (s ZoneStatus) enforced() bool { return s == ZoneActive || s == ZoneDowngraded }

// Zone sources.
const (
	ZoneDrawn    = "drawn"    // drawn on the map by command staff
	ZoneComputed = "computed" // proposed by the server from cases
)

// Zone is a sealed, control or precaution zone.
type Zone struct {
	ID            int64
	Kind          ZoneKind
	Status        ZoneStatus
	Source        string // ZoneDrawn or ZoneComputed
	Geom          orb.MultiPolygon
	AreaID        int64 // the finest area containing the centroid; 0 for none
	PolicyVersion int   // the zone policy in force when it was drawn or computed
	CaseIDs       []int64
	Escalation    string // computed zones: epidemic_point, cluster or community_transmission
	Reason        string
	Version       int
	CreatedBy     int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ActivatedAt   *time.Time
	SteppedAt     *time.Time // when it last became active or was downgraded
	LiftedAt      *time.Time
	LiftedBy      int64
	// Lift is the lifting status of an active or downgraded zone under the current
	// policy; nil for the others.
	Lift *ZoneLiftState
	// Repaired says, in an answer to a write, what the server changed to make the
	// drawn geometry valid ("" when nothing).
	Repaired string
}

// ZoneLiftState is whether a zone may step down (be downgraded or lifted) under the
// lifting rules of a policy.
type ZoneLiftState struct {
	PolicyVersion int
	// LastCaseAt is the latest report time of a case inside the zone; nil for none.
	LastCaseAt *time.Time
	// DaysSinceLastCase counts local days (ZoneLifting.UTCOffsetMinutes) from the last
	// case's day to today; nil without a case inside.
	DaysSinceLastCase *int
	// EligibleOn is the local day (midnight, in the policy's offset) from which the
	// days without a case are met: the later of the last case's day and the day of
	// the zone's last step, plus DaysWithoutCase.
	EligibleOn time.Time
	DaysMet    bool // today is EligibleOn or later
	// NegativeRoundID and NegativeRoundAt name the newest closed sampling round that
	// covers the zone and came back negative (see negativeRounds); 0 and nil for none.
	NegativeRoundID int64
	NegativeRoundAt *time.Time
	// ConditionsMet: DaysMet, and a negative round when the policy requires one
	// (closed after the zone's last step and after the last case inside).
	ConditionsMet bool
	Waiting       []string // what the zone waits for, in words; empty when ConditionsMet
}

// ComputeZoneLift applies the lifting rules l (of policy version) at time now to a
// zone whose last step was at stepped and whose last case inside was reported at
// lastCase (nil: none), with no negative sampling round known.
func ComputeZoneLift(l ZoneLifting, version int, stepped time.Time, lastCase *time.Time, now time.Time) ZoneLiftState {
	return ComputeZoneLiftRound(l, version, stepped, lastCase, 0, nil, now)
}

// ComputeZoneLiftRound is ComputeZoneLift with the newest negative round covering the
// zone (round, closed at roundAt; nil for none): a required round counts when it
// closed after the zone's last step and after the last case inside.
func ComputeZoneLiftRound(l ZoneLifting, version int, stepped time.Time, lastCase *time.Time, round int64, roundAt *time.Time, now time.Time) ZoneLiftState {
	loc := time.FixedZone("policy", l.UTCOffsetMinutes*60)
	day := func(t time.Time) time.Time {
		t = t.In(loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	today := day(now)
	from := day(stepped)
	out := ZoneLiftState{PolicyVersion: version, LastCaseAt: lastCase, Waiting: []string{}}
	if lastCase != nil {
		lc := day(*lastCase)
		n := int(math.Round(today.Sub(lc).Hours() / 24))
		out.DaysSinceLastCase = &n
		if lc.After(from) {
			from = lc
		}
	}
	out.EligibleOn = from.AddDate(0, 0, l.DaysWithoutCase)
	out.DaysMet = !today.Before(out.EligibleOn)
	if !out.DaysMet {
		out.Waiting = append(out.Waiting, fmt.Sprintf("%d days without a new case inside: eligible on %s", l.DaysWithoutCase, out.EligibleOn.Format(time.DateOnly)))
	}
	if roundAt != nil && !roundAt.Before(stepped) && (lastCase == nil || roundAt.After(*lastCase)) {
		out.NegativeRoundID, out.NegativeRoundAt = round, roundAt
	}
	if l.RequireNegativeRound && out.NegativeRoundAt == nil {
		out.Waiting = append(out.Waiting, "waiting for a negative round: a closed sampling round covering the zone, after its last step and last case, with every swab negative and nobody inside missing")
	}
	out.ConditionsMet = len(out.Waiting) == 0
	return out
}

// ZoneWriters are the roles that may draw, propose and decide on zones: the command
// staff, and admin.
func ZoneWriters() []Role { return []Role{Admin, Commander} }

func canWriteZones(u User) error {
	if !slices.Contains(ZoneWriters(), u.Role) {
		return Errorf(Forbidden, "", "role %s may not change zones", u.Role)
	}
	return nil
}

// maxReasonLen bounds a reason: a sentence or two.
const maxReasonLen = 500

func checkReason(reason string, required bool) (string, error) {
	reason = strings.TrimSpace(reason)
	if required && reason == "" {
		return "", Errorf(Invalid, "reason", "is required: say why")
	}
	if utf8.RuneCountInString(reason) > maxReasonLen {
		return "", Errorf(Invalid, "reason", "is longer than %d characters", maxReasonLen)
	}
	return reason, nil
}

// ZoneDraft is a zone drawn on the map.
type ZoneDraft struct {
	Kind     string
	Geometry orb.Geometry // a Polygon or MultiPolygon in [lng, lat]
	Reason   string
	// Status is "" or active (the drawing is the decision), or proposed for a draft
	// another person is to confirm.
	Status string
}

// CreateZone stores a drawn zone. The geometry is validated (geo.ValidatePolygon)
// and repaired only where the repair cannot change what was drawn (see
// prepareZoneGeometry); it must lie inside c.User's jurisdiction. The zone, its
// first version and a change-feed row are written in one transaction. Errors:
// Invalid (field kind, geometry, reason or status), Forbidden (role, or geometry
// outside the jurisdiction).
func (s *Store) CreateZone(ctx context.Context, c Caller, d ZoneDraft) (Zone, error) {
	if err := canWriteZones(c.User); err != nil {
		return Zone{}, err
	}
	kind, err := ParseZoneKind(d.Kind)
	if err != nil {
		return Zone{}, err
	}
	status := ZoneActive
	if d.Status != "" {
		if status, err = ParseZoneStatus("status", d.Status); err != nil {
			return Zone{}, err
		}
		if status != ZoneActive && status != ZoneProposed {
			return Zone{}, Errorf(Invalid, "status", "a new zone is active or proposed")
		}
	}
	reason, err := checkReason(d.Reason, true)
	if err != nil {
		return Zone{}, err
	}
	prep, err := prepareZoneGeometry(d.Geometry)
	if err != nil {
		return Zone{}, err
	}
	var out Zone
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		geom, repaired, err := finishZoneGeometry(ctx, tx, prep)
		if err != nil {
			return err
		}
		if err := checkCovers(ctx, tx, c.User, geom, "geometry", "the polygon"); err != nil {
			return err
		}
		pol, err := currentZonePolicy(ctx, tx)
		if err != nil {
			return err
		}
		b, err := wkb.Marshal(geom)
		if err != nil {
			return fmt.Errorf("encode zone: %w", err)
		}
		var id int64
		err = tx.QueryRow(ctx, `
			INSERT INTO zones (kind, status, source, geom, area_id, policy_version, reason, created_by,
			                   activated_at, stepped_at)
			SELECT $1, $2, 'drawn', g, (`+finestAreaOf("g", "$7")+`), $3, $4, NULLIF($5::bigint, 0),
			       CASE WHEN $2 = 'active' THEN now() END, CASE WHEN $2 = 'active' THEN now() END
			FROM (SELECT ST_GeomFromWKB($6, 4326) AS g) x
			RETURNING id`, string(kind), string(status), pol.Version, reason, c.User.ID, b, levelNames()).Scan(&id)
		if err != nil {
			return dbError("insert zone", err)
		}
		if out, err = recordZoneVersion(ctx, tx, c, id, "create", reason, repaired, false); err != nil {
			return err
		}
		out.Repaired = repaired
		return nil
	})
	return out, err
}

// finestAreaOf is a scalar subquery for the finest area containing the centroid of
// the geometry expression g; the parameter levels must hold levelNames().
func finestAreaOf(g, levels string) string {
	return `SELECT a.id FROM areas a WHERE ST_Intersects(a.geom, ST_Centroid(` + g + `))
		ORDER BY array_position(` + levels + `::text[], a.level) DESC, a.id LIMIT 1`
}

// ZoneEdit changes a zone. Nil fields are kept.
type ZoneEdit struct {
	// Version is the version the editor last read; a stale one is a Conflict naming
	// the current version (two staff editing one zone never lose an edit).
	Version  int
	Kind     *string
	Geometry orb.Geometry // nil keeps the geometry
	Status   *string      // a decision, as with DecideZone
	Reason   string       // required: why
	Force    bool         // with Status lifted or downgraded: see DecideZone
}

// Zone decisions: what a person decides about a zone.
const (
	ZoneAccept    = "accept"    // proposed → active
	ZoneReject    = "reject"    // proposed → rejected
	ZoneDowngrade = "downgrade" // active or downgraded → one kind weaker, downgraded
	ZoneLift      = "lift"      // active or downgraded → lifted
)

// ZoneDecision is a person's decision about a zone.
type ZoneDecision struct {
	Action  string // accept, reject, downgrade or lift
	Version int    // the version decided on; 0 decides on the current one
	Reason  string // required, except for accept
	// Force downgrades or lifts although the lifting conditions do not hold (the
	// commander takes responsibility; Reason then says why), recorded as forced.
	Force bool
}

// UpdateZone edits zone id: its geometry, its kind, its reason, and optionally a
// decision (Status). The kind of an enforced zone may be made stronger here but
// weaker only by a downgrade, so the lifting rules cannot be bypassed. Every edit is
// a new version (zone_versions) with a change-feed row, in one transaction. Errors:
// Invalid, NotFound (unknown or outside the jurisdiction), Forbidden (role, or zone
// or new geometry outside the jurisdiction), Conflict (stale version, naming the
// current one; a closed zone; a status change not allowed or whose conditions do
// not hold).
func (s *Store) UpdateZone(ctx context.Context, c Caller, id int64, e ZoneEdit) (Zone, error) {
	if err := canWriteZones(c.User); err != nil {
		return Zone{}, err
	}
	if e.Version < 1 {
		return Zone{}, Errorf(Invalid, "version", "is required: the version you last read")
	}
	reason, err := checkReason(e.Reason, true)
	if err != nil {
		return Zone{}, err
	}
	var kind ZoneKind
	if e.Kind != nil {
		if kind, err = ParseZoneKind(*e.Kind); err != nil {
			return Zone{}, err
		}
	}
	var status ZoneStatus
	if e.Status != nil {
		if status, err = ParseZoneStatus("status", *e.Status); err != nil {
			return Zone{}, err
		}
	}
	var prep *zoneGeometry
	if e.Geometry != nil {
		p, err := prepareZoneGeometry(e.Geometry)
		if err != nil {
			return Zone{}, err
		}
		prep = &p
	}
	var out Zone
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		z, err := lockZone(ctx, tx, c.User, id, e.Version)
		if err != nil {
			return err
		}
		if err := checkCovers(ctx, tx, c.User, z.Geom, "id", fmt.Sprintf("zone %d", id)); err != nil {
			return err
		}
		action, repaired := "edit", ""
		if prep != nil {
			geom, rep, err := finishZoneGeometry(ctx, tx, *prep)
			if err != nil {
				return err
			}
			if err := checkCovers(ctx, tx, c.User, geom, "geometry", "the polygon"); err != nil {
				return err
			}
			b, err := wkb.Marshal(geom)
			if err != nil {
				return fmt.Errorf("encode zone: %w", err)
			}
			repaired = rep
			if _, err := tx.Exec(ctx, `UPDATE zones SET geom = x.g, area_id = (`+finestAreaOf("x.g", "$3")+`)
				FROM (SELECT ST_GeomFromWKB($1, 4326) AS g) x WHERE id = $2`, b, id, levelNames()); err != nil {
				return dbError("update zone geometry", err)
			}
		}
		if kind != "" && kind != z.Kind {
			if z.Status.enforced() && kind.rank() < z.Kind.rank() {
				return Errorf(Conflict, "kind", "an %s zone is made weaker by a downgrade, which checks the lifting conditions", z.Status)
			}
			if _, err := tx.Exec(ctx, `UPDATE zones SET kind = $2 WHERE id = $1`, id, string(kind)); err != nil {
				return dbError("update zone kind", err)
			}
			z.Kind = kind
		}
		forced := false
		if status != "" && status != z.Status {
			d := ZoneDecision{Reason: reason, Force: e.Force}
			switch status {
			case ZoneActive:
				d.Action = ZoneAccept
			case ZoneRejected:
				d.Action = ZoneReject
			case ZoneDowngraded:
				d.Action = ZoneDowngrade
			case ZoneLifted:
				d.Action = ZoneLift
			default:
				return Errorf(Conflict, "status", "zone %d cannot go from %s back to %s", id, z.Status, status)
			}
			if forced, err = applyDecision(ctx, tx, c, z, d); err != nil {
				return err
			}
			action = d.Action
		}
		if _, err := tx.Exec(ctx, `UPDATE zones SET reason = $2, version = version + 1, updated_at = now() WHERE id = $1`, id, reason); err != nil {
			return dbError("update zone", err)
		}
		if out, err = recordZoneVersion(ctx, tx, c, id, action, reason, repaired, forced); err != nil {
			return err
		}
		out.Repaired = repaired
		return nil
	})
	return out, err
}

// DecideZone records a person's decision about zone id: accept or reject a
// proposed zone, downgrade (one kind weaker: sealed → control → precaution) or lift
// an enforced one. Downgrading and lifting need the lifting conditions of the
// current policy (ZoneLift.ConditionsMet) unless Force, with a reason; a forced step
// is recorded as such. Errors: Invalid, NotFound, Forbidden (role or jurisdiction),
// Conflict (stale version; a decision the zone's status does not allow; conditions
// not met, naming what the zone waits for).
func (s *Store) DecideZone(ctx context.Context, c Caller, id int64, d ZoneDecision) (Zone, error) {
	if err := canWriteZones(c.User); err != nil {
		return Zone{}, err
	}
	if !slices.Contains([]string{ZoneAccept, ZoneReject, ZoneDowngrade, ZoneLift}, d.Action) {
		return Zone{}, Errorf(Invalid, "action", "%q is not accept, reject, downgrade or lift", d.Action)
	}
	if d.Version < 0 {
		return Zone{}, Errorf(Invalid, "version", "must be a version number")
	}
	reason, err := checkReason(d.Reason, d.Action != ZoneAccept)
	if err != nil {
		return Zone{}, err
	}
	if reason == "" {
		reason = "accepted"
	}
	d.Reason = reason
	var out Zone
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		z, err := lockZone(ctx, tx, c.User, id, d.Version)
		if err != nil {
			return err
		}
		if err := checkCovers(ctx, tx, c.User, z.Geom, "id", fmt.Sprintf("zone %d", id)); err != nil {
			return err
		}
		forced, err := applyDecision(ctx, tx, c, z, d)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE zones SET version = version + 1, updated_at = now() WHERE id = $1`, id); err != nil {
			return dbError("update zone", err)
		}
		out, err = recordZoneVersion(ctx, tx, c, id, d.Action, reason, "", forced)
		return err
	})
	return out, err
}

// applyDecision updates the status (and for a downgrade the kind) of the locked
// zone z, checking the lifecycle and, for downgrade and lift, the lifting
// conditions. It reports whether the step was forced.
func applyDecision(ctx context.Context, tx pgx.Tx, c Caller, z Zone, d ZoneDecision) (bool, error) {
	need := map[string][]ZoneStatus{
		ZoneAccept: {ZoneProposed}, ZoneReject: {ZoneProposed},
		ZoneDowngrade: {ZoneActive, ZoneDowngraded}, ZoneLift: {ZoneActive, ZoneDowngraded},
	}[d.Action]
	if !slices.Contains(need, z.Status) {
		return false, Errorf(Conflict, "status", "zone %d is %s: %s needs a zone that is %s", z.ID, z.Status, d.Action, joinStatuses(need))
	}
	switch d.Action {
	case ZoneAccept:
		_, err := tx.Exec(ctx, `UPDATE zones SET status = 'active', activated_at = now(), stepped_at = now() WHERE id = $1`, z.ID)
		return false, orNil("accept zone", err)
	case ZoneReject:
		_, err := tx.Exec(ctx, `UPDATE zones SET status = 'rejected' WHERE id = $1`, z.ID)
		return false, orNil("reject zone", err)
	}
	if d.Action == ZoneDowngrade && z.Kind.weaker() == "" {
		return false, Errorf(Conflict, "status", "zone %d is a precaution zone, the weakest kind: lift it instead", z.ID)
	}
	forced := false
	if z.Lift == nil || !z.Lift.ConditionsMet {
		if !d.Force {
			waiting := "the lifting conditions do not hold"
			if z.Lift != nil {
				waiting = strings.Join(z.Lift.Waiting, "; ")
			}
			return false, Errorf(Conflict, "status", "zone %d may not be %s yet: %s. Send force with a reason to decide anyway", z.ID, pastTense(d.Action), waiting)
		}
		forced = true
	}
	var err error
	if d.Action == ZoneDowngrade {
		_, err = tx.Exec(ctx, `UPDATE zones SET status = 'downgraded', kind = $2, stepped_at = now() WHERE id = $1`, z.ID, string(z.Kind.weaker()))
	} else {
		_, err = tx.Exec(ctx, `UPDATE zones SET status = 'lifted', lifted_at = now(), lifted_by = NULLIF($2::bigint, 0) WHERE id = $1`, z.ID, c.User.ID)
	}
	return forced, orNil(d.Action+" zone", err)
}

// orNil is dbError for a non-nil err.
func orNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return dbError(op, err)
}

func pastTense(action string) string {
	if action == ZoneDowngrade {
		return "downgraded"
	}
	return "lifted"
}

func joinStatuses(ss []ZoneStatus) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, " or ")
}

// DeleteZone closes zone id without losing its history: a proposed zone is
// rejected, an enforced one lifted (under the lifting conditions unless force, as
// DecideZone). reason defaults to "deleted on the map" unless forced. Closed zones
// are a Conflict.
func (s *Store) DeleteZone(ctx context.Context, c Caller, id int64, version int, reason string, force bool) (Zone, error) {
	if strings.TrimSpace(reason) == "" && !force {
		reason = "deleted on the map"
	}
	z, err := s.GetZone(ctx, c.User, id)
	if err != nil {
		return Zone{}, err
	}
	action := ZoneLift
	if z.Status == ZoneProposed {
		action = ZoneReject
	}
	return s.DecideZone(ctx, c, id, ZoneDecision{Action: action, Version: version, Reason: reason, Force: force})
}

// lockZone locks zone id, visible to u, and checks the version the writer saw (0:
// any). Closed zones are a Conflict.
func lockZone(ctx context.Context, tx pgx.Tx, u User, id int64, version int) (Zone, error) {
	var w where
	w.add("z.id = ?", id)
	w.visibleZone(u)
	rows, err := tx.Query(ctx, `SELECT z.id FROM zones z`+w.sql()+` FOR UPDATE OF z`, w.args...)
	if err != nil {
		return Zone{}, dbError("lock zone", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return Zone{}, dbError("lock zone", err)
	}
	if len(found) == 0 {
		return Zone{}, Errorf(NotFound, "id", "zone %d not found", id)
	}
	z, err := getZone(ctx, tx, User{Role: Admin}, id)
	if err != nil {
		return Zone{}, err
	}
	if version != 0 && version != z.Version {
		return Zone{}, Errorf(Conflict, "version", "zone %d was changed since version %d; the current version is %d: reload and retry", id, version, z.Version)
	}
	if z.Status == ZoneLifted || z.Status == ZoneRejected {
		return Zone{}, Errorf(Conflict, "status", "zone %d is %s and can no longer change", id, z.Status)
	}
	return z, nil
}

// recordZoneVersion writes the zone's current row as a version in zone_versions and
// appends its change-feed row, then returns the zone as stored (with its lifting
// status).
func recordZoneVersion(ctx context.Context, tx pgx.Tx, c Caller, id int64, action, reason, repaired string, forced bool) (Zone, error) {
	_, err := tx.Exec(ctx, `
		INSERT INTO zone_versions (zone_id, version, action, kind, status, geom, changed_by, reason, repaired, forced)
		SELECT id, version, $2, kind, status, geom, NULLIF($3::bigint, 0), $4, $5, $6 FROM zones WHERE id = $1`,
		id, action, c.User.ID, reason, repaired, forced)
	if err != nil {
		return Zone{}, dbError("record zone version", err)
	}
	z, err := getZone(ctx, tx, User{Role: Admin}, id)
	if err != nil {
		return Zone{}, err
	}
	return z, appendZoneChange(ctx, tx, z, action)
}

// appendZoneChange appends the change-feed row of a zone write: entity "zone", the
// zone's area and bounding box, and what the map needs to restyle it.
func appendZoneChange(ctx context.Context, tx pgx.Tx, z Zone, action string) error {
	b := z.Geom.Bound()
	_, err := AppendChange(ctx, tx, ChangeInput{
		Kind: "upsert", Entity: "zone", EntityID: z.ID, AreaID: z.AreaID, BBox: &b,
		Payload: map[string]any{"kind": z.Kind, "status": z.Status, "version": z.Version, "action": action, "source": z.Source},
	})
	return err
}

// checkCovers refuses (Forbidden, on field) a geometry not covered by the union of
// u's areas; what names it in the message.
func checkCovers(ctx context.Context, tx pgx.Tx, u User, g orb.MultiPolygon, field, what string) error {
	if seesAll(u) {
		return nil
	}
	b, err := wkb.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode zone: %w", err)
	}
	var covered bool
	var outside float64
	err = tx.QueryRow(ctx, `
		SELECT COALESCE(ST_CoveredBy(x.g, j.g), false),
		       COALESCE(ST_Area(ST_Difference(x.g, j.g)) / NULLIF(ST_Area(x.g), 0), 1)
		FROM (SELECT ST_GeomFromWKB($1, 4326) AS g) x,
		     (SELECT ST_Union(geom) AS g FROM areas WHERE id = ANY($2::bigint[])) j`, b, userAreas(u)).Scan(&covered, &outside)
	if err != nil {
		return dbError("check jurisdiction", err)
	}
	if !covered {
		return Errorf(Forbidden, field, "%s is outside your jurisdiction: %.1f%% of its area lies outside your areas", what, 100*outside)
	}
	return nil
}

// visibleZone adds the condition that zone "z" is visible to u: admin sees every
// zone, anyone else the zones that reach into one of their areas.
func (w *where) visibleZone(u User) {
	if seesAll(u) {
		return
	}
	w.add("EXISTS (SELECT 1 FROM areas ua WHERE ua.id = ANY(?::bigint[]) AND ST_Intersects(ua.geom, z.geom))", userAreas(u))
}

const zoneSelect = `SELECT z.id, z.kind, z.status, z.source, ST_AsBinary(z.geom), COALESCE(z.area_id, 0),
	COALESCE(z.policy_version, 0), z.case_ids, z.escalation, z.reason, z.version, COALESCE(z.created_by, 0),
	z.created_at, z.updated_at, z.activated_at, z.stepped_at, z.lifted_at, COALESCE(z.lifted_by, 0), COUNT(*) OVER()
	FROM zones z`

func queryZones(ctx context.Context, tx pgx.Tx, q string, args []any) ([]Zone, int, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, dbError("list zones", err)
	}
	defer rows.Close()
	zs := []Zone{}
	total := 0
	for rows.Next() {
		var z Zone
		var kind, status string
		var geom []byte
		if err := rows.Scan(&z.ID, &kind, &status, &z.Source, &geom, &z.AreaID, &z.PolicyVersion, &z.CaseIDs,
			&z.Escalation, &z.Reason, &z.Version, &z.CreatedBy, &z.CreatedAt, &z.UpdatedAt, &z.ActivatedAt,
			&z.SteppedAt, &z.LiftedAt, &z.LiftedBy, &total); err != nil {
			return nil, 0, dbError("scan zone", err)
		}
		z.Kind, z.Status = ZoneKind(kind), ZoneStatus(status)
		if z.Geom, err = decodeMultiPolygon(geom); err != nil {
			return nil, 0, fmt.Errorf("zone %d: %w", z.ID, err)
		}
		if z.CaseIDs == nil {
			z.CaseIDs = []int64{}
		}
		zs = append(zs, z)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError("list zones", err)
	}
	return zs, total, nil
}

func decodeMultiPolygon(b []byte) (orb.MultiPolygon, error) {
	g, err := wkb.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("decode geometry: %w", err)
	}
	switch v := g.(type) {
	case orb.MultiPolygon:
		return v, nil
	case orb.Polygon:
		return orb.MultiPolygon{v}, nil
	}
	return nil, fmt.Errorf("geometry is %s, not MultiPolygon", g.GeoJSONType())
}

// withLift fills the lifting status of the enforced zones among zs, under the
// current policy, from the latest case inside each (any case: the zone's
// epidemiology does not stop at a jurisdiction's edge, and only a date is shown).
func withLift(ctx context.Context, tx pgx.Tx, zs []Zone) error {
	var ids []int64
	for _, z := range zs {
		if z.Status.enforced() {
			ids = append(ids, z.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	pol, err := currentZonePolicy(ctx, tx)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		SELECT z.id, (SELECT max(c.reported_at) FROM cases c WHERE ST_Intersects(c.geom, z.geom))
		FROM zones z WHERE z.id = ANY($1)`, ids)
	if err != nil {
		return dbError("last case in zones", err)
	}
	last := map[int64]*time.Time{}
	for rows.Next() {
		var id int64
		var at *time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return dbError("scan last case", err)
		}
		last[id] = at
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError("last case in zones", err)
	}
	rounds, err := negativeRounds(ctx, tx, ids)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range zs {
		z := &zs[i]
		if !z.Status.enforced() {
			continue
		}
		stepped := z.CreatedAt
		if z.SteppedAt != nil {
			stepped = *z.SteppedAt
		}
		nr := rounds[z.ID]
		l := ComputeZoneLiftRound(pol.Policy.Lifting, pol.Version, stepped, last[z.ID], nr.id, nr.at, now)
		z.Lift = &l
	}
	return nil
}

// getZone reads one zone visible to u with its lifting status.
func getZone(ctx context.Context, tx pgx.Tx, u User, id int64) (Zone, error) {
	var w where
	w.add("z.id = ?", id)
	w.visibleZone(u)
	zs, _, err := queryZones(ctx, tx, zoneSelect+w.sql(), w.args)
	if err != nil {
		return Zone{}, err
	}
	if len(zs) == 0 {
		return Zone{}, Errorf(NotFound, "id", "zone %d not found", id)
	}
	if err := withLift(ctx, tx, zs); err != nil {
		return Zone{}, err
	}
	return zs[0], nil
}

// GetZone returns zone id if it reaches into u's jurisdiction (NotFound otherwise).
func (s *Store) GetZone(ctx context.Context, u User, id int64) (Zone, error) {
	var out Zone
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = getZone(ctx, tx, u, id)
		return err
	})
	return out, err
}

// ZoneFilter selects zones; zero fields do not filter.
type ZoneFilter struct {
	BBox     *orb.Bound
	Statuses []ZoneStatus
	Kinds    []ZoneKind
	Page     Page
}

// ZonePage is one page of zones, ordered by id, and the number matching.
type ZonePage struct {
	Zones []Zone
	Total int
	Page  Page
}

// ListZones lists the zones reaching into u's jurisdiction, ordered by id, the
// enforced ones with their lifting status.
func (s *Store) ListZones(ctx context.Context, u User, f ZoneFilter) (ZonePage, error) {
	page, err := f.Page.normalize(DefaultLimit)
	if err != nil {
		return ZonePage{}, err
	}
	var w where
	w.visibleZone(u)
	if f.BBox != nil {
		w.inBBox("z.geom", *f.BBox)
	}
	if len(f.Statuses) > 0 {
		ss := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			ss[i] = string(st)
		}
		w.add("z.status = ANY(?::text[])", ss)
	}
	if len(f.Kinds) > 0 {
		ks := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			ks[i] = string(k)
		}
		w.add("z.kind = ANY(?::text[])", ks)
	}
	out := ZonePage{Zones: []Zone{}, Page: page}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		zs, total, err := queryZones(ctx, tx, zoneSelect+w.sql()+" ORDER BY z.id"+page.sql(), w.args)
		if err != nil {
			return err
		}
		out.Zones, out.Total = zs, total
		return withLift(ctx, tx, zs)
	})
	if err != nil {
		return ZonePage{}, err
	}
	if len(out.Zones) == 0 && page.Offset > 0 {
		if out.Total, err = s.recount(ctx, "zones z", &w); err != nil {
			return ZonePage{}, err
		}
	}
	return out, nil
}

// ZoneVersion is one version of a zone: what it was after a change, who changed
// it, when and why.
type ZoneVersion struct {
	ZoneID        int64
	Version       int
	Action        string // propose, create, edit, accept, reject, downgrade or lift
	Kind          ZoneKind
	Status        ZoneStatus
	Geom          orb.MultiPolygon
	ChangedBy     int64
	ChangedByName string
	ChangedAt     time.Time
	Reason        string
	Repaired      string
	Forced        bool
}

// ZoneVersions lists every version of zone id, oldest first. NotFound unless the
// zone reaches into u's jurisdiction.
func (s *Store) ZoneVersions(ctx context.Context, u User, id int64) ([]ZoneVersion, error) {
	var out []ZoneVersion
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getZone(ctx, tx, u, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT v.zone_id, v.version, v.action, v.kind, v.status, ST_AsBinary(v.geom), COALESCE(v.changed_by, 0),
			       COALESCE(u.name, ''), v.changed_at, v.reason, v.repaired, v.forced
			FROM zone_versions v LEFT JOIN users u ON u.id = v.changed_by
			WHERE v.zone_id = $1 ORDER BY v.version`, id)
		if err != nil {
			return dbError("list zone versions", err)
		}
		defer rows.Close()
		out = []ZoneVersion{}
		for rows.Next() {
			var v ZoneVersion
			var kind, status string
			var geom []byte
			if err := rows.Scan(&v.ZoneID, &v.Version, &v.Action, &kind, &status, &geom, &v.ChangedBy, &v.ChangedByName,
				&v.ChangedAt, &v.Reason, &v.Repaired, &v.Forced); err != nil {
				return dbError("scan zone version", err)
			}
			v.Kind, v.Status = ZoneKind(kind), ZoneStatus(status)
			if v.Geom, err = decodeMultiPolygon(geom); err != nil {
				return fmt.Errorf("zone %d version %d: %w", id, v.Version, err)
			}
			out = append(out, v)
		}
		return orNil("list zone versions", rows.Err())
	})
	return out, err
}

// zoneGeometry is a drawn geometry after the checks and repairs that need no
// database: either valid (Geom), or closed and in range but topologically invalid
// (Invalid says why) and left to finishZoneGeometry.
type zoneGeometry struct {
	Geom     orb.MultiPolygon
	Repaired []string
	Invalid  *geo.CoordError
}

// prepareZoneGeometry checks a drawn geometry and applies the repairs that cannot
// change what was drawn:
//   - repeated consecutive points are dropped (a double click);
//   - rings are reoriented to RFC 7946's winding (shells counter-clockwise, holes
//     clockwise); GeoJSON readers must accept either, so this only normalises.
//
// What is never repaired, whatever PostGIS could make of it: a missing or empty
// geometry, a type other than Polygon or MultiPolygon, coordinates out of range, an
// unclosed ring or one with fewer than 4 points (errors Invalid, field "geometry",
// the message naming the GeoJSON path and the reason). Topological faults (crossing
// or touching edges, holes outside shells, overlapping parts) are left to
// finishZoneGeometry.
func prepareZoneGeometry(g orb.Geometry) (zoneGeometry, error) {
	bad := func(err error) error {
		var ce *geo.CoordError
		if errors.As(err, &ce) {
			return Errorf(Invalid, "geometry", "%s: %s", ce.Field, ce.Reason)
		}
		return Errorf(Invalid, "geometry", "%v", err)
	}
	if g == nil {
		return zoneGeometry{}, Errorf(Invalid, "geometry", "is required: a GeoJSON Polygon or MultiPolygon")
	}
	if isEmptyPolygonal(g) {
		return zoneGeometry{}, Errorf(Invalid, "geometry", "is empty: a zone needs at least one polygon with a ring")
	}
	mp, err := geo.CheckPolygonal(g)
	if err != nil {
		return zoneGeometry{}, bad(err)
	}
	var out zoneGeometry
	dropped, turned := 0, 0
	clean := make(orb.MultiPolygon, len(mp))
	for pi, poly := range mp {
		clean[pi] = make(orb.Polygon, len(poly))
		for ri, ring := range poly {
			r := make(orb.Ring, 0, len(ring))
			for i, p := range ring {
				if i > 0 && p == ring[i-1] {
					dropped++
					continue
				}
				r = append(r, p)
			}
			if a := ringArea(r); (ri == 0 && a < 0) || (ri > 0 && a > 0) {
				slices.Reverse(r)
				turned++
			}
			clean[pi][ri] = r
		}
	}
	if dropped > 0 {
		out.Repaired = append(out.Repaired, fmt.Sprintf("dropped %d repeated consecutive point(s)", dropped))
	}
	if turned > 0 {
		out.Repaired = append(out.Repaired, fmt.Sprintf("reoriented %d ring(s) to the RFC 7946 winding (shells counter-clockwise, holes clockwise)", turned))
	}
	out.Geom = clean
	if err := geo.ValidatePolygon(clean); err != nil {
		var ce *geo.CoordError
		if !errors.As(err, &ce) {
			return zoneGeometry{}, bad(err)
		}
		// Paths name the parts of a MultiPolygon only if one was sent.
		if _, single := g.(orb.Polygon); single && len(clean) == 1 {
			err = geo.ValidatePolygon(clean[0])
			errors.As(err, &ce)
		}
		out.Invalid = ce
	}
	return out, nil
}

func isEmptyPolygonal(g orb.Geometry) bool {
	switch v := g.(type) {
	case orb.Polygon:
		return len(v) == 0
	case orb.MultiPolygon:
		for _, p := range v {
			if len(p) > 0 {
				return false
			}
		}
		return true
	}
	return false
}

// ringArea is the shoelace area in square degrees, positive counter-clockwise.
func ringArea(r orb.Ring) float64 {
	a := 0.0
	for i := 0; i+1 < len(r); i++ {
		a += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return a / 2
}

// repairTolerance is how much ST_MakeValid may change the area (relative) for the
// repair to count as safe: rounding only.
const repairTolerance = 1e-9

// finishZoneGeometry returns the geometry to store and what was repaired. A
// topologically invalid geometry is repaired with PostGIS's ST_MakeValid only when
// that is safe: the repaired geometry covers the same area as the drawing (a ring
// touching itself at a vertex, which encloses a hole; a zero-area spike or hole).
// Otherwise (a bow-tie, whose lobes cancel in the drawn area; overlapping parts) it
// is refused, Invalid on field "geometry" with the validator's reason.
func finishZoneGeometry(ctx context.Context, tx pgx.Tx, p zoneGeometry) (orb.MultiPolygon, string, error) {
	if p.Invalid == nil {
		return p.Geom, strings.Join(p.Repaired, "; "), nil
	}
	reason := fmt.Sprintf("%s: %s", p.Invalid.Field, p.Invalid.Reason)
	b, err := wkb.Marshal(p.Geom)
	if err != nil {
		return nil, "", fmt.Errorf("encode zone: %w", err)
	}
	var fixed []byte
	var drawn, made float64
	err = tx.QueryRow(ctx, `
		SELECT ST_AsBinary(v), ST_Area(g), COALESCE(ST_Area(v), 0)
		FROM (SELECT g, ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3)) AS v
		      FROM (SELECT ST_GeomFromWKB($1, 4326) AS g) a) b`, b).Scan(&fixed, &drawn, &made)
	if err != nil {
		return nil, "", Errorf(Invalid, "geometry", "%s", reason)
	}
	if !(drawn > 0) || math.Abs(made-drawn) > repairTolerance*drawn {
		return nil, "", Errorf(Invalid, "geometry", "%s (not repaired: making it valid would change its area from the drawn %.3g to %.3g square degrees)", reason, drawn, made)
	}
	mp, err := decodeMultiPolygon(fixed)
	if err != nil || len(mp) == 0 || geo.ValidatePolygon(mp) != nil {
		return nil, "", Errorf(Invalid, "geometry", "%s", reason)
	}
	repaired := append(p.Repaired, "made valid with ST_MakeValid, area unchanged ("+reason+")")
	return mp, strings.Join(repaired, "; "), nil
}
