package grid_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// loadHouseholdCSV imports a households CSV the way `gridtrace import households` does.
func loadHouseholdCSV(t *testing.T, s *grid.Store, csv string) (grid.LoadReport, error) {
	t.Helper()
	r, err := grid.NewHouseholdCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	return s.LoadHouseholds(context.Background(), r.Batches(2))
}

func countRows(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// goodHouseholds lies in Shanghai: H1 in 黄浦区 (People's Square), H2 in 浦东新区
// (万祥镇's point on surface is computed by the test), H3 at sea off the coast.
const goodHouseholds = grid.HouseholdCSVHeader + `
H1,121.4737,31.2304,人民大道200号,3,2,张三,310101195001011234,13800000000,1950-01-01,男,home_isolation,elderly_alone;disabled
H1,,,,,,李四,,,2015-06-01,F,,left_behind_child
H2,121.4990,31.2397,陆家嘴环路1号,,,,,,,,,
H3,122.5,30.5,东海,,,王五,,,,,,
`

func TestLoadHouseholdsGoodFile(t *testing.T) {
	t.Parallel()
	s, pool := importStreets(t)
	ctx := context.Background()
	rep, err := loadHouseholdCSV(t, s, goodHouseholds)
	if err != nil {
		t.Fatalf("load: %v %+v", err, rep.Rejected)
	}
	if rep.Inserted != 3 || rep.Persons != 3 || rep.Skipped != 0 || rep.Unassigned != 1 {
		t.Fatalf("report %+v", rep)
	}
	// H3 cells are geo.CellOf's, and each household sits in the street containing it.
	rows, err := pool.Query(ctx, `
SELECT h.ext_id, ST_X(h.geom), ST_Y(h.geom), h.h3_r8, h.h3_r12, coalesce(a.code, ''), h.building, h.unit
FROM households h LEFT JOIN areas a ON a.id = h.area_id ORDER BY h.ext_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	wantArea := map[string]string{"H1": "黄浦区/", "H2": "浦东新区/", "H3": ""}
	for rows.Next() {
		var ext, code, building, unit string
		var p orb.Point
		var r8, r12 int64
		if err := rows.Scan(&ext, &p[0], &p[1], &r8, &r12, &code, &building, &unit); err != nil {
			t.Fatal(err)
		}
		c8, _ := geo.CellOf(p, 8)
		c12, _ := geo.CellOf(p, 12)
		if geo.Cell(r8) != c8 || geo.Cell(r12) != c12 {
			t.Errorf("%s: cells %x %x, want %s %s", ext, r8, r12, c8, c12)
		}
		if w := wantArea[ext]; (w == "") != (code == "") || !strings.HasPrefix(code, w) {
			t.Errorf("%s: area %q, want a street of %q", ext, code, w)
		}
		if ext == "H1" && (building != "3" || unit != "2") {
			t.Errorf("H1 building %q unit %q", building, unit)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The area is the finest containing one, cross-checked against PostGIS directly.
	if n := countRows(t, pool, `
SELECT count(*) FROM households h JOIN areas a ON a.id = h.area_id
WHERE a.level = 'street' AND ST_Intersects(a.geom, h.geom)`); n != 2 {
		t.Fatalf("%d households in the street containing them", n)
	}
	if n := countRows(t, pool, `
SELECT count(*) FROM persons p JOIN households h ON h.id = p.household_id
WHERE h.ext_id = 'H1' AND ((p.name = '张三' AND p.sex = 'M' AND p.status = 'home_isolation'
       AND p.vulnerability = '{elderly_alone,disabled}' AND p.birth_date = '1950-01-01' AND p.id_number = '310101195001011234')
    OR (p.name = '李四' AND p.sex = 'F' AND p.status = 'normal' AND p.vulnerability = '{left_behind_child}'))`); n != 2 {
		t.Fatalf("H1's persons not as in the file (%d match)", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM changes WHERE entity = 'households' AND payload->>'inserted' = '3' AND array_length(bbox, 1) = 4`); n != 1 {
		t.Fatalf("%d change rows", n)
	}

	// Importing the file again skips every household: no duplicates.
	rep, err = loadHouseholdCSV(t, s, goodHouseholds)
	if err != nil || rep.Inserted != 0 || rep.Skipped != 3 || rep.Persons != 0 {
		t.Fatalf("re-import: %+v %v", rep, err)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM persons`); n != 3 {
		t.Fatalf("%d persons after re-import", n)
	}
}

func TestLoadHouseholdsBadFiles(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	tests := []struct {
		name string
		rows string
		want string // the first bad row, as reported
	}{
		{"bad coordinates", "H2,121.5,95,某路2号,,,,,,,,,", `line 3: lat: 95 is outside [-90, 90]`},
		{"missing address", "H2,121.5,31.2,,,,,,,,,,", `line 3: address: is required`},
		{"unknown status", "H2,121.5,31.2,某路2号,,,张三,,,,,sick,", `line 3: status: "sick" is not one of normal, health_monitoring`},
		{"unknown vulnerability", "H2,121.5,31.2,某路2号,,,张三,,,,,,elderly", `line 3: vulnerability: "elderly" is not one of elderly_alone`},
		{"bad sex", "H2,121.5,31.2,某路2号,,,张三,,,,X,,", `line 3: sex: "X" is not M, F or empty`},
		{"person without name", "H2,121.5,31.2,某路2号,,,,,13800000000,,,,", `line 3: name: is required for a person`},
		{"conflicting rows", "H2,121.5,31.2,某路2号,,,张三,,,,,,\nH2,121.5,31.2,某路3号,,,李四,,,,,,", `line 4: address: "某路3号" differs from "某路2号" on line 3`},
		{"key not consecutive", "H2,121.5,31.2,某路2号,,,,,,,,,\nH1,121.5,31.2,某路1号,,,,,,,,,", `line 4: household: "H1" is already used at line 2 (the rows of one household must be consecutive)`},
		{"person on a later row", "H2,121.5,31.2,某路2号,,,张三,,,,,,\nH2,,,,,,李四,,,,,bad,", `line 4: status: "bad" is not one of`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := grid.HouseholdCSVHeader + "\nH1,121.4,31.2,某路1号,,,王五,,,,,,\n" + tc.rows + "\n"
			rep, err := loadHouseholdCSV(t, s, in)
			if grid.KindOf(err) != grid.Invalid {
				t.Fatalf("error %v, want Invalid", err)
			}
			if len(rep.Rejected) == 0 || !strings.HasPrefix(rep.Rejected[0].Error(), tc.want) {
				t.Fatalf("rejected %v, want first %q", rep.Rejected, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing written") {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
			if n := countRows(t, pool, `SELECT (SELECT count(*) FROM households) + (SELECT count(*) FROM persons) + (SELECT count(*) FROM changes)`); n != 0 {
				t.Fatalf("%d rows written", n)
			}
		})
	}
}

func TestInsertHouseholdsWithoutLines(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	ctx := context.Background()
	hs := []grid.HouseholdInput{
		{ExtID: "a", Address: "x", Location: orb.Point{121.4, 31.2}},
		{ExtID: "b", Address: "y", Location: orb.Point{121.4, 31.2}, Persons: []grid.PersonInput{{Name: "n", Status: "sick"}}},
		{ExtID: "a", Address: "z", Location: orb.Point{121.4, 31.2}},
	}
	rep, err := s.InsertHouseholds(ctx, hs)
	if grid.KindOf(err) != grid.Invalid || len(rep.Rejected) != 1 || rep.Rejected[0].Field != "households[1].persons[0].status" {
		t.Fatalf("bad status: %v %+v", err, rep.Rejected)
	}
	hs[1].Persons[0].Status = ""
	rep, err = s.InsertHouseholds(ctx, hs)
	if grid.KindOf(err) != grid.Invalid || len(rep.Rejected) != 1 || rep.Rejected[0].Error() != `households[2].ext_id: "a" is already used by households[0]` {
		t.Fatalf("duplicate ext_id: %v %+v", err, rep.Rejected)
	}
	rep, err = s.InsertHouseholds(ctx, hs[:2])
	if err != nil || rep.Inserted != 2 || rep.Persons != 1 || rep.Unassigned != 2 {
		t.Fatalf("no areas: %+v %v", rep, err)
	}
}

func TestAssignAreasMovesHouseholdsDown(t *testing.T) {
	t.Parallel()
	s, pool := importStreets(t)
	ctx := context.Background()
	var hs []grid.HouseholdInput
	var cs []grid.CaseInput
	for i := 0; i < 20; i++ {
		p := orb.Point{121.47 + float64(i)*0.001, 31.23}
		hs = append(hs, grid.HouseholdInput{ExtID: fmt.Sprint("h", i), Address: "x", Location: p})
		cs = append(cs, grid.CaseInput{ExtID: fmt.Sprint("c", i), Kind: grid.Confirmed, ReportedAt: mustTime(t, "2022-04-04"), Location: p})
	}
	if _, err := s.InsertHouseholds(ctx, hs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertCases(ctx, cs); err != nil {
		t.Fatal(err)
	}
	// A community drawn over the first ten points, inserted as the demo would.
	if _, err := pool.Exec(ctx, `
INSERT INTO areas (parent_id, level, name, code, geom)
SELECT s.id, 'community', '测试社区', s.code || '/测试社区',
       ST_Multi(ST_MakeEnvelope(121.4695, 31.229, 121.4795, 31.231, 4326))
FROM areas s WHERE s.level = 'street' AND ST_Intersects(s.geom, ST_SetSRID(ST_MakePoint(121.47, 31.23), 4326))`); err != nil {
		t.Fatal(err)
	}
	n, err := s.AssignAreas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := countRows(t, pool, `SELECT count(*) FROM households h JOIN areas a ON a.id = h.area_id WHERE a.level = 'community'`)
	cin := countRows(t, pool, `SELECT count(*) FROM cases c JOIN areas a ON a.id = c.area_id WHERE a.level = 'community'`)
	if in != 10 || cin != 10 || n != 20 {
		t.Fatalf("%d households and %d cases moved into the community, %d changed", in, cin, n)
	}
	// The others stay in their streets, which now have a child but not under them.
	if out := countRows(t, pool, `SELECT count(*) FROM households h JOIN areas a ON a.id = h.area_id WHERE a.level = 'street' AND ST_Intersects(a.geom, h.geom)`); out != 10 {
		t.Fatalf("%d households left in their street", out)
	}
	if n, err := s.AssignAreas(ctx); err != nil || n != 0 {
		t.Fatalf("second AssignAreas changed %d (%v)", n, err)
	}
}
