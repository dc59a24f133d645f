package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
)

type coverageRow struct {
	AreaID   int64  `json:"area_id"`
	Name     string `json:"name"`
	Level    string `json:"level"`
	Direct   bool   `json:"direct"`
	Expected int    `json:"expected"`
	Swabbed  int    `json:"swabbed"`
	Missing  int    `json:"missing"`
}

// TestSamplingCoverageAddsUp: households attached directly to a street (household 6
// and a new one of two persons, in street 2 but in no community) and to a community
// without a grid (household 1, while household 2 lies in grid 9) count in a row
// marked direct for that street or community, so at every level, for admin and for
// the street's commander, the rows under an area (its direct row included) add up
// to the area's row one level up; and none is counted twice.
func TestSamplingCoverageAddsUp(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	f.exec(t, `INSERT INTO areas (id, parent_id, level, name, code, ancestors, geom) VALUES
		(9, 3, 'grid', '一社区二网格', '测试区/甲街道/一社区/二网格', '{1,2,3,9}', ST_Multi(ST_MakeEnvelope(121.415, 31.115, 121.425, 31.125, 4326)))`)
	f.exec(t, `UPDATE households SET area_id = 9 WHERE id = 2`)
	f.exec(t, `INSERT INTO households (id, area_id, address, geom, h3_r8, h3_r12) VALUES
		(50, 2, '甲街道无社区2号', ST_SetSRID(ST_MakePoint(121.48, 31.17), 4326), 0, 0)`)
	f.exec(t, `INSERT INTO persons (id, household_id, name) VALUES (50, 50, '街道户一'), (51, 50, '街道户二')`)
	var r roundAnswer
	if code := f.send(t, "admin", "POST", "/api/v1/sampling/rounds", `{"name":"测试区全员核酸","area_id":1,"date":"2022-04-10"}`, &r); code != http.StatusCreated {
		t.Fatalf("create round: %d", code)
	}
	for i, p := range []int{8, 50, 3, 1, 4} {
		body := fmt.Sprintf(`{"person_id":%d,"tube_id":"T-%d","pool_id":"P-1"}`, p, i)
		if code := f.send(t, "admin", "POST", fmt.Sprintf("/api/v1/sampling/rounds/%d/swabs", r.ID), body, nil); code != http.StatusCreated {
			t.Fatalf("swab person %d: %d", p, code)
		}
	}

	// ancestors and levels of every area, to find each row's unit one level up.
	type area struct {
		level     string
		ancestors []int64
	}
	areas := map[int64]area{}
	rows, err := f.pool.Query(context.Background(), `SELECT id, level, ancestors FROM areas`)
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
	levels := []string{"district", "street", "community", "grid"}
	depth := func(l string) int { return slices.Index(levels, l) }
	// unitOf is the finest ancestor of id (itself included) no finer than level.
	unitOf := func(id int64, level string) int64 {
		best := int64(0)
		for _, a := range areas[id].ancestors {
			if depth(areas[a].level) <= depth(level) {
				best = a
			}
		}
		return best
	}

	get := func(user, level string) []coverageRow {
		var cov struct {
			Rows []coverageRow `json:"rows"`
		}
		if code := f.get(t, user, fmt.Sprintf("/api/v1/sampling/rounds/%d/coverage?level=%s", r.ID, level), &cov); code != http.StatusOK {
			t.Fatalf("%s coverage at %s: %d", user, level, code)
		}
		for _, x := range cov.Rows {
			if x.Expected != x.Swabbed+x.Missing || x.Direct != (x.Level != level) || areas[x.AreaID].level != x.Level {
				t.Errorf("%s at %s: row %+v", user, level, x)
			}
		}
		return cov.Rows
	}
	for _, user := range []string{"admin", "commander"} {
		total := -1
		for i := 1; i < len(levels); i++ {
			coarse, fine := get(user, levels[i-1]), get(user, levels[i])
			sum := map[int64][2]int{}
			n := 0
			for _, x := range fine {
				u := unitOf(x.AreaID, levels[i-1])
				sum[u] = [2]int{sum[u][0] + x.Expected, sum[u][1] + x.Swabbed}
				n += x.Expected
			}
			want := map[int64][2]int{}
			m := 0
			for _, x := range coarse {
				want[x.AreaID] = [2]int{x.Expected, x.Swabbed}
				m += x.Expected
			}
			if fmt.Sprint(sum) != fmt.Sprint(want) || n != m {
				t.Errorf("%s: %s rows add up to %v (%d persons), %s rows are %v (%d)", user, levels[i], sum, n, levels[i-1], want, m)
			}
			if total >= 0 && n != total {
				t.Errorf("%s: %d persons at %s, %d above", user, n, levels[i], total)
			}
			total = n
		}
		// The explicit rows the command staff read: street 2's "no community" row
		// (persons 8, 50, 51; two swabbed), and community 3's "no grid" row
		// (household 1: persons 1 and 2, one swabbed; the fixture's 20 bed-ridden
		// households of community 3, one person each, none swabbed).
		var street, community []coverageRow
		for _, x := range get(user, "community") {
			if x.Direct {
				street = append(street, x)
			}
		}
		for _, x := range get(user, "grid") {
			if x.Direct && x.AreaID == 3 {
				community = append(community, x)
			}
		}
		if len(street) != 1 || street[0].AreaID != 2 || street[0].Expected != 3 || street[0].Swabbed != 2 || street[0].Name != "甲街道" {
			t.Errorf("%s: direct rows at community level %+v, want street 2 with 3 persons, 2 swabbed", user, street)
		}
		if len(community) != 1 || community[0].Expected != 22 || community[0].Swabbed != 1 {
			t.Errorf("%s: community 3's direct row at grid level %+v, want 22 persons, 1 swabbed", user, community)
		}
	}
}
