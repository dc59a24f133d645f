package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

// samplingCounts counts what sampling writes: a refused request leaves it unchanged.
func (f gridFixture) samplingCounts(t *testing.T) string {
	t.Helper()
	var sw, pl, oc, pt, rd, ch int
	err := f.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM sampling_swabs), (SELECT count(*) FROM sampling_pools),
		(SELECT count(*) FROM sampling_outcomes), (SELECT count(*) FROM sampling_points), (SELECT count(*) FROM sampling_rounds),
		(SELECT count(*) FROM changes WHERE entity IN ('sampling', 'sampling_point'))`).Scan(&sw, &pl, &oc, &pt, &rd, &ch)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d swabs, %d pools, %d outcomes, %d points, %d rounds, %d changes", sw, pl, oc, pt, rd, ch)
}

// exec runs SQL on the fixture's database.
func (f gridFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f gridFixture) scalar(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

type pointAnswer struct {
	ID      int64   `json:"id"`
	Version int     `json:"version"`
	GridIDs []int64 `json:"grid_ids"`
	AreaID  *int64  `json:"area_id"`
	Load    *struct {
		RoundID  int64 `json:"round_id"`
		Assigned int   `json:"assigned"`
		Capacity int   `json:"capacity"`
	} `json:"load"`
}

type roundAnswer struct {
	ID                   int64  `json:"id"`
	Status               string `json:"status"`
	Households           int    `json:"households"`
	Persons              int    `json:"persons"`
	AssignedHouseholds   int    `json:"assigned_households"`
	DoorToDoorHouseholds int    `json:"door_to_door_households"`
	Walk                 struct {
		Median, P95, Max float64
	} `json:"walk_m"`
	Overloaded []map[string]any `json:"overloaded_points"`
	Suggested  []map[string]any `json:"suggested_points"`
}

type coverageAnswer struct {
	Rows []struct {
		AreaID   int64  `json:"area_id"`
		Level    string `json:"level"`
		Expected int    `json:"expected"`
		Swabbed  int    `json:"swabbed"`
		Missing  int    `json:"missing"`
	} `json:"rows"`
}

func (f gridFixture) coverage(t *testing.T, user string, round int64, level string, area int64) (expected, swabbed, missing int) {
	t.Helper()
	var cov coverageAnswer
	if code := f.get(t, user, fmt.Sprintf("/api/v1/sampling/rounds/%d/coverage?level=%s", round, level), &cov); code != http.StatusOK {
		t.Fatalf("%s coverage: %d", user, code)
	}
	for _, r := range cov.Rows {
		if r.AreaID == area {
			if r.Expected != r.Swabbed+r.Missing {
				t.Fatalf("row %+v does not add up", r)
			}
			return r.Expected, r.Swabbed, r.Missing
		}
	}
	t.Fatalf("%s: no coverage row for area %d in %+v", user, area, cov.Rows)
	return
}

// samplingFixture adds to the jurisdiction fixture: 12 more persons in household 2
// (community 3) and 30 households with a bed-ridden resident (door to door), 20 in
// community 3 and 10 in community 4.
func samplingFixture(t *testing.T) gridFixture {
	f := newGridFixture(t)
	f.exec(t, `INSERT INTO persons (id, household_id, name, phone) SELECT 200 + i, 2, '居民' || i, '1380000' || lpad(i::text, 4, '0') FROM generate_series(1, 12) i`)
	f.exec(t, `INSERT INTO households (id, area_id, address, geom, h3_r8, h3_r12)
		SELECT 300 + i, CASE WHEN i < 20 THEN 3 ELSE 4 END, '卧床户' || i,
		       ST_SetSRID(ST_MakePoint(CASE WHEN i < 20 THEN 121.405 + (i % 5) * 0.008 ELSE 121.455 + (i % 5) * 0.008 END,
		                               31.105 + (i / 5 % 4) * 0.01), 4326), 0, 0
		FROM generate_series(0, 29) i`)
	f.exec(t, `INSERT INTO persons (id, household_id, name, vulnerability) SELECT 400 + i, 300 + i, '卧床' || i, '{bedridden}' FROM generate_series(0, 29) i`)
	return f
}

// createPoint has the commander open community 3's sampling point, serving grids 3
// and 4 from 07:00 to 21:00 at 60 an hour.
func (f gridFixture) createPoint(t *testing.T) pointAnswer {
	t.Helper()
	var p pointAnswer
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/points",
		`{"name":"一社区采样点","lng":121.425,"lat":31.125,"capacity_per_hour":60,"opens":"07:00","closes":"21:00","grid_ids":[3,4]}`, &p); code != http.StatusCreated {
		t.Fatalf("create point: %d", code)
	}
	return p
}

func TestSamplingPointsBadInput(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	p := f.createPoint(t)
	if p.AreaID == nil || *p.AreaID != 3 || p.Version != 1 || fmt.Sprint(p.GridIDs) != "[3 4]" || p.Load != nil {
		t.Fatalf("point %+v", p)
	}
	before := f.samplingCounts(t)
	for _, tc := range []struct {
		name, user, method, path, body string
		status                         int
		field                          string
	}{
		{"missing lng", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lat":31.12,"capacity_per_hour":60}`, 400, "lng"},
		{"bad lat", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":95,"capacity_per_hour":60}`, 400, "lat"},
		{"no capacity", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":0}`, 400, "capacity_per_hour"},
		{"closes before opens", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60,"opens":"18:00","closes":"08:00"}`, 400, "closes"},
		{"bad clock", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60,"opens":"8am"}`, 400, "opens"},
		{"grid outside", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60,"grid_ids":[6]}`, 400, "grid_ids"},
		{"unknown grid", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60,"grid_ids":[999]}`, 400, "grid_ids"},
		{"place outside", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.52,"lat":31.12,"capacity_per_hour":60}`, 403, "lng"},
		{"unknown field", "commander", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity":60}`, 400, "capacity"},
		{"sampler", "sampler", "POST", "/api/v1/sampling/points", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60}`, 403, ""},
		{"unknown point", "commander", "PUT", "/api/v1/sampling/points/999", `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60,"version":1}`, 404, "id"},
		{"stale version", "commander", "PUT", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID), `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60,"version":7}`, 409, "version"},
		{"no version", "commander", "PUT", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID), `{"name":"x","lng":121.42,"lat":31.12,"capacity_per_hour":60}`, 400, "version"},
		{"delete unknown", "commander", "DELETE", "/api/v1/sampling/points/999", ``, 404, "id"},
	} {
		var e apiError
		code := f.send(t, tc.user, tc.method, tc.path, tc.body, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	if after := f.samplingCounts(t); after != before {
		t.Fatalf("refused requests wrote: %s, then %s", before, after)
	}
	// The point is seen in its jurisdiction only.
	var list struct{ Points []pointAnswer }
	if code := f.get(t, "worker", "/api/v1/sampling/points", &list); code != 200 || len(list.Points) != 1 {
		t.Fatalf("worker sees %d points (%d)", len(list.Points), code)
	}
	if code := f.get(t, "worker6", "/api/v1/sampling/points", &list); code != 200 || len(list.Points) != 0 {
		t.Fatalf("worker6 sees %d points (%d)", len(list.Points), code)
	}
	if code := f.get(t, "worker6", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID), nil); code != 404 {
		t.Fatalf("worker6 GET point: %d", code)
	}
	var up pointAnswer
	if code := f.send(t, "commander", "PUT", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID),
		`{"name":"一社区采样点","lng":121.425,"lat":31.125,"capacity_per_hour":80,"grid_ids":[3],"version":1}`, &up); code != 200 || up.Version != 2 {
		t.Fatalf("update: %d %+v", code, up)
	}
}

func TestSamplingRoundSwabsCoverage(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	p := f.createPoint(t)
	before := f.samplingCounts(t)
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"area outside", `{"name":"r","area_id":6,"date":"2022-04-10"}`, 404, "area_id"},
		{"no scope", `{"name":"r","date":"2022-04-10"}`, 400, "area_id"},
		{"bad date", `{"name":"r","area_id":2,"date":"10/4/2022"}`, 400, "date"},
		{"odd slot", `{"name":"r","area_id":2,"date":"2022-04-10","slot_minutes":7}`, 400, "slot_minutes"},
		{"unknown zone", `{"name":"r","zone_ids":[99],"date":"2022-04-10"}`, 404, "zone_ids"},
	} {
		var e apiError
		code := f.send(t, "commander", "POST", "/api/v1/sampling/rounds", tc.body, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	if after := f.samplingCounts(t); after != before {
		t.Fatalf("refused rounds wrote: %s, then %s", before, after)
	}

	var r roundAnswer
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/rounds",
		`{"name":"甲街道全员核酸","area_id":2,"date":"2022-04-10","start":"07:00","slot_minutes":30}`, &r); code != http.StatusCreated {
		t.Fatalf("create round: %d", code)
	}
	// Street 2 holds households 1, 2, 3, 6 and the 30 bed-ridden ones; household 3
	// has a disabled resident.
	if r.Households != 34 || r.DoorToDoorHouseholds != 31 || r.AssignedHouseholds != 3 || r.Status != "open" ||
		r.Walk.Median <= 0 || r.Walk.Max < r.Walk.P95 || len(r.Overloaded) != 0 {
		t.Fatalf("round %+v", r)
	}
	if want := f.scalar(t, `SELECT count(*) FROM persons p JOIN households h ON h.id = p.household_id WHERE h.area_id IN (2, 3, 4)`); r.Persons != want {
		t.Fatalf("round persons %d, want %d", r.Persons, want)
	}
	var as struct {
		Assignments []struct {
			HouseholdID int64      `json:"household_id"`
			PointID     *int64     `json:"point_id"`
			SlotStart   *time.Time `json:"slot_start"`
			DoorToDoor  bool       `json:"door_to_door"`
			Reason      *string    `json:"reason"`
			Address     string     `json:"address"`
		}
	}
	if code := f.get(t, "commander", fmt.Sprintf("/api/v1/sampling/rounds/%d/assignments", r.ID), &as); code != 200 || len(as.Assignments) != 34 {
		t.Fatalf("assignments: %d, %d rows", code, len(as.Assignments))
	}
	// The viewer reads the same rows with each address cut before its number.
	viewed := as
	viewed.Assignments = nil // a fresh slice: decoding must not write over the commander's rows
	if code := f.get(t, "viewer", fmt.Sprintf("/api/v1/sampling/rounds/%d/assignments", r.ID), &viewed); code != 200 || len(viewed.Assignments) != 34 {
		t.Fatalf("viewer's assignments: %d, %d rows", code, len(viewed.Assignments))
	}
	for i, a := range viewed.Assignments {
		if a.HouseholdID != as.Assignments[i].HouseholdID || a.Address != grid.MaskAddress(as.Assignments[i].Address) || a.Address == as.Assignments[i].Address {
			t.Fatalf("viewer's assignment %+v, commander's %+v", a, as.Assignments[i])
		}
	}
	for _, a := range as.Assignments {
		if a.DoorToDoor != (a.PointID == nil) || (a.DoorToDoor && (a.Reason == nil || a.SlotStart != nil)) ||
			(!a.DoorToDoor && (a.SlotStart == nil || a.SlotStart.Before(time.Date(2022, 4, 9, 23, 0, 0, 0, time.UTC)))) {
			t.Fatalf("assignment %+v", a)
		}
	}
	var pl pointAnswer
	if code := f.get(t, "viewer", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID), &pl); code != 200 || pl.Load == nil ||
		pl.Load.RoundID != r.ID || pl.Load.Assigned == 0 || pl.Load.Capacity != 60*14 {
		t.Fatalf("point load: %+v", pl.Load)
	}

	// Swabs: household 2 (community 3) by the sampler of community 3.
	swab := func(user string, person int, tube, pool string, out any) int {
		t.Helper()
		return f.send(t, user, "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/swabs", r.ID),
			fmt.Sprintf(`{"person_id":%d,"tube_id":%q,"pool_id":%q}`, person, tube, pool), out)
	}
	type swabAnswer struct {
		Swab struct{ ID int64 }
		Pool struct {
			ID     string
			Size   int
			Result string
		}
	}
	var s1, s1again swabAnswer
	if code := swab("sampler", 3, "T-0001", "P-1", &s1); code != http.StatusCreated || s1.Pool.Size != 1 || s1.Pool.Result != "pending" {
		t.Fatalf("first swab: %d %+v", code, s1)
	}
	if code := swab("sampler", 3, "T-0001", "P-1", &s1again); code != http.StatusOK || s1again.Swab.ID != s1.Swab.ID || s1again.Pool.Size != 1 {
		t.Fatalf("same tube again: %d %+v", code, s1again)
	}
	for i := range 9 {
		if code := swab("sampler", 201+i, fmt.Sprintf("T-1%03d", i), "P-1", nil); code != http.StatusCreated {
			t.Fatalf("swab %d: %d", i, code)
		}
	}
	before = f.samplingCounts(t)
	for _, tc := range []struct {
		name, user string
		person     int
		tube, pool string
		status     int
		field      string
	}{
		{"tube in another pool", "sampler", 3, "T-0001", "P-2", 409, "tube_id"},
		{"tube of another person", "sampler", 210, "T-0001", "P-1", 409, "tube_id"},
		{"pool over 10", "sampler", 210, "T-2000", "P-1", 409, "pool_id"},
		{"person outside the round", "sampler", 6, "T-2001", "P-3", 400, "person_id"},
		{"person outside the sampler's jurisdiction", "sampler", 4, "T-2002", "P-3", 400, "person_id"},
		{"unknown person", "sampler", 99999, "T-2003", "P-3", 400, "person_id"},
		{"empty tube", "sampler", 210, "", "P-3", 400, "tube_id"},
		{"viewer", "viewer", 210, "T-2004", "P-3", 403, ""},
	} {
		var e apiError
		code := swab(tc.user, tc.person, tc.tube, tc.pool, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	var e apiError
	code := f.send(t, "sampler", "POST", "/api/v1/sampling/rounds/999/swabs", `{"person_id":3,"tube_id":"T-3000","pool_id":"P-9"}`, &e)
	wantError(t, "unknown round", code, e, 404, "id")
	if after := f.samplingCounts(t); after != before {
		t.Fatalf("refused swabs wrote: %s, then %s", before, after)
	}

	// Coverage: community 3 has 10 swabbed; the viewer reads numbers, not names.
	exp, sw, miss := f.coverage(t, "viewer", r.ID, "community", 3)
	if want := f.scalar(t, `SELECT count(*) FROM persons p JOIN households h ON h.id = p.household_id WHERE h.area_id = 3`); exp != want || sw != 10 || miss != want-10 {
		t.Fatalf("community 3: %d expected (want %d), %d swabbed, %d missing", exp, want, sw, miss)
	}
	if code := f.get(t, "viewer", fmt.Sprintf("/api/v1/sampling/rounds/%d/missing", r.ID), &e); code != 403 {
		t.Fatalf("viewer missing list: %d", code)
	}
	var missing struct {
		Persons []struct {
			PersonID int64  `json:"person_id"`
			Name     string `json:"name"`
			Phone    string `json:"phone"`
		}
	}
	if code := f.get(t, "worker", fmt.Sprintf("/api/v1/sampling/rounds/%d/missing?area_id=3", r.ID), &missing); code != 200 || len(missing.Persons) != miss {
		t.Fatalf("worker missing: %d, %d persons, want %d", code, len(missing.Persons), miss)
	}
	audited := false
	for _, a := range f.auditRows(t, "worker") {
		if a.action == "read_person" && a.entity == "sampling_round" && len(a.personIDs) == miss {
			audited = true
		}
	}
	if !audited || strings.Contains(missing.Persons[0].Name, "*") {
		t.Fatalf("worker's unmasked read: audited %v, first %+v", audited, missing.Persons[0])
	}
	if code := f.get(t, "sampler", fmt.Sprintf("/api/v1/sampling/rounds/%d/missing?area_id=3", r.ID), &missing); code != 200 {
		t.Fatalf("sampler missing: %d", code)
	}
	for _, m := range missing.Persons {
		if m.Phone != "" && !strings.Contains(m.Phone, "*") {
			t.Fatalf("sampler sees a phone: %+v", m)
		}
	}

	// A positive pool: its 10 persons for retest, household 2 for sealing.
	var rep struct {
		Pool   struct{ Result string }
		Retest []struct {
			PersonID int64 `json:"person_id"`
		}
		Sealing []struct {
			HouseholdID int64 `json:"household_id"`
		} `json:"sealing_proposals"`
	}
	if code := f.send(t, "sampler", "POST", "/api/v1/sampling/pools/P-1/result", `{"result":"positive"}`, &e); code != 403 {
		t.Fatalf("sampler reports a pool: %d", code)
	}
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/pools/P-1/result", `{"result":"maybe"}`, &e); code != 400 || e.Error.Field != "result" {
		t.Fatalf("bad result: %d %+v", code, e)
	}
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/pools/P-1/result", `{"result":"positive"}`, &rep); code != 200 ||
		rep.Pool.Result != "positive" || len(rep.Retest) != 10 || len(rep.Sealing) != 1 || rep.Sealing[0].HouseholdID != 2 {
		t.Fatalf("positive pool: %d %+v", code, rep)
	}
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/pools/P-1/result", `{"result":"negative"}`, &e); code != 409 {
		t.Fatalf("contradicting result: %d", code)
	}
	if code := swab("sampler", 212, "T-4000", "P-1", &e); code != 409 || e.Error.Field != "pool_id" {
		t.Fatalf("swab into a reported pool: %d %+v", code, e)
	}
	var pools struct{ Pools []struct{ ID string } }
	if code := f.get(t, "viewer", fmt.Sprintf("/api/v1/sampling/rounds/%d/pools?result=positive", r.ID), &pools); code != 200 || len(pools.Pools) != 1 {
		t.Fatalf("positive pools: %d %+v", code, pools)
	}

	// A point used by an open round is not deleted; after closing, swabs are refused.
	if code := f.send(t, "commander", "DELETE", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID), "", &e); code != 409 {
		t.Fatalf("delete a point in use: %d", code)
	}
	if code := f.send(t, "commander", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/close", r.ID), "", &r); code != 200 || r.Status != "closed" {
		t.Fatalf("close: %d %+v", code, r)
	}
	if code := swab("sampler", 212, "T-4001", "P-4", &e); code != 409 {
		t.Fatalf("swab in a closed round: %d", code)
	}
	if code := f.send(t, "commander", "DELETE", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID), "", nil); code != 204 {
		t.Fatalf("delete a point after the round: %d", code)
	}
	// worker6 (community 6) does not see the round.
	if code := f.get(t, "worker6", fmt.Sprintf("/api/v1/sampling/rounds/%d", r.ID), &e); code != 404 {
		t.Fatalf("worker6 GET round: %d", code)
	}
}

type planAnswer struct {
	Teams []struct {
		Team         string `json:"team"`
		UserID       *int64 `json:"user_id"`
		ShiftMinutes int    `json:"shift_minutes"`
		Minutes      float64
		WalkM        float64 `json:"walk_m"`
		Route        *struct {
			Type        string
			Coordinates [][2]float64
		} `json:"route"`
		Stops []struct {
			Seq         int       `json:"seq"`
			HouseholdID int64     `json:"household_id"`
			ETA         time.Time `json:"eta"`
			Outcome     *string   `json:"outcome"`
			Address     string    `json:"address"`
			Lng         float64   `json:"lng"`
			Lat         float64   `json:"lat"`
		}
		RoundID int64 `json:"round_id"`
	}
	Unassigned        []int64 `json:"unassigned"`
	UnassignedReasons []struct {
		HouseholdID int64  `json:"household_id"`
		Reason      string `json:"reason"`
	} `json:"unassigned_reasons"`
}

func TestSamplingRoutes(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	var r roundAnswer
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/rounds",
		`{"name":"甲街道全员核酸","area_id":2,"date":"2022-04-10","start":"08:00"}`, &r); code != http.StatusCreated {
		t.Fatalf("create round: %d", code)
	}
	path := fmt.Sprintf("/api/v1/sampling/rounds/%d/routes", r.ID)
	before := f.samplingCounts(t)
	for _, tc := range []struct {
		name, user, body string
		status           int
		field            string
	}{
		{"no teams", "commander", `{"teams":[]}`, 400, "teams"},
		{"no depot", "commander", `{"teams":[{"name":"A"}]}`, 400, "teams[0].depot"},
		{"bad depot", "commander", `{"teams":[{"name":"A","depot":{"lng":200,"lat":31.1}}]}`, 400, "teams[0].depot"},
		{"unknown user", "commander", `{"teams":[{"name":"A","user_id":9999,"depot":{"lng":121.42,"lat":31.12}}]}`, 400, "teams[0].user_id"},
		{"long shift", "commander", `{"teams":[{"name":"A","depot":{"lng":121.42,"lat":31.12},"shift_minutes":2000}]}`, 400, "teams[0].shift_minutes"},
		{"sampler plans", "sampler", `{"teams":[{"name":"A","depot":{"lng":121.42,"lat":31.12}}]}`, 403, ""},
	} {
		var e apiError
		code := f.send(t, tc.user, "POST", path, tc.body, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	if after := f.samplingCounts(t); after != before {
		t.Fatalf("refused plans wrote: %s, then %s", before, after)
	}
	body := fmt.Sprintf(`{"teams":[{"name":"一队","user_id":%d,"depot":{"lng":121.42,"lat":31.12},"shift_minutes":60},
		{"name":"二队","depot":{"lng":121.46,"lat":31.12},"shift_minutes":60},
		{"name":"三队","depot":{"lng":121.42,"lat":31.13},"shift_minutes":45}],
		"seed":1,"budget_ms":500,"walk_kmh":4,"minutes_per_stop":5}`, f.ids["sampler"])
	var plan planAnswer
	if code := f.send(t, "commander", "POST", path, body, &plan); code != http.StatusCreated {
		t.Fatalf("plan: %d", code)
	}
	seen := map[int64]int{}
	start := time.Date(2022, 4, 10, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	stops := 0
	for _, tm := range plan.Teams {
		if tm.Minutes > float64(tm.ShiftMinutes) {
			t.Errorf("team %s works %.1f min, shift %d", tm.Team, tm.Minutes, tm.ShiftMinutes)
		}
		prev := start
		for i, s := range tm.Stops {
			seen[s.HouseholdID]++
			stops++
			if s.Seq != i+1 || !s.ETA.After(prev) {
				t.Errorf("team %s stop %d: seq %d, eta %v after %v", tm.Team, i, s.Seq, s.ETA, prev)
			}
			prev = s.ETA
		}
		if len(tm.Stops) > 0 && (tm.Route == nil || tm.Route.Type != "LineString" || len(tm.Route.Coordinates) != len(tm.Stops)+2) {
			t.Errorf("team %s route %+v for %d stops", tm.Team, tm.Route, len(tm.Stops))
		}
	}
	for _, u := range plan.UnassignedReasons {
		seen[u.HouseholdID]++
		if u.Reason == "" {
			t.Errorf("unassigned %d without reason", u.HouseholdID)
		}
	}
	if len(plan.Unassigned) != len(plan.UnassignedReasons) || len(plan.Unassigned) == 0 || stops == 0 {
		t.Fatalf("%d stops, unassigned %v / %v: 165 minutes of shifts cannot hold 31 stops of 5 minutes and the walks", stops, plan.Unassigned, plan.UnassignedReasons)
	}
	d2d := f.scalar(t, `SELECT count(*) FROM sampling_assignments WHERE round_id = $1 AND door_to_door`, r.ID)
	if len(seen) != d2d || d2d != 31 {
		t.Fatalf("%d households planned of %d door to door", len(seen), d2d)
	}
	for h, n := range seen {
		if n != 1 {
			t.Fatalf("household %d appears %d times", h, n)
		}
	}
	var again planAnswer
	if code := f.get(t, "viewer", path, &again); code != 200 || len(again.Teams) != 3 {
		t.Fatalf("GET routes: %d, %d teams", code, len(again.Teams))
	}
	// The viewer gets no line through the homes, and stops placed as the map places
	// households: address cut before its number, location moved to the cell centre.
	for i, tm := range again.Teams {
		if tm.Route != nil || len(tm.Stops) != len(plan.Teams[i].Stops) {
			t.Fatalf("viewer's team %s: route %v, %d stops", tm.Team, tm.Route, len(tm.Stops))
		}
		for j, st := range tm.Stops {
			own := plan.Teams[i].Stops[j]
			if !strings.HasSuffix(st.Address, "**") || st.Address == own.Address || (st.Lng == own.Lng && st.Lat == own.Lat) {
				t.Fatalf("viewer's stop %+v, commander's %+v", st, own)
			}
		}
	}

	// The sampler's own route, and an outcome that updates coverage live.
	var mine struct {
		RoundID int64 `json:"round_id"`
		Team    string
		Stops   []struct {
			HouseholdID int64 `json:"household_id"`
		}
	}
	if code := f.get(t, "sampler", "/api/v1/sampling/my-route", &mine); code != 200 || mine.RoundID != r.ID || mine.Team != "一队" {
		t.Fatalf("my-route: %d %+v", code, mine)
	}
	if code := f.get(t, "commander", "/api/v1/sampling/my-route", nil); code != 404 {
		t.Fatalf("commander my-route: %d", code)
	}
	var stop int64
	for _, s := range mine.Stops {
		if f.scalar(t, `SELECT area_id FROM households WHERE id = $1`, s.HouseholdID) == 3 {
			stop = s.HouseholdID
			break
		}
	}
	if stop == 0 {
		t.Fatalf("the sampler's route has no stop in community 3: %+v", mine.Stops)
	}
	_, sw0, _ := f.coverage(t, "commander", r.ID, "grid", 3)
	changes := f.scalar(t, `SELECT count(*) FROM changes WHERE entity = 'sampling' AND area_id = 3`)
	var e apiError
	if code := f.send(t, "sampler", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/stops/%d", r.ID, stop), `{"outcome":"gone"}`, &e); code != 400 || e.Error.Field != "outcome" {
		t.Fatalf("bad outcome: %d %+v", code, e)
	}
	if code := f.send(t, "sampler", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/stops/%d", r.ID, 1), `{"outcome":"done"}`, &e); code != 404 {
		t.Fatalf("outcome for a walk-in household: %d", code)
	}
	var st struct{ Outcome string }
	if code := f.send(t, "sampler", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/stops/%d", r.ID, stop), `{"outcome":"done"}`, &st); code != 200 || st.Outcome != "done" {
		t.Fatalf("done: %d %+v", code, st)
	}
	if _, sw1, _ := f.coverage(t, "commander", r.ID, "grid", 3); sw1 != sw0+1 {
		t.Fatalf("coverage swabbed %d → %d after a done stop", sw0, sw1)
	}
	if n := f.scalar(t, `SELECT count(*) FROM changes WHERE entity = 'sampling' AND area_id = 3`); n != changes+1 {
		t.Fatalf("coverage changes %d → %d", changes, n)
	}
	var after planAnswer
	if code := f.get(t, "sampler", path, &after); code != 200 {
		t.Fatal(code)
	}
	for _, tm := range after.Teams {
		for _, s := range tm.Stops {
			if (s.HouseholdID == stop) != (s.Outcome != nil && *s.Outcome == "done") {
				t.Fatalf("stop %d outcome %v", s.HouseholdID, s.Outcome)
			}
		}
	}
}

// TestSamplingNegativeRoundLiftsZone: a sealed zone waits for a negative round until
// a closed round over the zone has everyone inside swabbed and every pool negative.
func TestSamplingNegativeRoundLiftsZone(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	zone := &geojson.Feature{}
	// Around household 1 (persons 1 and 2) only.
	if code := f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"sealed","geometry":`+sq(121.408, 31.108, 121.412, 31.112)+`,"reason":"case in household 1"}`, zone); code != http.StatusCreated {
		t.Fatalf("zone: %d", code)
	}
	zid := int64(zone.Properties.MustFloat64("id"))
	waiting := func() (string, any) {
		t.Helper()
		z := &geojson.Feature{}
		if code := f.get(t, "commander", fmt.Sprintf("/api/v1/zones/%d", zid), z); code != 200 {
			t.Fatalf("GET zone: %d", code)
		}
		return fmt.Sprint(z.Properties["lift_waiting_for"]), z.Properties["lift_negative_round_id"]
	}
	var r roundAnswer
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/rounds", fmt.Sprintf(`{"name":"封控区核酸","zone_ids":[%d],"date":"2022-04-10"}`, zid), &r); code != http.StatusCreated {
		t.Fatalf("round: %d", code)
	}
	if r.Households != 1 || r.DoorToDoorHouseholds != 1 {
		t.Fatalf("zone round %+v: household 1 is sealed, so door to door", r)
	}
	swab := func(person int, tube string) {
		t.Helper()
		if code := f.send(t, "sampler", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/swabs", r.ID),
			fmt.Sprintf(`{"person_id":%d,"tube_id":%q,"pool_id":"Z-1"}`, person, tube), nil); code != http.StatusCreated {
			t.Fatalf("swab %d: %d", person, code)
		}
	}
	swab(1, "ZT-1")
	if code := f.send(t, "commander", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/close", r.ID), "", nil); code != 200 {
		t.Fatalf("close: %d", code)
	}
	// Person 2 is missing: the closed round is not negative.
	if w, id := waiting(); !strings.Contains(w, "negative round") || id != nil {
		t.Fatalf("with person 2 missing: %s, round %v", w, id)
	}
	var r2 roundAnswer
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/rounds", fmt.Sprintf(`{"name":"第二轮","zone_ids":[%d],"date":"2022-04-11"}`, zid), &r2); code != http.StatusCreated {
		t.Fatalf("round 2: %d", code)
	}
	for i, person := range []int{1, 2} {
		if code := f.send(t, "sampler", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/swabs", r2.ID),
			fmt.Sprintf(`{"person_id":%d,"tube_id":"ZT-%d","pool_id":"Z-2"}`, person, 10+i), nil); code != http.StatusCreated {
			t.Fatalf("round 2 swab %d: %d", person, code)
		}
	}
	if code := f.send(t, "commander", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/close", r2.ID), "", nil); code != 200 {
		t.Fatalf("close 2: %d", code)
	}
	// Everyone swabbed, but the pool is still pending.
	if w, id := waiting(); !strings.Contains(w, "negative round") || id != nil {
		t.Fatalf("with the pool pending: %s, round %v", w, id)
	}
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/pools/Z-2/result", `{"result":"negative"}`, nil); code != 200 {
		t.Fatalf("report: %d", code)
	}
	w, id := waiting()
	if strings.Contains(w, "negative round") || id != float64(r2.ID) || !strings.Contains(w, "days without a new case") {
		t.Fatalf("after a negative round: waiting for %s, round %v (want %d)", w, id, r2.ID)
	}
}
