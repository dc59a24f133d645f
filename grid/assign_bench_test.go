package grid_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// Issue 2's "assigning households to areas, PostGIS join vs an in-Go index over orb,
// side by side": the same streets and random points in PostGIS, assigned once by a
// spatial join and once by geo.PolygonIndex. Run with
//
//	GRIDTRACE_TEST_DATABASE_URL=... go test -run '^$' -bench Assign ./grid/
//
// The sub-benchmarks report points/s over one pass of all points (go-load-index:
// ms per build). The tests below keep the two sides honest: they must assign every
// point alike.

const (
	assignFullStreets   = "../../shared/data/shanghai/streets.geojson"
	assignSampleStreets = "../geo/testdata/streets-sample.geojson.gz"
)

// assignStreet is one feature: its code (AREA/STREET) and geometry as GeoJSON.
type assignStreet struct {
	Code string
	Geom json.RawMessage
}

// assignStreets reads the full streets when present, else the committed sample.
func assignStreets(tb testing.TB, preferFull bool) []assignStreet {
	tb.Helper()
	path := assignSampleStreets
	if _, err := os.Stat(assignFullStreets); err == nil && preferFull {
		path = assignFullStreets
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			tb.Fatal(err)
		}
	}
	var fc struct {
		Features []struct {
			Properties struct{ AREA, STREET string }
			Geometry   json.RawMessage
		}
	}
	if err := json.NewDecoder(r).Decode(&fc); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	out := make([]assignStreet, len(fc.Features))
	for i, ft := range fc.Features {
		out[i] = assignStreet{Code: ft.Properties.AREA + "/" + ft.Properties.STREET, Geom: ft.Geometry}
	}
	tb.Logf("streets: %s (%d)", path, len(out))
	return out
}

// assignFixture is a test database holding the streets in areas and n random points
// in bench_points.
type assignFixture struct {
	pool  *pgxpool.Pool
	n     int
	bound orb.Bound
	pts   []orb.Point // point i has id i
}

// newAssignFixture loads the streets with plain INSERTs (the import code is not under
// test here) and n points uniform in their bounding box with a fixed seed, into an
// UNLOGGED table (not TEMP: the pool hands out different connections).
func newAssignFixture(tb testing.TB, streets []assignStreet, n int) *assignFixture {
	tb.Helper()
	pool, _ := dbtest.New(tb)
	ctx := context.Background()
	batch := &pgx.Batch{}
	for _, s := range streets {
		batch.Queue(`INSERT INTO areas (level, name, code, geom)
VALUES ('street', $1, $2, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($3), 4326)))`,
			s.Code[strings.IndexByte(s.Code, '/')+1:], s.Code, string(s.Geom))
	}
	if err := pool.SendBatch(ctx, batch).Close(); err != nil {
		tb.Fatalf("insert streets: %v", err)
	}
	f := &assignFixture{pool: pool, n: n}
	if err := pool.QueryRow(ctx, `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(geom) e FROM areas) x`).Scan(&f.bound.Min[0], &f.bound.Min[1], &f.bound.Max[0], &f.bound.Max[1]); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2022, 4))
	f.pts = make([]orb.Point, n)
	rows := make([][]any, n)
	for i := range f.pts {
		f.pts[i] = orb.Point{
			f.bound.Min[0] + rng.Float64()*(f.bound.Max[0]-f.bound.Min[0]),
			f.bound.Min[1] + rng.Float64()*(f.bound.Max[1]-f.bound.Min[1]),
		}
		rows[i] = []any{int32(i), f.pts[i][0], f.pts[i][1]}
	}
	if _, err := pool.Exec(ctx, `CREATE UNLOGGED TABLE bench_points (id int PRIMARY KEY,
  lng float8 NOT NULL, lat float8 NOT NULL, geom geometry(Point, 4326), area_id bigint)`); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_points"}, []string{"id", "lng", "lat"}, pgx.CopyFromRows(rows)); err != nil {
		tb.Fatalf("copy points: %v", err)
	}
	for _, q := range []string{
		`UPDATE bench_points SET geom = ST_SetSRID(ST_MakePoint(lng, lat), 4326)`,
		// Like households_geom_idx: lets the planner choose either join order.
		`CREATE INDEX ON bench_points USING gist (geom)`,
		`VACUUM ANALYZE bench_points`,
		`ANALYZE areas`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// loadIndex reads the streets back as PostGIS stores them (WKB) and indexes them, as
// a server would at start-up.
func (f *assignFixture) loadIndex(tb testing.TB) *geo.PolygonIndex {
	rows, err := f.pool.Query(context.Background(), `SELECT id, ST_AsBinary(geom) FROM areas ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var items []geo.IndexedPolygon
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			tb.Fatal(err)
		}
		g, err := wkb.Unmarshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		items = append(items, geo.IndexedPolygon{ID: id, Geom: g.(orb.MultiPolygon)})
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return geo.NewPolygonIndex(items)
}

// postgisJoin is PostGIS's answer, point id → area id (0 for none); a point matched
// by two areas (only possible on a shared edge) is reported as an error.
func (f *assignFixture) postgisJoin(tb testing.TB) []int64 {
	rows, err := f.pool.Query(context.Background(), `SELECT p.id, a.id FROM bench_points p JOIN areas a ON ST_Intersects(a.geom, p.geom)`)
	if err != nil {
		tb.Fatal(err)
	}
	got := make([]int64, f.n)
	var pid int32
	var aid int64
	_, err = pgx.ForEachRow(rows, []any{&pid, &aid}, func() error {
		if got[pid] != 0 {
			return fmt.Errorf("point %d in areas %d and %d", pid, got[pid], aid)
		}
		got[pid] = aid
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// TestPolygonIndexMatchesPostGIS is the differential test for geo.PolygonIndex:
// ST_Intersects (points on boundaries count, as in Find) must assign every random
// point to the same street.
func TestPolygonIndexMatchesPostGIS(t *testing.T) {
	f := newAssignFixture(t, assignStreets(t, true), 20_000)
	ix := f.loadIndex(t)
	want := f.postgisJoin(t)
	assigned, mismatches := 0, 0
	for i, p := range f.pts {
		got, _ := ix.Find(p)
		if got != want[i] {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("point %d %v: index %d, PostGIS %d", i, p, got, want[i])
			}
		}
		if want[i] != 0 {
			assigned++
		}
	}
	t.Logf("%d of %d points in a street, %d mismatches", assigned, f.n, mismatches)
	if assigned == 0 {
		t.Fatal("no point fell in a street: the fixture is wrong")
	}
}

// TestValidatePolygonMatchesPostGIS holds geo.ValidatePolygon to PostGIS's
// ST_IsValid (GEOS) on the real streets, on hand-made faults, and on random shapes
// over a small integer grid, where touching, collinear and overlapping edges are
// common.
func TestValidatePolygonMatchesPostGIS(t *testing.T) {
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	cases := map[string]string{
		"bow-tie":             `{"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}`,
		"self-touch":          `{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,4],[2,0],[0,4],[0,0]]]}`,
		"spike":               `{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,6],[4,4],[0,4],[0,0]]]}`,
		"hole outside":        `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[20,20],[22,20],[22,22],[20,22],[20,20]]]}`,
		"hole crossing":       `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[8,4],[12,4],[12,6],[8,6],[8,4]]]}`,
		"hole via corners":    `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[5,5],[10,0],[15,5],[10,10],[5,5]]]}`,
		"nested holes":        `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[8,2],[8,8],[2,8],[2,2]],[[4,4],[6,4],[6,6],[4,6],[4,4]]]}`,
		"hole touching":       `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[10,5],[8,4],[8,6],[10,5]]]}`,
		"hole touching twice": `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[10,5],[5,2],[0,5],[5,8],[10,5]]]}`,
		"touch loop":          `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[0,5],[3,4],[5,5],[3,6],[0,5]],[[5,5],[7,4],[10,5],[7,6],[5,5]]]}`,
		"touch chain":         `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[0,5],[3,4],[5,5],[3,6],[0,5]],[[5,5],[7,4],[9,5],[7,6],[5,5]]]}`,
		"parts overlapping":   `{"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]]],[[[2,2],[4,2],[4,4],[2,4],[2,2]]]]}`,
		"parts sharing":       `{"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]]],[[[10,0],[20,0],[20,10],[10,10],[10,0]]]]}`,
		"parts at a corner":   `{"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]]],[[[10,10],[20,10],[20,20],[10,20],[10,10]]]]}`,
		"island in hole":      `{"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[8,2],[8,8],[2,8],[2,2]]],[[[4,4],[6,4],[6,6],[4,6],[4,4]]]]}`,
	}
	for _, s := range assignStreets(t, true) {
		cases[s.Code] = string(s.Geom)
	}
	rng := rand.New(rand.NewPCG(11, 11))
	for i := range 3000 {
		cases[fmt.Sprintf("random %04d", i)] = assignRandomShape(rng, i)
	}
	names := slices.Sorted(maps.Keys(cases))
	batch := &pgx.Batch{}
	pgValid := make([]bool, len(names))
	pgReason := make([]string, len(names))
	for i, name := range names {
		batch.Queue(`SELECT ST_IsValid(g), ST_IsValidReason(g) FROM ST_GeomFromGeoJSON($1) g`, cases[name]).
			QueryRow(func(r pgx.Row) error { return r.Scan(&pgValid[i], &pgReason[i]) })
	}
	if err := pool.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}
	valid, invalid := 0, 0
	for i, name := range names {
		g, err := assignDecodeGeoJSON(cases[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		goErr := geo.ValidatePolygon(g)
		if (goErr == nil) != pgValid[i] {
			t.Errorf("%s %s: ValidatePolygon = %v, PostGIS: %s", name, cases[name], goErr, pgReason[i])
		}
		if pgValid[i] {
			valid++
		} else {
			invalid++
			if !strings.HasPrefix(name, "random") {
				t.Logf("%s: PostGIS %q, geo %v", name, pgReason[i], goErr)
			}
		}
	}
	t.Logf("%d shapes agree: %d valid, %d invalid", len(names), valid, invalid)
	if valid < 500 || invalid < 500 {
		t.Fatalf("the random shapes should be both valid and invalid often: %d valid, %d invalid", valid, invalid)
	}
}

// assignRandomShape is a GeoJSON Polygon or MultiPolygon on the integer grid 0..9: a
// random ring, or a square shell with one or two random holes; every third shape
// gets a random second part.
func assignRandomShape(rng *rand.Rand, i int) string {
	ring := func(n, size int) string {
		pts := make([]string, 0, n+1)
		for range n {
			pts = append(pts, fmt.Sprintf("[%d,%d]", rng.IntN(size), rng.IntN(size)))
		}
		return "[" + strings.Join(append(pts, pts[0]), ",") + "]"
	}
	var rings []string
	if i%2 == 0 {
		rings = []string{ring(3+rng.IntN(6), 6)}
	} else {
		rings = []string{"[[0,0],[8,0],[8,8],[0,8],[0,0]]", ring(3+rng.IntN(4), 9)}
		if rng.IntN(2) == 0 {
			rings = append(rings, ring(3, 9))
		}
	}
	poly := "[" + strings.Join(rings, ",") + "]"
	if i%3 == 0 {
		return `{"type":"MultiPolygon","coordinates":[` + poly + `,[` + ring(3+rng.IntN(4), 10) + `]]}`
	}
	return `{"type":"Polygon","coordinates":` + poly + `}`
}

// assignDecodeGeoJSON reads a GeoJSON Polygon or MultiPolygon geometry as orb
// values, keeping a Polygon a Polygon so that ValidatePolygon's paths match.
func assignDecodeGeoJSON(gj string) (orb.Geometry, error) {
	var g struct {
		Type        string
		Coordinates json.RawMessage
	}
	if err := json.Unmarshal([]byte(gj), &g); err != nil {
		return nil, err
	}
	switch g.Type {
	case "Polygon":
		var c [][][2]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return nil, err
		}
		return assignPolygon(c), nil
	case "MultiPolygon":
		var c [][][][2]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return nil, err
		}
		mp := make(orb.MultiPolygon, len(c))
		for i, p := range c {
			mp[i] = assignPolygon(p)
		}
		return mp, nil
	}
	return nil, fmt.Errorf("type %q", g.Type)
}

func assignPolygon(c [][][2]float64) orb.Polygon {
	p := make(orb.Polygon, len(c))
	for i, r := range c {
		p[i] = make(orb.Ring, len(r))
		for j, pt := range r {
			p[i][j] = orb.Point(pt)
		}
	}
	return p
}

// BenchmarkAssignHouseholds assigns 100,000 random points in the streets' bounding
// box to the 214 streets (the committed sample of 14 when shared/ is absent):
//
//   - postgis-update: one UPDATE … FROM areas WHERE ST_Intersects, the SQL a store
//     method would run after a bulk load;
//   - postgis-select: the same join read back to the client (no writes);
//   - go-index: geo.PolygonIndex over points already in memory;
//   - go-read-assign: read the points from PostGIS, assign in Go (compare with
//     postgis-select);
//   - go-read-assign-write: that, then COPY the answers back and UPDATE by id
//     (compare with postgis-update);
//   - go-load-index: read the streets as WKB and build the index (per pass, not per
//     point; reported as ms/op).
func BenchmarkAssignHouseholds(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	f := newAssignFixture(b, assignStreets(b, true), n)
	ix := f.loadIndex(b)

	var plan []string
	rows, err := f.pool.Query(ctx, `EXPLAIN UPDATE bench_points p SET area_id = a.id FROM areas a WHERE ST_Intersects(a.geom, p.geom)`)
	if err != nil {
		b.Fatal(err)
	}
	var line string
	if _, err := pgx.ForEachRow(rows, []any{&line}, func() error { plan = append(plan, line); return nil }); err != nil {
		b.Fatal(err)
	}
	b.Logf("plan:\n%s", strings.Join(plan, "\n"))

	perPoint := func(b *testing.B) { b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "points/s") }
	reset := func(b *testing.B) {
		b.StopTimer()
		for _, q := range []string{`UPDATE bench_points SET area_id = NULL`, `VACUUM bench_points`} {
			if _, err := f.pool.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}

	b.Run("postgis-update", func(b *testing.B) {
		for range b.N {
			reset(b)
			tag, err := f.pool.Exec(ctx, `UPDATE bench_points p SET area_id = a.id FROM areas a WHERE ST_Intersects(a.geom, p.geom)`)
			if err != nil {
				b.Fatal(err)
			}
			if tag.RowsAffected() == 0 {
				b.Fatal("no point assigned")
			}
		}
		perPoint(b)
	})
	b.Run("postgis-select", func(b *testing.B) {
		for range b.N {
			f.postgisJoin(b)
		}
		perPoint(b)
	})
	b.Run("go-index", func(b *testing.B) {
		out := make([]int64, n)
		for range b.N {
			for i, p := range f.pts {
				out[i], _ = ix.Find(p)
			}
		}
		perPoint(b)
	})
	readAssign := func(b *testing.B) [][]any {
		rows, err := f.pool.Query(ctx, `SELECT id, ST_X(geom), ST_Y(geom) FROM bench_points`)
		if err != nil {
			b.Fatal(err)
		}
		out := make([][]any, 0, n)
		var id int32
		var p orb.Point
		_, err = pgx.ForEachRow(rows, []any{&id, &p[0], &p[1]}, func() error {
			if a, ok := ix.Find(p); ok {
				out = append(out, []any{id, a})
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	b.Run("go-read-assign", func(b *testing.B) {
		for range b.N {
			readAssign(b)
		}
		perPoint(b)
	})
	b.Run("go-read-assign-write", func(b *testing.B) {
		for range b.N {
			reset(b)
			assigned := readAssign(b)
			err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `CREATE TEMP TABLE bench_assigned (id int, area_id bigint) ON COMMIT DROP`); err != nil {
					return err
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_assigned"}, []string{"id", "area_id"}, pgx.CopyFromRows(assigned)); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE bench_points p SET area_id = s.area_id FROM bench_assigned s WHERE s.id = p.id`)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		perPoint(b)
	})
	b.Run("go-load-index", func(b *testing.B) {
		for range b.N {
			f.loadIndex(b)
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/op")
	})
}
