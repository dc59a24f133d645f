package grid_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
)

// samplingIndependent counts the sampling columns of day's report at level from
// plain reads of the tables, with units reached through d.unitOf (parent_id walked)
// and the swabbed test done here: a swab of the person in the round, or the
// household's stop of that round marked done. It also answers how many persons of
// the day count only through a done stop.
func samplingIndependent(t *testing.T, dm careDemo, d *independentData, day time.Time, level grid.Level) (map[int64][3]int, int) {
	t.Helper()
	ctx := context.Background()
	q := func(sql string, scan func(vals []any), args ...any) {
		t.Helper()
		rows, err := dm.pool.Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		defer rows.Close()
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			scan(vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	rounds := map[int64]bool{}
	q(`SELECT id, day FROM sampling_rounds`, func(v []any) {
		if v[1].(time.Time).Equal(day) {
			rounds[v[0].(int64)] = true
		}
	})
	swabbed, done := map[string]bool{}, map[string]bool{}
	q(`SELECT round_id, person_id FROM sampling_swabs`, func(v []any) { swabbed[fmt.Sprint(v[0], "/", v[1])] = true })
	q(`SELECT round_id, household_id, outcome FROM sampling_outcomes`, func(v []any) {
		done[fmt.Sprint(v[0], "/", v[1])] = v[2].(string) == "done"
	})
	members := map[int64][]int64{} // household → living persons
	q(`SELECT id, household_id, status FROM persons`, func(v []any) {
		if v[2].(string) != "deceased" {
			members[v[1].(int64)] = append(members[v[1].(int64)], v[0].(int64))
		}
	})
	out := map[int64][3]int{}
	for id, l := range d.levelOf {
		if l == level {
			out[id] = [3]int{}
		}
	}
	onlyDone := 0
	q(`SELECT round_id, household_id, COALESCE(grid_id, 0) FROM sampling_assignments`, func(v []any) {
		r, h, area := v[0].(int64), v[1].(int64), v[2].(int64)
		u, ok := d.unitOf[area][level]
		if !rounds[r] || area == 0 || !ok {
			return
		}
		c := out[u]
		for _, p := range members[h] {
			c[0]++
			sw, dn := swabbed[fmt.Sprint(r, "/", p)], done[fmt.Sprint(r, "/", h)]
			if sw || dn {
				c[1]++
			} else {
				c[2]++
			}
			if dn && !sw {
				onlyDone++
			}
		}
		out[u] = c
	})
	return out, onlyDone
}

// TestDailyReportSampling: a round on a small demo (some swabs, door-to-door stops
// done and not) and a second round the next day; the report's sampling columns at
// every level equal samplingIndependent, a street without a round shows zeros on the
// round's day, a day without rounds shows zeros everywhere, and a grid worker sees
// their grids' own numbers.
func TestDailyReportSampling(t *testing.T) {
	t.Parallel()
	dm := newCareDemo(t, 20, 2)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := dm.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var streets []int64
	rows, err := dm.pool.Query(ctx, `SELECT DISTINCT a.ancestors[2] FROM households h JOIN areas a ON a.id = h.area_id ORDER BY 1 LIMIT 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		streets = append(streets, id)
	}
	rows.Close()
	if len(streets) != 2 {
		t.Fatalf("streets with households: %v", streets)
	}
	var level string
	dm.pool.QueryRow(ctx, `SELECT level FROM areas WHERE id = $1`, streets[0]).Scan(&level)
	if level != string(grid.Street) {
		t.Fatalf("ancestors[2] of a grid is a %s, want a street", level)
	}
	street, other := streets[0], streets[1]
	day := dm.day0.AddDate(0, 0, 2)
	// A round on day for the first street: every household assigned, one in five
	// door-to-door; a third of the persons swabbed (some of them in done homes too);
	// half the door-to-door stops done, the others nobody home; one resident deceased.
	newRound := func(day time.Time, filter string) int64 {
		t.Helper()
		var id int64
		if err := dm.pool.QueryRow(ctx, `INSERT INTO sampling_rounds (name, area_id, day, start_time, slot_minutes, walk_limit_m, walk_kmh)
			VALUES ('全员核酸', $1, $2, '08:00', 10, 500, 4) RETURNING id`, street, day).Scan(&id); err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO sampling_assignments (round_id, household_id, grid_id, persons, door_to_door)
			SELECT $1, h.id, h.area_id, 2, h.id % 5 = 0 FROM households h JOIN areas a ON a.id = h.area_id
			WHERE $2 = ANY(a.ancestors) AND `+filter, id, street)
		return id
	}
	r1 := newRound(day, "true")
	exec(`UPDATE persons SET status = 'deceased' WHERE id = (SELECT min(p.id) FROM persons p JOIN sampling_assignments sa ON sa.household_id = p.household_id WHERE sa.round_id = $1)`, r1)
	exec(`INSERT INTO sampling_pools (id, round_id) SELECT 'P' || p.id, $1 FROM persons p JOIN sampling_assignments sa ON sa.household_id = p.household_id
		WHERE sa.round_id = $1 AND p.id % 3 = 0`, r1)
	exec(`INSERT INTO sampling_swabs (round_id, person_id, household_id, tube_id, pool_id, taken_at)
		SELECT $1, p.id, p.household_id, 'T' || p.id, 'P' || p.id, $2 FROM persons p JOIN sampling_assignments sa ON sa.household_id = p.household_id
		WHERE sa.round_id = $1 AND p.id % 3 = 0`, r1, day)
	exec(`INSERT INTO sampling_outcomes (round_id, household_id, outcome)
		SELECT round_id, household_id, CASE WHEN household_id % 10 = 0 THEN 'done' ELSE 'nobody_home' END
		FROM sampling_assignments WHERE round_id = $1 AND door_to_door`, r1)
	// The next day's round: half the households, nothing swabbed yet.
	newRound(day.AddDate(0, 0, 1), "h.id % 2 = 0")

	admin := careCaller(grid.Admin)
	now := dateOf("2026-12-31")
	ind := loadIndependent(t, dm.pool)
	for _, k := range []int{2, 3, 5} {
		d := dm.day0.AddDate(0, 0, k)
		for _, level := range grid.Levels {
			got, err := dm.s.DailyReport(ctx, admin, d, level, now)
			if err != nil {
				t.Fatal(err)
			}
			want, onlyDone := samplingIndependent(t, dm, ind, d, level)
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d rows, want %d", d.Format(time.DateOnly), level, len(got), len(want))
			}
			var total [3]int
			for _, r := range got {
				g := [3]int{r.SamplingExpected, r.SamplingSwabbed, r.SamplingMissing}
				if w, ok := want[r.AreaID]; !ok || g != w {
					t.Fatalf("%s %s area %d (%s): sampling %v, independent count %v", d.Format(time.DateOnly), level, r.AreaID, r.Code, g, w)
				}
				for i := range g {
					total[i] += g[i]
				}
				if level == grid.Street && r.AreaID == other && g != [3]int{} {
					t.Fatalf("street %d has no round but reports %v", other, g)
				}
			}
			switch k {
			case 2:
				if total[0] == 0 || total[1] == 0 || total[2] == 0 || onlyDone == 0 {
					t.Fatalf("%s: round day totals %v, %d counted by a done stop only", level, total, onlyDone)
				}
			case 3:
				if total[0] == 0 || total[1] != 0 {
					t.Fatalf("%s: second round totals %v, want expected persons, none swabbed", level, total)
				}
			case 5:
				if total != [3]int{} {
					t.Fatalf("%s: a day without rounds reports %v", level, total)
				}
			}
		}
	}
	// Through the API's columns: the three appear in order, last.
	n := len(grid.ReportColumns)
	if fmt.Sprint(grid.ReportColumns[n-3:]) != "[sampling_expected sampling_swabbed sampling_missing]" {
		t.Fatalf("columns %v", grid.ReportColumns)
	}
	// A grid worker of a community of the street sees those grids' numbers only.
	var community int64
	dm.pool.QueryRow(ctx, `SELECT a.parent_id FROM sampling_assignments sa JOIN areas a ON a.id = sa.grid_id
		WHERE sa.round_id = $1 ORDER BY a.id LIMIT 1`, r1).Scan(&community)
	all, _ := dm.s.DailyReport(ctx, admin, day, grid.GridLevel, now)
	byID := map[int64]grid.ReportRow{}
	for _, r := range all {
		byID[r.AreaID] = r
	}
	mine, err := dm.s.DailyReport(ctx, careCaller(grid.GridWorker, community), day, grid.GridLevel, now)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, r := range mine {
		if r.ParentID != community || r.Values()[n-3] != byID[r.AreaID].Values()[n-3] {
			t.Fatalf("worker row %+v, admin row %+v", r, byID[r.AreaID])
		}
		sum += r.SamplingExpected
	}
	if len(mine) == 0 || sum == 0 {
		t.Fatalf("the worker of community %d sees %d rows, %d expected", community, len(mine), sum)
	}
}
