package grid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/gridtrace/gridtrace/grid"
)

// zoneCallers loads the jurisdiction fixture and one stored user per role the zone
// tests need (zones record who changed them, a reference to users).
func zoneCallers(t *testing.T) (*grid.Store, *pgxpool.Pool, map[string]grid.Caller) {
	t.Helper()
	s, pool := loadJurisdiction(t)
	out := map[string]grid.Caller{}
	for _, u := range []struct {
		name  string
		role  grid.Role
		areas []int64
	}{
		{"admin", grid.Admin, nil},
		{"commander", grid.Commander, []int64{2}}, // street 2: communities 3 and 4
		{"commander5", grid.Commander, []int64{5}},
		{"worker", grid.GridWorker, []int64{3}},
		{"viewer", grid.Viewer, []int64{1}},
		{"sampler", grid.Sampler, []int64{3}},
	} {
		var id int64
		if err := pool.QueryRow(context.Background(), `INSERT INTO users (name, password_hash, role) VALUES ($1, 'x', $2) RETURNING id`,
			u.name, string(u.role)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[u.name] = caller(id, u.role, u.areas...)
	}
	return s, pool, out
}

// square is a closed counter-clockwise square ring.
func square(x0, y0, x1, y1 float64) orb.Ring {
	return orb.Ring{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
}

// zoneRows counts zones and zone versions: bad input must write neither.
func zoneRows(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return fmt.Sprintf("%d zones, %d versions, %d changes",
		countRows(t, pool, `SELECT count(*) FROM zones`), countRows(t, pool, `SELECT count(*) FROM zone_versions`),
		countRows(t, pool, `SELECT count(*) FROM changes WHERE entity = 'zone'`))
}

func wantKind(t *testing.T, what string, err error, kind grid.Kind, field string) {
	t.Helper()
	if grid.KindOf(err) != kind {
		t.Fatalf("%s: %v, want %s", what, err, kind)
	}
	if e, ok := err.(*grid.Error); ok && field != "" && e.Field != field {
		t.Fatalf("%s: field %q, want %q (%v)", what, e.Field, field, err)
	}
}

func TestZonePolicyStore(t *testing.T) {
	t.Parallel()
	s, _, users := zoneCallers(t)
	ctx := context.Background()
	cur, err := s.CurrentZonePolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version != 1 || cur.Policy != grid.DefaultZonePolicy() || cur.CreatedBy != 0 {
		t.Fatalf("seeded policy %+v", cur)
	}
	p := grid.DefaultZonePolicy()
	p.Lifting.DaysWithoutCase = 14
	_, err = s.UpdateZonePolicy(ctx, users["commander"], 1, p)
	wantKind(t, "commander", err, grid.Forbidden, "")
	bad := p
	bad.Control.RingK = 1
	_, err = s.UpdateZonePolicy(ctx, users["admin"], 1, bad)
	wantKind(t, "control inside sealed", err, grid.Invalid, "policy.control.ring_k")
	bad = p
	bad.Sealed.Mode = "area"
	_, err = s.UpdateZonePolicy(ctx, users["admin"], 1, bad)
	wantKind(t, "sealed by area", err, grid.Invalid, "policy.sealed.mode")
	v2, err := s.UpdateZonePolicy(ctx, users["admin"], 1, p)
	if err != nil || v2.Version != 2 {
		t.Fatalf("update: %+v %v", v2, err)
	}
	_, err = s.UpdateZonePolicy(ctx, users["admin"], 1, p)
	wantKind(t, "stale", err, grid.Conflict, "version")
	if !strings.Contains(err.Error(), "current version is 2") {
		t.Fatalf("stale: %v", err)
	}
	cur, err = s.CurrentZonePolicy(ctx)
	if err != nil || cur.Version != 2 || cur.Policy.Lifting.DaysWithoutCase != 14 || cur.CreatedBy != users["admin"].User.ID {
		t.Fatalf("current %+v %v", cur, err)
	}
}

func TestCreateZoneChecksGeometry(t *testing.T) {
	t.Parallel()
	s, pool, users := zoneCallers(t)
	ctx := context.Background()
	cmd := users["commander"]
	inside := orb.Polygon{square(121.405, 31.105, 121.425, 31.125)} // in community 3
	z, err := s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "sealed", Geometry: inside, Reason: "two cases in building 1"})
	if err != nil {
		t.Fatal(err)
	}
	if z.ID == 0 || z.Status != grid.ZoneActive || z.Source != grid.ZoneDrawn || z.Version != 1 || z.AreaID != 3 ||
		z.PolicyVersion != 1 || z.ActivatedAt == nil || z.CreatedBy != cmd.User.ID || z.Repaired != "" {
		t.Fatalf("created %+v", z)
	}
	if z.Lift == nil || z.Lift.ConditionsMet || len(z.Lift.Waiting) != 2 {
		t.Fatalf("a new active zone waits for its days and a negative round: %+v", z.Lift)
	}
	// The change feed has the zone, in its area, with its box.
	chs, err := s.ChangesSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := chs[len(chs)-1]
	var payload map[string]any
	if err := json.Unmarshal(last.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	if last.Entity != "zone" || last.EntityID != z.ID || last.AreaID != 3 || last.BBox == nil ||
		last.BBox.Min != (orb.Point{121.405, 31.105}) || payload["status"] != "active" || payload["kind"] != "sealed" ||
		payload["version"] != 1.0 || payload["action"] != "create" {
		t.Fatalf("change %+v %s", last, last.Payload)
	}
	before := zoneRows(t, pool)

	for _, tc := range []struct {
		name  string
		draft grid.ZoneDraft
		kind  grid.Kind
		field string
		msg   string
	}{
		{"bow-tie", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{{{121.41, 31.11}, {121.42, 31.12}, {121.42, 31.11}, {121.41, 31.12}, {121.41, 31.11}}}},
			grid.Invalid, "geometry", "self-intersection"},
		{"outside the jurisdiction", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{square(121.51, 31.11, 121.52, 31.12)}},
			grid.Forbidden, "geometry", "outside your jurisdiction: 100.0%"},
		{"partly outside", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{square(121.49, 31.11, 121.51, 31.12)}},
			grid.Forbidden, "geometry", "50.0% of its area"},
		{"unknown kind", grid.ZoneDraft{Kind: "lockdown", Reason: "x", Geometry: inside}, grid.Invalid, "kind", "lockdown"},
		{"empty polygon", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{}}, grid.Invalid, "geometry", "empty"},
		{"empty multipolygon", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.MultiPolygon{}}, grid.Invalid, "geometry", "empty"},
		{"no geometry", grid.ZoneDraft{Kind: "sealed", Reason: "x"}, grid.Invalid, "geometry", "required"},
		{"a point", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Point{121.41, 31.11}}, grid.Invalid, "geometry", "Polygon or MultiPolygon"},
		{"unclosed", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{{{121.41, 31.11}, {121.42, 31.11}, {121.42, 31.12}, {121.41, 31.12}}}},
			grid.Invalid, "geometry", "closed"},
		{"latitude out of range", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{square(121.41, 89.5, 121.42, 91)}}, grid.Invalid, "geometry", "lat"},
		{"overlapping parts", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.MultiPolygon{{square(121.41, 31.11, 121.42, 31.12)}, {square(121.415, 31.115, 121.425, 31.125)}}},
			grid.Invalid, "geometry", "crosses"},
		{"no reason", grid.ZoneDraft{Kind: "sealed", Geometry: inside}, grid.Invalid, "reason", "required"},
		{"bad status", grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: inside, Status: "lifted"}, grid.Invalid, "status", ""},
	} {
		_, err := s.CreateZone(ctx, cmd, tc.draft)
		wantKind(t, tc.name, err, tc.kind, tc.field)
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v does not say %q", tc.name, err, tc.msg)
		}
	}
	_, err = s.CreateZone(ctx, users["worker"], grid.ZoneDraft{Kind: "sealed", Geometry: inside, Reason: "x"})
	wantKind(t, "grid worker", err, grid.Forbidden, "")
	if after := zoneRows(t, pool); after != before {
		t.Fatalf("bad input wrote: %s, then %s", before, after)
	}

	// Safe repairs: a repeated point and clockwise winding; a ring touching itself at a
	// vertex (a hole drawn in one stroke) made valid by PostGIS with its area kept.
	cw := orb.Ring{{121.41, 31.11}, {121.41, 31.12}, {121.41, 31.12}, {121.42, 31.12}, {121.42, 31.11}, {121.41, 31.11}}
	z, err = s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "control", Geometry: orb.Polygon{cw}, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(z.Repaired, "dropped 1 repeated") || !strings.Contains(z.Repaired, "reoriented 1 ring") ||
		len(z.Geom[0][0]) != 5 || planar.Area(z.Geom) <= 0 {
		t.Fatalf("repaired %q: %v", z.Repaired, z.Geom)
	}
	touching := orb.Ring{{121.41, 31.11}, {121.43, 31.11}, {121.43, 31.13}, {121.41, 31.13}, {121.41, 31.11},
		{121.42, 31.125}, {121.425, 31.12}, {121.42, 31.115}, {121.41, 31.11}}
	z, err = s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "sealed", Geometry: orb.Polygon{touching}, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(z.Repaired, "ST_MakeValid") {
		t.Fatalf("repaired %q", z.Repaired)
	}
	if a := planar.Area(z.Geom); a < 0.0003 || a > 0.0004 {
		t.Fatalf("area %g after repair", a)
	}
	var repaired string
	if err := pool.QueryRow(ctx, `SELECT repaired FROM zone_versions WHERE zone_id = $1`, z.ID).Scan(&repaired); err != nil || repaired != z.Repaired {
		t.Fatalf("version repaired %q %v", repaired, err)
	}
}

func TestZoneLifecycle(t *testing.T) {
	t.Parallel()
	s, pool, users := zoneCallers(t)
	ctx := context.Background()
	cmd, admin := users["commander"], users["admin"]
	z, err := s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "sealed", Status: "proposed", Reason: "drafted",
		Geometry: orb.Polygon{square(121.405, 31.105, 121.425, 31.125)}})
	if err != nil || z.Status != grid.ZoneProposed || z.Lift != nil {
		t.Fatalf("draft %+v %v", z, err)
	}
	_, err = s.DecideZone(ctx, cmd, z.ID, grid.ZoneDecision{Action: grid.ZoneLift, Reason: "x"})
	wantKind(t, "lift a proposal", err, grid.Conflict, "status")
	z, err = s.DecideZone(ctx, cmd, z.ID, grid.ZoneDecision{Action: grid.ZoneAccept, Version: 1})
	if err != nil || z.Status != grid.ZoneActive || z.Version != 2 || z.ActivatedAt == nil || z.Lift == nil {
		t.Fatalf("accepted %+v %v", z, err)
	}
	// Two staff edit version 2: the second is refused with the current version.
	bigger := orb.Polygon{square(121.405, 31.105, 121.43, 31.13)}
	z, err = s.UpdateZone(ctx, cmd, z.ID, grid.ZoneEdit{Version: 2, Geometry: bigger, Reason: "the compound is larger"})
	if err != nil || z.Version != 3 || z.Status != grid.ZoneActive {
		t.Fatalf("edit %+v %v", z, err)
	}
	_, err = s.UpdateZone(ctx, admin, z.ID, grid.ZoneEdit{Version: 2, Geometry: bigger, Reason: "stale"})
	wantKind(t, "stale edit", err, grid.Conflict, "version")
	if !strings.Contains(err.Error(), "current version is 3") {
		t.Fatalf("stale edit: %v", err)
	}
	// An enforced zone is weakened by a downgrade only.
	weaker := "control"
	_, err = s.UpdateZone(ctx, cmd, z.ID, grid.ZoneEdit{Version: 3, Kind: &weaker, Reason: "x"})
	wantKind(t, "weaken by edit", err, grid.Conflict, "kind")
	// Outside the jurisdiction: another street's commander cannot see it.
	_, err = s.DecideZone(ctx, users["commander5"], z.ID, grid.ZoneDecision{Action: grid.ZoneLift, Reason: "x"})
	wantKind(t, "other street", err, grid.NotFound, "id")
	// Lifting conditions: a negative round is required by default, so not without force.
	_, err = s.DecideZone(ctx, cmd, z.ID, grid.ZoneDecision{Action: grid.ZoneDowngrade, Reason: "quiet"})
	wantKind(t, "downgrade early", err, grid.Conflict, "status")
	if !strings.Contains(err.Error(), "negative round") {
		t.Fatalf("downgrade early: %v", err)
	}
	_, err = s.DecideZone(ctx, cmd, z.ID, grid.ZoneDecision{Action: grid.ZoneDowngrade, Force: true})
	wantKind(t, "force without reason", err, grid.Invalid, "reason")
	z, err = s.DecideZone(ctx, cmd, z.ID, grid.ZoneDecision{Action: grid.ZoneDowngrade, Force: true, Reason: "sampling done on paper"})
	if err != nil || z.Status != grid.ZoneDowngraded || z.Kind != grid.ControlZone || z.Version != 4 {
		t.Fatalf("downgraded %+v %v", z, err)
	}
	z, err = s.DeleteZone(ctx, cmd, z.ID, 4, "all clear", true)
	if err != nil || z.Status != grid.ZoneLifted || z.LiftedAt == nil || z.LiftedBy != cmd.User.ID || z.Version != 5 {
		t.Fatalf("lifted %+v %v", z, err)
	}
	_, err = s.UpdateZone(ctx, cmd, z.ID, grid.ZoneEdit{Version: 5, Reason: "again"})
	wantKind(t, "edit a lifted zone", err, grid.Conflict, "status")
	vs, err := s.ZoneVersions(ctx, cmd.User, z.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%d %s %s %s forced=%v by=%s", v.Version, v.Action, v.Kind, v.Status, v.Forced, v.ChangedByName))
	}
	want := []string{
		"1 create sealed proposed forced=false by=commander",
		"2 accept sealed active forced=false by=commander",
		"3 edit sealed active forced=false by=commander",
		"4 downgrade control downgraded forced=true by=commander",
		"5 lift control lifted forced=true by=commander",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("versions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := countRows(t, pool, `SELECT count(*) FROM changes WHERE entity = 'zone' AND entity_id = $1`, z.ID); n != 5 {
		t.Fatalf("%d changes for 5 writes", n)
	}
	// Deleting a proposal rejects it; it stays listed with its history.
	p, err := s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "control", Status: "proposed", Reason: "x", Geometry: orb.Polygon{square(121.46, 31.11, 121.47, 31.12)}})
	if err != nil {
		t.Fatal(err)
	}
	p, err = s.DeleteZone(ctx, cmd, p.ID, 0, "", false)
	if err != nil || p.Status != grid.ZoneRejected {
		t.Fatalf("delete proposal %+v %v", p, err)
	}
	page, err := s.ListZones(ctx, cmd.User, grid.ZoneFilter{Statuses: []grid.ZoneStatus{grid.ZoneRejected, grid.ZoneLifted}})
	if err != nil || page.Total != 2 {
		t.Fatalf("closed zones %+v %v", page, err)
	}
}

func TestLiftConditionsHold(t *testing.T) {
	t.Parallel()
	s, pool, users := zoneCallers(t)
	ctx := context.Background()
	admin := users["admin"]
	pol := grid.DefaultZonePolicy()
	pol.Lifting.RequireNegativeRound = false
	if _, err := s.UpdateZonePolicy(ctx, admin, 1, pol); err != nil {
		t.Fatal(err)
	}
	z, err := s.CreateZone(ctx, admin, grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{square(121.405, 31.105, 121.415, 31.115)}})
	if err != nil {
		t.Fatal(err)
	}
	// Its clock starts at activation: not yet.
	if z.Lift.DaysMet || z.Lift.ConditionsMet || z.Lift.DaysSinceLastCase == nil || *z.Lift.DaysSinceLastCase < 365 {
		t.Fatalf("new zone lift %+v", z.Lift)
	}
	_, err = s.DecideZone(ctx, admin, z.ID, grid.ZoneDecision{Action: grid.ZoneLift, Reason: "x"})
	wantKind(t, "lift on day 0", err, grid.Conflict, "status")
	// Activated 30 days ago, the last case inside (case 1, 2022) long before: eligible.
	if _, err := pool.Exec(ctx, `UPDATE zones SET activated_at = now() - interval '30 days', stepped_at = now() - interval '30 days' WHERE id = $1`, z.ID); err != nil {
		t.Fatal(err)
	}
	z, err = s.GetZone(ctx, admin.User, z.ID)
	if err != nil || !z.Lift.ConditionsMet || z.Lift.LastCaseAt == nil || !z.Lift.LastCaseAt.Equal(mustTime(t, "2022-04-04T10:00:00+08:00")) {
		t.Fatalf("lift %+v %v", z.Lift, err)
	}
	z, err = s.DecideZone(ctx, admin, z.ID, grid.ZoneDecision{Action: grid.ZoneLift, Reason: "30 quiet days"})
	if err != nil || z.Status != grid.ZoneLifted {
		t.Fatalf("lift %+v %v", z, err)
	}
	var forced bool
	if err := pool.QueryRow(ctx, `SELECT forced FROM zone_versions WHERE zone_id = $1 AND action = 'lift'`, z.ID).Scan(&forced); err != nil || forced {
		t.Fatalf("forced %v %v", forced, err)
	}
}

func TestComputeZoneLift(t *testing.T) {
	l := grid.ZoneLifting{DaysWithoutCase: 7, UTCOffsetMinutes: 480}
	cst := time.FixedZone("CST", 8*3600)
	activated := time.Date(2022, 4, 4, 20, 0, 0, 0, cst)
	lastCase := time.Date(2022, 4, 6, 23, 30, 0, 0, cst) // 15:30 UTC: still 6 April in China
	for _, tc := range []struct {
		now      time.Time
		last     *time.Time
		days     int
		eligible string
		met      bool
	}{
		{time.Date(2022, 4, 12, 23, 59, 0, 0, cst), &lastCase, 6, "2022-04-13", false},
		{time.Date(2022, 4, 13, 0, 0, 0, 0, cst), &lastCase, 7, "2022-04-13", true},
		{time.Date(2022, 4, 11, 0, 0, 0, 0, cst), nil, -1, "2022-04-11", true}, // no case: from activation
	} {
		got := grid.ComputeZoneLift(l, 3, activated, tc.last, tc.now)
		days := -1
		if got.DaysSinceLastCase != nil {
			days = *got.DaysSinceLastCase
		}
		if days != tc.days || got.EligibleOn.Format(time.DateOnly) != tc.eligible || got.ConditionsMet != tc.met || got.PolicyVersion != 3 {
			t.Errorf("at %v: %d days, eligible %s, met %v %v", tc.now, days, got.EligibleOn.Format(time.DateOnly), got.ConditionsMet, got.Waiting)
		}
	}
	l.RequireNegativeRound = true
	got := grid.ComputeZoneLift(l, 1, activated, nil, time.Date(2023, 1, 1, 0, 0, 0, 0, cst))
	if !got.DaysMet || got.ConditionsMet || len(got.Waiting) != 1 || !strings.Contains(got.Waiting[0], "waiting for a negative round") {
		t.Fatalf("negative round required: %+v", got)
	}
}

func TestProposeZones(t *testing.T) {
	t.Parallel()
	s, pool, users := zoneCallers(t)
	ctx := context.Background()
	all := orb.Bound{Min: orb.Point{121.3, 31.0}, Max: orb.Point{121.8, 31.5}}
	_, err := s.ProposeZones(ctx, users["worker"], grid.ZoneSelection{BBox: &all})
	wantKind(t, "grid worker", err, grid.Forbidden, "")
	_, err = s.ProposeZones(ctx, users["commander"], grid.ZoneSelection{})
	wantKind(t, "no selection", err, grid.Invalid, "bbox")
	_, err = s.ProposeZones(ctx, users["commander"], grid.ZoneSelection{CaseIDs: []int64{1, 2}})
	wantKind(t, "a case outside the jurisdiction", err, grid.NotFound, "case_ids[1]")
	_, err = s.ProposeZones(ctx, users["commander"], grid.ZoneSelection{AreaIDs: []int64{6}})
	wantKind(t, "an area outside the jurisdiction", err, grid.NotFound, "area_ids[0]")
	if n := countRows(t, pool, `SELECT count(*) FROM zones`); n != 0 {
		t.Fatalf("refused proposals wrote %d zones", n)
	}

	// The commander of street 2 sees cases 1 (community 3), 4 (community 4) and 5
	// (community 4, 200 m from street 5): separate zones, 3 to 8 km apart, clipped to
	// street 2.
	if _, err := pool.Exec(ctx, `INSERT INTO cases (id, kind, reported_at, area_id, geom, h3_r8, h3_r12)
		VALUES (5, 'confirmed', '2022-04-05T08:00:00+08', 4, ST_SetSRID(ST_MakePoint(121.498, 31.14), 4326), 0, 0)`); err != nil {
		t.Fatal(err)
	}
	p, err := s.ProposeZones(ctx, users["commander"], grid.ZoneSelection{BBox: &all})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cases != 3 || p.PolicyVersion != 1 || len(p.Zones) != 9 || p.Dropped != 0 {
		t.Fatalf("proposal: %d cases, v%d, %d zones, %d dropped", p.Cases, p.PolicyVersion, len(p.Zones), p.Dropped)
	}
	for _, z := range p.Zones {
		if z.Status != grid.ZoneProposed || z.Source != grid.ZoneComputed || z.Version != 1 || len(z.CaseIDs) != 1 ||
			z.Escalation != "epidemic_point" || z.CreatedBy != users["commander"].User.ID || !strings.Contains(z.Reason, "computed from 1 case under zone policy v1") {
			t.Fatalf("zone %+v", z)
		}
	}
	if n := countRows(t, pool, `SELECT count(*) FROM zones z, areas a WHERE a.id = 2 AND NOT ST_CoveredBy(z.geom, a.geom)`); n != 0 {
		t.Fatalf("%d proposed zones reach beyond the jurisdiction", n)
	}
	// Case 5's control (300 m) and precaution (1 km) rings cross into street 5 at
	// 121.50 and beyond 31.15: clipped, the reason says so.
	clipped := countRows(t, pool, `SELECT count(*) FROM zones WHERE reason LIKE '%clipped to your jurisdiction' AND case_ids = '{5}'`)
	if clipped != 2 {
		t.Fatalf("%d of case 5's zones clipped, want control and precaution", clipped)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM zone_versions WHERE action = 'propose'`); n != 9 {
		t.Fatalf("%d versions", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM changes WHERE entity = 'zone' AND payload->>'action' = 'propose'`); n != 9 {
		t.Fatalf("%d changes", n)
	}

	// Admin, by case ids, with a time window: case 3 (no area) whole, case 2 outside the
	// window.
	from, to := mustTime(t, "2022-04-05T11:00:00+08:00"), mustTime(t, "2022-04-06T00:00:00+08:00")
	p, err = s.ProposeZones(ctx, users["admin"], grid.ZoneSelection{CaseIDs: []int64{2, 3}, From: &from, To: &to})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cases != 1 || len(p.Zones) != 3 || !slices.Equal(p.Zones[0].CaseIDs, []int64{3}) || p.Zones[0].AreaID != 0 {
		t.Fatalf("admin proposal %+v", p)
	}
	// Accepting a computed zone makes it active.
	z, err := s.DecideZone(ctx, users["admin"], p.Zones[0].ID, grid.ZoneDecision{Action: grid.ZoneAccept})
	if err != nil || z.Status != grid.ZoneActive || z.Kind != grid.SealedZone {
		t.Fatalf("accept %+v %v", z, err)
	}
}

func TestWhoIsInsideZone(t *testing.T) {
	t.Parallel()
	s, pool, users := zoneCallers(t)
	ctx := context.Background()
	cmd := users["commander"]
	// A sealed zone over households 1 and 2 (community 3), a control zone over all of
	// street 2 (households 1, 2, 3 and 6).
	sealed, err := s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{square(121.405, 31.105, 121.425, 31.125)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateZone(ctx, cmd, grid.ZoneDraft{Kind: "control", Reason: "x", Geometry: orb.Polygon{square(121.40, 31.10, 121.50, 31.20)}}); err != nil {
		t.Fatal(err)
	}
	audits := auditCount(t, pool)
	page, err := s.ListZoneHouseholds(ctx, cmd, sealed.ID, true, grid.Page{})
	if err != nil || !slices.Equal(householdIDs(page), []int64{1, 2}) || page.Total != 2 || page.Households[0].Persons[0].Name != "张三丰" {
		t.Fatalf("households %v %+v", err, page)
	}
	if auditCount(t, pool) != audits+1 {
		t.Fatal("a read of names in clear was not audited")
	}
	page, err = s.ListZoneHouseholds(ctx, users["viewer"], sealed.ID, true, grid.Page{Limit: 1, Offset: 1})
	if err != nil || !slices.Equal(householdIDs(page), []int64{2}) || page.Total != 2 || page.Households[0].Persons[0].Name != "王*" {
		t.Fatalf("viewer page %v %+v", err, page)
	}
	// The worker of community 3 sees the sealed zone; the commander of street 5 does not.
	if _, err := s.ListZoneHouseholds(ctx, users["commander5"], sealed.ID, false, grid.Page{}); grid.KindOf(err) != grid.NotFound {
		t.Fatalf("other street: %v", err)
	}
	sum, err := s.ZoneSummary(ctx, users["sampler"], sealed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Households != 2 || sum.Persons != 3 || sum.ByStatus["normal"] != 3 || sum.ByVulnerability["elderly_alone"] != 1 ||
		sum.VulnerableTotal != 1 || sum.Vulnerable[0].ID != 2 || sum.Vulnerable[0].Name != "李四" || sum.Vulnerable[0].Phone != "139****1111" {
		t.Fatalf("summary %+v", sum)
	}
	persons, _, err := s.ZonePersons(ctx, cmd, sealed.ID)
	if err != nil || len(persons) != 3 || persons[0].ID != 2 {
		t.Fatalf("export %v %+v", err, persons)
	}
	// Dashboard: community 3's households are sealed (the stronger kind wins), the
	// others of street 2 in control.
	rows, err := s.ZoneDashboard(ctx, cmd.User, grid.Community)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]grid.ZoneDashboardRow{}
	for _, r := range rows {
		got[r.AreaID] = r
	}
	c3, c4 := got[3].Kinds, got[4].Kinds
	if len(rows) != 2 || c3[grid.SealedZone] != (grid.ZoneCounts{Zones: 1, Households: 2, Persons: 3, Vulnerable: 1}) ||
		c3[grid.ControlZone] != (grid.ZoneCounts{Zones: 1}) || c4[grid.ControlZone] != (grid.ZoneCounts{Zones: 1, Households: 1, Persons: 2, Vulnerable: 2}) ||
		c4[grid.PrecautionZone] != (grid.ZoneCounts{}) {
		t.Fatalf("dashboard %+v", rows)
	}
	if _, err := s.ZoneDashboard(ctx, cmd.User, grid.District); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("district dashboard: %v", err)
	}
}

// TestZoneConcurrentEdits has two staff save an edit of the same version at once:
// one wins, the other gets a Conflict naming the winner's version, and both edits
// are never half applied.
func TestZoneConcurrentEdits(t *testing.T) {
	t.Parallel()
	s, pool, users := zoneCallers(t)
	ctx := context.Background()
	z, err := s.CreateZone(ctx, users["commander"], grid.ZoneDraft{Kind: "sealed", Reason: "x", Geometry: orb.Polygon{square(121.405, 31.105, 121.425, 31.125)}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for i, who := range []string{"commander", "admin"} {
		go func() {
			g := orb.Polygon{square(121.405, 31.105, 121.426+float64(i)*0.001, 31.125)}
			_, err := s.UpdateZone(ctx, users[who], z.ID, grid.ZoneEdit{Version: 1, Geometry: g, Reason: who})
			errs <- err
		}()
	}
	var ok, conflict int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case grid.KindOf(err) == grid.Conflict && strings.Contains(err.Error(), "current version is 2"):
			conflict++
		default:
			t.Fatalf("edit: %v", err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("%d edits saved, %d conflicts", ok, conflict)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM zone_versions WHERE zone_id = $1`, z.ID); n != 2 {
		t.Fatalf("%d versions", n)
	}
}
