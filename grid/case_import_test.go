package grid_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

const casesPath = "../cmd/gridtrace/demodata/cases-2022-04-04.csv.gz"

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := grid.ParseTime(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadShanghaiCases(t *testing.T) {
	t.Parallel()
	s, pool := importStreets(t)
	ctx := context.Background()
	opt := grid.CaseCSVOptions{ReportedAt: mustTime(t, "2022-04-04"), Source: "shanghai-2022-04-04"}
	load := func() (grid.LoadReport, []grid.RowError) {
		r, err := grid.NewCaseCSV(bytes.NewReader(gunzipFile(t, casesPath)), opt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Format() != grid.CaseFormatGeocoded {
			t.Fatalf("format %s", r.Format())
		}
		rep, err := s.LoadCases(ctx, r.Batches(0))
		if err != nil {
			t.Fatalf("load: %v %+v", err, rep.Rejected)
		}
		return rep, r.Skipped()
	}
	rep, skipped := load()
	if rep.Inserted != 3658 || rep.Skipped != 0 {
		t.Fatalf("report %+v", rep)
	}
	// The 32 addresses without coordinates are reported by line (the header is line 1,
	// so row id 93 is line 95), not loaded.
	if len(skipped) != 32 || skipped[0].Line != 95 || !strings.Contains(skipped[0].Error(), "line 95: latitude: is empty") {
		t.Fatalf("%d skipped, first %v", len(skipped), skipped[0])
	}
	if n := countRows(t, pool, `SELECT count(*) FROM cases WHERE ext_id = 'shanghai-2022-04-04/93'`); n != 0 {
		t.Fatal("a case without coordinates was loaded")
	}
	if n := countRows(t, pool, `SELECT count(*) FROM cases WHERE ext_id = 'shanghai-2022-04-04/0' AND address = '八灶村郭家宅'
		AND kind = 'confirmed' AND reported_at = '2022-04-04 00:00:00+08'`); n != 1 {
		t.Fatal("row 0 not loaded as in the file")
	}
	// Every case in Shanghai lies in a street (found by PostGIS independently).
	if n := countRows(t, pool, `
SELECT count(*) FROM cases c
WHERE c.area_id IS DISTINCT FROM (SELECT a.id FROM areas a WHERE a.level = 'street' AND ST_Intersects(a.geom, c.geom) ORDER BY a.id LIMIT 1)`); n != 0 {
		t.Fatalf("%d cases not in the street containing them", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM cases WHERE area_id IS NULL`); n != rep.Unassigned {
		t.Fatalf("%d unassigned, report says %d", n, rep.Unassigned)
	}
	// H3 columns are geo.CellOf's.
	rows, err := pool.Query(ctx, `SELECT ST_X(geom), ST_Y(geom), h3_r8, h3_r12 FROM cases`)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for rows.Next() {
		var p orb.Point
		var r8, r12 int64
		if err := rows.Scan(&p[0], &p[1], &r8, &r12); err != nil {
			t.Fatal(err)
		}
		c8, _ := geo.CellOf(p, 8)
		c12, _ := geo.CellOf(p, 12)
		if geo.Cell(r8) != c8 || geo.Cell(r12) != c12 {
			t.Fatalf("%v: cells %x %x, want %s %s", p, r8, r12, c8, c12)
		}
		checked++
	}
	if rows.Err() != nil || checked != 3658 {
		t.Fatalf("checked %d (%v)", checked, rows.Err())
	}

	// Loading the file again inserts nothing.
	rep, _ = load()
	if rep.Inserted != 0 || rep.Skipped != 3658 {
		t.Fatalf("re-import %+v", rep)
	}
}

func TestLoadCasesBadFile(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	in := `ext_id,lng,lat,kind,reported_at
c1,121.4,31.2,confirmed,2022-04-04
c2,121.4,31.2,probable,2022-04-04
c3,121.4,-91,confirmed,2022-04-04
c1,121.4,31.2,confirmed,2022-04-04
`
	r, err := grid.NewCaseCSV(strings.NewReader(in), grid.CaseCSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.LoadCases(context.Background(), r.Batches(0))
	if grid.KindOf(err) != grid.Invalid {
		t.Fatalf("error %v", err)
	}
	var got []string
	for _, e := range rep.Rejected {
		got = append(got, e.Error())
	}
	want := []string{`line 3: kind: "probable" is not one of confirmed, asymptomatic, suspected`, `line 4: lat: -91 is outside [-90, 90]`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rejected\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := countRows(t, pool, `SELECT count(*) FROM cases`); n != 0 {
		t.Fatalf("%d cases written", n)
	}
	// Once the rows are fixed, the duplicate ext_id is what remains.
	in = strings.Replace(strings.Replace(in, "probable", "suspected", 1), "-91", "31.2", 1)
	r, _ = grid.NewCaseCSV(strings.NewReader(in), grid.CaseCSVOptions{})
	rep, err = s.LoadCases(context.Background(), r.Batches(0))
	if grid.KindOf(err) != grid.Invalid || len(rep.Rejected) != 1 || rep.Rejected[0].Error() != `line 5: ext_id: "c1" is already used at line 2` {
		t.Fatalf("duplicate: %v %+v", err, rep.Rejected)
	}
}
