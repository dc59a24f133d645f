package grid_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gridtrace/gridtrace/grid"
)

// TestDailyReportDirectRows: what lies in an area but in no unit of the level asked
// (household 6 of street 2 in no community; household 1 of community 3, which now
// has a grid, in no grid) is reported in a Direct row of that area carrying its own
// level, so for admin and for the street's commander the rows under an area add up
// to its row one level up, column by column; a remainder row always has something
// to count.
func TestDailyReportDirectRows(t *testing.T) {
	t.Parallel()
	s, pool := loadJurisdiction(t)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO areas (id, parent_id, level, name, code, ancestors, geom) VALUES
		  (9, 3, 'grid', '一社区二网格', '测试区/甲街道/一社区/二网格', '{1,2,3,9}', ST_Multi(ST_MakeEnvelope(121.415, 31.115, 121.425, 31.125, 4326)))`,
		`UPDATE households SET area_id = 9 WHERE id = 2`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin := careCaller(grid.Admin)
	now := cstAt("2026-11-23 20:00")
	day := dateOf("2026-11-23")
	for _, p := range []int64{8, 3, 1} {
		if _, err := s.PlaceIsolation(ctx, admin, grid.IsolationInput{PersonID: p, Kind: grid.HealthMonitoring, Reason: "close_contact"},
			cstAt("2026-11-23 09:00")); err != nil {
			t.Fatalf("isolate person %d: %v", p, err)
		}
	}
	if _, err := s.CreateRound(ctx, admin, grid.RoundInput{Name: "测试区全员核酸", AreaID: 1, Date: "2026-11-23"}); err != nil {
		t.Fatal(err)
	}

	type area struct {
		level     string
		ancestors []int64
	}
	areas := map[int64]area{}
	rows, err := pool.Query(ctx, `SELECT id, level, ancestors FROM areas`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var a area
		if err := rows.Scan(&id, &a.level, &a.ancestors); err != nil {
			t.Fatal(err)
		}
		areas[id] = a
	}
	rows.Close()
	depth := func(l string) int { return slices.Index([]string{"district", "street", "community", "grid"}, l) }
	unitOf := func(id int64, level grid.Level) int64 {
		best := int64(0)
		for _, a := range areas[id].ancestors {
			if depth(areas[a].level) <= depth(string(level)) {
				best = a
			}
		}
		return best
	}
	counts := func(r grid.ReportRow) []int {
		return []int{r.HomeIsolation, r.CentralIsolation, r.HealthMonitoring, r.HouseholdsSealed, r.HouseholdsControl,
			r.HouseholdsPrecaution, r.VulnerableDue, r.VulnerableContacted, r.AlertsOpen, r.Grids, r.GridsSubmitted,
			r.SamplingExpected, r.SamplingSwabbed, r.SamplingMissing}
	}
	nonZero := func(m map[int64][]int) string {
		for k, v := range m {
			if !slices.ContainsFunc(v, func(x int) bool { return x != 0 }) {
				delete(m, k)
			}
		}
		return fmt.Sprint(m)
	}
	for _, c := range []grid.Caller{admin, careCaller(grid.Commander, 2)} {
		report := map[grid.Level][]grid.ReportRow{}
		for _, level := range grid.Levels {
			rs, err := s.DailyReport(ctx, c, day, level, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Direct != (r.Level != level) || string(r.Level) != areas[r.AreaID].level {
					t.Errorf("%s at %s: row %+v", c.User.Role, level, r)
				}
				if r.Direct && !slices.ContainsFunc(counts(r), func(x int) bool { return x != 0 }) {
					t.Errorf("%s at %s: an empty remainder row %+v", c.User.Role, level, r)
				}
			}
			report[level] = rs
		}
		for i := 1; i < len(grid.Levels); i++ {
			coarse, fine := grid.Levels[i-1], grid.Levels[i]
			sum, want := map[int64][]int{}, map[int64][]int{}
			for _, r := range report[fine] {
				u := unitOf(r.AreaID, coarse)
				// Above the caller's areas there is no row to add up to (the street's
				// commander has no district row).
				if c.User.Role != grid.Admin && !slices.ContainsFunc(c.User.AreaIDs, func(a int64) bool { return slices.Contains(areas[u].ancestors, a) }) {
					continue
				}
				if sum[u] == nil {
					sum[u] = make([]int, 14)
				}
				for j, v := range counts(r) {
					sum[u][j] += v
				}
			}
			for _, r := range report[coarse] {
				want[r.AreaID] = counts(r)
			}
			if got, w := nonZero(sum), nonZero(want); got != w {
				t.Errorf("%s: %s rows add up to %s, %s rows are %s", c.User.Role, fine, got, coarse, w)
			}
		}
		find := func(level grid.Level, id int64) *grid.ReportRow {
			for _, r := range report[level] {
				if r.AreaID == id && r.Direct {
					return &r
				}
			}
			return nil
		}
		// Street 2 in no community: person 8 monitored and expected at sampling.
		if r := find(grid.Community, 2); r == nil || r.Level != grid.Street || r.HealthMonitoring != 1 || r.SamplingExpected != 1 {
			t.Errorf("%s: street 2's remainder at community level %+v", c.User.Role, r)
		}
		// Community 3 in no grid: household 1, persons 1 (monitored) and 2.
		if r := find(grid.GridLevel, 3); r == nil || r.Level != grid.Community || r.HealthMonitoring != 1 || r.SamplingExpected != 2 {
			t.Errorf("%s: community 3's remainder at grid level %+v", c.User.Role, r)
		}
		// Community 4 has no grid at all: household 3 (persons 4 and 5) in its remainder.
		if r := find(grid.GridLevel, 4); r == nil || r.SamplingExpected != 2 || r.HealthMonitoring != 0 {
			t.Errorf("%s: community 4's remainder at grid level %+v", c.User.Role, r)
		}
	}
}
