package grid_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/grid/care"
)

// careDemo is the demo's areas (the 214 Shanghai streets with their synthetic
// communities and grids) with households of streets whose id is a multiple of
// streetEvery, perGrid in each of their grids, two residents each (one in 20
// vulnerable), a sealed, a control and a precaution zone in force since day0-1.
type careDemo struct {
	s    *grid.Store
	pool *pgxpool.Pool
	day0 time.Time // the first day of the simulation (a date)
}

func newCareDemo(tb testing.TB, streetEvery, perGrid int) careDemo {
	tb.Helper()
	s, pool := importStreets(tb)
	ctx := context.Background()
	if _, _, err := s.GenerateSubAreas(ctx, 1); err != nil {
		tb.Fatal(err)
	}
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	// Households at random points of their grid (fixed seed), persons with birth
	// dates spread over 86 years.
	exec(`INSERT INTO households (area_id, address, geom, h3_r8, h3_r12)
		SELECT g.id, g.name || '号', (ST_Dump(ST_GeneratePoints(g.geom, $2, g.id::int))).geom, 0, 0
		FROM areas g WHERE g.level = 'grid' AND g.ancestors[2] % $1 = 0`, streetEvery, perGrid)
	exec(`INSERT INTO persons (household_id, name, birth_date, vulnerability)
		SELECT h.id, '居民' || h.id || '-' || k, DATE '1940-01-01' + ((h.id * 7919 + k * 104729) % 31400)::int,
		       CASE WHEN (h.id + k) % 20 = 0 THEN '{elderly_alone}'::text[] ELSE '{}' END
		FROM households h CROSS JOIN generate_series(1, 2) k`)
	day0 := dateOf("2026-10-01")
	// Three zones around the centroid of the first street with households, in force
	// from the day before day0 (their first version is dated then).
	exec(`WITH c AS (SELECT ST_Centroid(geom) AS p FROM areas WHERE level = 'street' AND id % $1 = 0 ORDER BY id LIMIT 1),
		z(kind, r) AS (VALUES ('sealed', 0.006), ('control', 0.02), ('precaution', 0.05))
		INSERT INTO zones (kind, status, source, geom, activated_at, stepped_at, created_at)
		SELECT z.kind, 'active', 'drawn', ST_Multi(ST_Buffer(c.p, z.r)), '2026-09-30T00:00:00Z', '2026-09-30T00:00:00Z', '2026-09-30T00:00:00Z'
		FROM c, z`, streetEvery)
	exec(`INSERT INTO zone_versions (zone_id, version, action, kind, status, geom, changed_at)
		SELECT id, 1, 'create', kind, status, geom, '2026-09-30T00:00:00Z' FROM zones`)
	exec(`ANALYZE`)
	return careDemo{s: s, pool: pool, day0: day0}
}

// simulate places n people under isolation or monitoring over the first five
// days (home isolation for those whose age allows it, monitoring for the others, a
// tenth of them transferred to a central site), generates their check-ins over 14
// days with some missed and some fevers, contacts half the due vulnerable people
// each day, submits some grids' reports, and sweeps at the end of most days.
func (d careDemo) simulate(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	admin := careCaller(grid.Admin)
	pol := care.DefaultPolicy()
	at := func(day time.Time, h int) time.Time { return pol.At(day, h) }
	rows, err := d.pool.Query(ctx, `SELECT id, birth_date FROM persons WHERE id % 5 = 3 ORDER BY id LIMIT $1`, n)
	if err != nil {
		t.Fatal(err)
	}
	type cand struct {
		id    int64
		birth time.Time
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.id, &c.birth); err != nil {
			t.Fatal(err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if len(cands) != n {
		t.Fatalf("%d candidates, want %d", len(cands), n)
	}
	// Sites with room for every transfer.
	var site int64
	if err := d.pool.QueryRow(ctx, `INSERT INTO isolation_sites (name, geom, rooms, area_id)
		SELECT '集中隔离点', ST_PointOnSurface(geom), 10000, id FROM areas WHERE level = 'grid' ORDER BY id LIMIT 1 RETURNING id`).Scan(&site); err != nil {
		t.Fatal(err)
	}
	reasons := grid.IsolationReasons
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(cands); i += 4 {
				c := cands[i]
				day := d.day0.AddDate(0, 0, i%5)
				age := care.Age(c.birth, day)
				in := grid.IsolationInput{PersonID: c.id, Kind: grid.HealthMonitoring, Reason: reasons[i%3]}
				if age >= 70 || age <= 14 {
					in.Kind = grid.HomeIsolation
					in.Conditions = care.Conditions{SeparateRoom: true, SeparateBathroom: true}
				}
				if _, err := d.s.PlaceIsolation(ctx, admin, in, at(day, 8)); err != nil {
					errs <- fmt.Errorf("place %d: %w", c.id, err)
					return
				}
				if i%10 == 9 {
					tr, err := d.s.RequestTransfer(ctx, admin, grid.TransferInput{PersonID: c.id, SiteID: site, Vehicle: "沪A"}, at(day, 10))
					if err == nil {
						_, err = d.s.AdvanceTransfer(ctx, admin, tr.ID, grid.TransferArrive, at(day, 14))
					}
					if err != nil {
						errs <- fmt.Errorf("transfer %d: %w", c.id, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Check-ins at 09:00 and 19:00 local on every day of every home spell; the
	// evening one missing on one spell-day in 23, so the sweeper raises alerts.
	if _, err := d.pool.Exec(ctx, `
		INSERT INTO checkins (isolation_id, at, temperature, source)
		SELECT i.id, (day + make_interval(hours => h - 8))::timestamp AT TIME ZONE 'UTC', 36.4 + (i.id % 7) / 10.0, 'resident'
		FROM isolations i
		CROSS JOIN LATERAL generate_series(i.began_on, i.start_date + i.period_days - 1, interval '1 day') AS day
		CROSS JOIN (VALUES (9), (19)) AS hh(h)
		WHERE i.kind <> 'central_isolation' AND i.status = 'active'
		  AND NOT (h = 19 AND (i.id + (day::date - i.began_on)) % 23 = 0)`); err != nil {
		t.Fatal(err)
	}
	// A few fevers, through the store so they raise their alerts; half closed.
	frows, _ := d.pool.Query(ctx, `SELECT id, began_on FROM isolations WHERE status = 'active' AND kind <> 'central_isolation' AND id % 97 = 0`)
	type spell struct {
		id    int64
		began time.Time
	}
	var fevers []spell
	for frows.Next() {
		var x spell
		frows.Scan(&x.id, &x.began)
		fevers = append(fevers, x)
	}
	frows.Close()
	for i, x := range fevers {
		when := at(x.began.AddDate(0, 0, 1), 15)
		k, err := d.s.RecordCheckIn(ctx, admin, x.id, grid.CheckInInput{TemperatureC: 38.1, Source: "worker", At: &when}, when)
		if err != nil || k.AlertID == 0 {
			t.Fatalf("fever check-in: %+v %v", k, err)
		}
		if i%2 == 0 {
			if _, err := d.s.UpdateAlert(ctx, admin, k.AlertID, grid.AlertClose, when.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := 0; k < 20; k++ {
		day := d.day0.AddDate(0, 0, k)
		// Half the due vulnerable people are contacted (those with an even id).
		if _, err := d.pool.Exec(ctx, `
			INSERT INTO care_contacts (person_id, day, at, needs)
			SELECT p.id, $1, $2, '{food}' FROM persons p JOIN households h ON h.id = p.household_id
			WHERE p.vulnerability <> '{}' AND p.id % 2 = 0
			  AND EXISTS (SELECT 1 FROM zones z WHERE z.kind IN ('sealed', 'control') AND ST_Intersects(z.geom, h.geom))`,
			day, at(day, 10)); err != nil {
			t.Fatal(err)
		}
		// Grids with an id divisible by 3 submit.
		if k%4 == 1 {
			if _, err := d.pool.Exec(ctx, `INSERT INTO report_submissions (area_id, day, submitted_at)
				SELECT id, $1, $2 FROM areas WHERE level = 'grid' AND id % 3 = 0`, day, at(day, 17)); err != nil {
				t.Fatal(err)
			}
		}
		// The sweeper catches up on missed check-ins whenever it runs; releases need
		// it on the last days (13 to 17).
		if k%3 == 0 || (k >= 13 && k <= 17) {
			if _, err := d.s.Sweep(ctx, at(day, 21)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// independentData is everything independentReport counts, read once with plain
// queries: units are reached by walking parent_id upwards (not through
// areas.ancestors), zones by the newest version per zone (a grouped max) with
// ST_Covers, and the counting is done here in Go.
type independentData struct {
	unitOf  map[int64]map[grid.Level]int64 // area → its unit at each level
	levelOf map[int64]grid.Level
	hhArea  map[int64]int64 // household → area
	spells  []struct {
		area  int64
		kind  string
		began time.Time
		ended *time.Time
	}
	vulnerable map[int64]int64 // person → household
	contacted  map[string]bool // idDay(person, day)
	alerts     []struct {
		area   int64
		raised time.Time
		closed *time.Time
	}
	submitted map[string]bool // idDay(area, day)
}

// idDay keys the contacted and submitted sets: a person or area on a day.
func idDay(id int64, day time.Time) string {
	return fmt.Sprintf("%d/%s", id, day.Format(time.DateOnly))
}

func loadIndependent(t *testing.T, pool *pgxpool.Pool) *independentData {
	t.Helper()
	ctx := context.Background()
	d := &independentData{unitOf: map[int64]map[grid.Level]int64{}, levelOf: map[int64]grid.Level{}, hhArea: map[int64]int64{},
		vulnerable: map[int64]int64{}, contacted: map[string]bool{}, submitted: map[string]bool{}}
	each := func(q string, scan func(r pgx.Rows) error, args ...any) {
		t.Helper()
		rows, err := pool.Query(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	each(`SELECT id, level FROM areas`, func(r pgx.Rows) error {
		var id int64
		var l string
		err := r.Scan(&id, &l)
		d.levelOf[id] = grid.Level(l)
		d.unitOf[id] = map[grid.Level]int64{}
		return err
	})
	each(`WITH RECURSIVE walk(area_id, anc) AS (
			SELECT id, id FROM areas
			UNION ALL
			SELECT w.area_id, a.parent_id FROM walk w JOIN areas a ON a.id = w.anc WHERE a.parent_id IS NOT NULL)
		SELECT area_id, anc FROM walk`, func(r pgx.Rows) error {
		var a, anc int64
		err := r.Scan(&a, &anc)
		d.unitOf[a][d.levelOf[anc]] = anc
		return err
	})
	each(`SELECT id, COALESCE(area_id, 0) FROM households`, func(r pgx.Rows) error {
		var h, a int64
		err := r.Scan(&h, &a)
		d.hhArea[h] = a
		return err
	})
	each(`SELECT household_id, kind, began_on, ended_on FROM isolations`, func(r pgx.Rows) error {
		var x struct {
			area  int64
			kind  string
			began time.Time
			ended *time.Time
		}
		var h int64
		err := r.Scan(&h, &x.kind, &x.began, &x.ended)
		x.area = d.hhArea[h]
		d.spells = append(d.spells, x)
		return err
	})
	each(`SELECT id, household_id FROM persons WHERE cardinality(vulnerability) > 0`, func(r pgx.Rows) error {
		var p, h int64
		err := r.Scan(&p, &h)
		d.vulnerable[p] = h
		return err
	})
	// idDays fills set with the idDay keys of q's (id, day) rows.
	idDays := func(q string, set map[string]bool) {
		t.Helper()
		each(q, func(r pgx.Rows) error {
			var id int64
			var day time.Time
			err := r.Scan(&id, &day)
			set[idDay(id, day)] = true
			return err
		})
	}
	idDays(`SELECT person_id, day FROM care_contacts`, d.contacted)
	each(`SELECT COALESCE(area_id, 0), raised_at, closed_at FROM alerts`, func(r pgx.Rows) error {
		var x struct {
			area   int64
			raised time.Time
			closed *time.Time
		}
		err := r.Scan(&x.area, &x.raised, &x.closed)
		d.alerts = append(d.alerts, x)
		return err
	})
	idDays(`SELECT area_id, day FROM report_submissions`, d.submitted)
	return d
}

// independentReport counts the report of day at level from d, with the zone kind
// of each household at the end of day read by its own query.
func independentReport(t *testing.T, pool *pgxpool.Pool, d *independentData, day time.Time, level grid.Level) map[int64][]int {
	t.Helper()
	end := care.DefaultPolicy().At(day, 24)
	kindOf := map[int64]int{} // household → 3 sealed, 4 control, 5 precaution (report columns)
	rows, err := pool.Query(context.Background(), `
		WITH zv AS (SELECT v.kind, v.geom FROM zone_versions v
			JOIN (SELECT zone_id, max(version) AS version FROM zone_versions WHERE changed_at < $1 GROUP BY zone_id) m
			  ON m.zone_id = v.zone_id AND m.version = v.version
			WHERE v.status IN ('active', 'downgraded'))
		SELECT h.id, CASE
			WHEN EXISTS (SELECT 1 FROM zv WHERE zv.kind = 'sealed' AND ST_Covers(zv.geom, h.geom)) THEN 3
			WHEN EXISTS (SELECT 1 FROM zv WHERE zv.kind = 'control' AND ST_Covers(zv.geom, h.geom)) THEN 4
			ELSE 5 END
		FROM households h WHERE EXISTS (SELECT 1 FROM zv WHERE ST_Covers(zv.geom, h.geom))`, end)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h int64
		var k int
		rows.Scan(&h, &k)
		kindOf[h] = k
	}
	rows.Close()
	out := map[int64][]int{}
	for id, l := range d.levelOf {
		if l == level {
			out[id] = make([]int, 11)
		}
	}
	add := func(area int64, col int) {
		if u, ok := d.unitOf[area][level]; ok && area != 0 {
			out[u][col]++
		}
	}
	for _, x := range d.spells {
		if x.began.After(day) || (x.ended != nil && !x.ended.After(day)) {
			continue
		}
		add(x.area, map[string]int{grid.HomeIsolation: 0, grid.CentralIsolation: 1, grid.HealthMonitoring: 2}[x.kind])
	}
	for h, k := range kindOf {
		add(d.hhArea[h], k)
	}
	for p, h := range d.vulnerable {
		if k := kindOf[h]; k == 3 || k == 4 {
			add(d.hhArea[h], 6)
			if d.contacted[idDay(p, day)] {
				add(d.hhArea[h], 7)
			}
		}
	}
	for _, a := range d.alerts {
		if a.raised.Before(end) && (a.closed == nil || !a.closed.Before(end)) {
			add(a.area, 8)
		}
	}
	for id, l := range d.levelOf {
		if l == grid.GridLevel {
			add(id, 9)
			if d.submitted[idDay(id, day)] {
				add(id, 10)
			}
		}
	}
	return out
}

func reportCounts(r grid.ReportRow) []int {
	return []int{r.HomeIsolation, r.CentralIsolation, r.HealthMonitoring, r.HouseholdsSealed, r.HouseholdsControl,
		r.HouseholdsPrecaution, r.VulnerableDue, r.VulnerableContacted, r.AlertsOpen, r.Grids, r.GridsSubmitted}
}

// TestDailyReportDemo places 5,000 people under isolation on the demo areas with
// 14 days of check-ins and checks the daily report of several days at every level
// against independentReport, zero rows included.
func TestDailyReportDemo(t *testing.T) {
	t.Parallel()
	start := time.Now()
	d := newCareDemo(t, 4, 3)
	built := time.Since(start)
	d.simulate(t, 5000)
	simulated := time.Since(start) - built
	ctx := context.Background()
	admin := careCaller(grid.Admin)
	now := dateOf("2026-12-31")
	var spells, released, alerts int
	d.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'released'), (SELECT count(*) FROM alerts) FROM isolations`).Scan(&spells, &released, &alerts)
	t.Logf("built in %v, simulated in %v: %d spells (%d released), %d alerts", built.Round(time.Millisecond), simulated.Round(time.Millisecond), spells, released, alerts)
	if released == 0 || alerts == 0 {
		t.Fatalf("the simulation released %d spells and raised %d alerts", released, alerts)
	}
	ind := loadIndependent(t, d.pool)
	for _, k := range []int{0, 2, 9, 15, 19} {
		day := d.day0.AddDate(0, 0, k)
		for _, level := range grid.Levels {
			rows, err := d.s.DailyReport(ctx, admin, day, level, now)
			if err != nil {
				t.Fatal(err)
			}
			want := independentReport(t, d.pool, ind, day, level)
			if len(rows) != len(want) {
				t.Fatalf("%s %s: %d rows, want one per unit: %d", day.Format(time.DateOnly), level, len(rows), len(want))
			}
			zeros, total := 0, make([]int, 11)
			for _, r := range rows {
				got := reportCounts(r)
				w, ok := want[r.AreaID]
				if !ok {
					t.Fatalf("row for area %d, not a %s", r.AreaID, level)
				}
				if fmt.Sprint(got[:10]) == fmt.Sprint([]int{0, 0, 0, 0, 0, 0, 0, 0, 0, w[9]}) {
					zeros++
				}
				for i := range got {
					total[i] += got[i]
					if got[i] != w[i] {
						t.Fatalf("%s %s area %d (%s) column %s: %d, independent count %d", day.Format(time.DateOnly), level, r.AreaID, r.Code,
							grid.ReportColumns[5+i], got[i], w[i])
					}
				}
			}
			if zeros == 0 && level != grid.District {
				t.Fatalf("%s %s: no zero-report row, though most streets have no household", day.Format(time.DateOnly), level)
			}
			if k == 9 && level == grid.Street {
				t.Logf("%s street totals %v (%d zero rows of %d)", day.Format(time.DateOnly), total, zeros, len(rows))
				if total[0]+total[2] == 0 || total[1] == 0 || total[3] == 0 || total[6] == 0 || total[7] == 0 || total[8] == 0 {
					t.Fatalf("a column is zero everywhere on day 9: %v", total)
				}
			}
		}
	}
	// A grid worker's report holds their community's grids only.
	var community int64
	d.pool.QueryRow(ctx, `SELECT parent_id FROM areas a WHERE level = 'grid' AND EXISTS (SELECT 1 FROM households h WHERE h.area_id = a.id) ORDER BY id LIMIT 1`).Scan(&community)
	rows, err := d.s.DailyReport(ctx, careCaller(grid.GridWorker, community), d.day0.AddDate(0, 0, 9), grid.GridLevel, now)
	if err != nil {
		t.Fatal(err)
	}
	if n := careCount(t, d.s, "areas", "parent_id = $1", community); len(rows) != n || n == 0 {
		t.Fatalf("the worker of community %d sees %d grid rows, want %d", community, len(rows), n)
	}
	if rows, _ := d.s.DailyReport(ctx, careCaller(grid.GridWorker, community), d.day0, grid.Street, now); len(rows) != 0 {
		t.Fatalf("the worker sees %d street rows (the street is above the jurisdiction)", len(rows))
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// BenchmarkDailyReport times the report of one day at each level over the demo-sized
// data: every street with households (5 per grid, about 100,000), 5,000 spells and a
// sampling round over every household on the day reported.
func BenchmarkDailyReport(b *testing.B) {
	d := newCareDemo(b, 1, 5)
	ctx := context.Background()
	var hh int
	d.pool.QueryRow(ctx, `SELECT count(*) FROM households`).Scan(&hh)
	// Spells by SQL (the simulation's store calls are the test's business).
	if _, err := d.pool.Exec(ctx, `
		INSERT INTO isolations (person_id, household_id, kind, reason, start_date, period_days, began_on)
		SELECT id, household_id, (ARRAY['home_isolation', 'health_monitoring', 'central_isolation'])[1 + id % 3], 'close_contact',
		       $1, 14, $1 FROM persons WHERE id % 40 = 0`, d.day0); err != nil {
		b.Fatal(err)
	}
	// A round that day over every household, a third of the persons swabbed and one
	// door-to-door stop in ten done, so the sampling columns have rows to count.
	for _, q := range []string{
		`INSERT INTO sampling_rounds (id, name, day, start_time, slot_minutes, walk_limit_m, walk_kmh) VALUES (1, '全员核酸', $1::date + 3, '08:00', 10, 500, 4)`,
		`INSERT INTO sampling_assignments (round_id, household_id, grid_id, persons, door_to_door) SELECT 1, id, area_id, 2, id % 10 = 0 FROM households WHERE $1::date IS NOT NULL`,
		`INSERT INTO sampling_pools (id, round_id) SELECT 'P' || (id / 10), 1 FROM persons WHERE id % 3 = 0 AND $1::date IS NOT NULL GROUP BY id / 10`,
		`INSERT INTO sampling_swabs (round_id, person_id, household_id, tube_id, pool_id) SELECT 1, id, household_id, 'T' || id, 'P' || (id / 10) FROM persons WHERE id % 3 = 0 AND $1::date IS NOT NULL`,
		`INSERT INTO sampling_outcomes (round_id, household_id, outcome) SELECT 1, id, 'done' FROM households WHERE id % 100 = 0 AND $1::date IS NOT NULL`,
	} {
		if _, err := d.pool.Exec(ctx, q, d.day0); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := d.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	admin := careCaller(grid.Admin)
	b.Logf("%d households", hh)
	for _, level := range grid.Levels {
		b.Run(string(level), func(b *testing.B) {
			var rows []grid.ReportRow
			for b.Loop() {
				var err error
				if rows, err = d.s.DailyReport(ctx, admin, d.day0.AddDate(0, 0, 3), level, dateOf("2026-12-31")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rows)), "rows")
		})
	}
}
