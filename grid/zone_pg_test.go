package grid_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/grid/zoning"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// footprints recomputes, independently of zoning's internals, the cells each kind's
// rule covers before the cut: the union of the H3 disks around the case cells.
func footprints(t testing.TB, cases []zoning.Case, p grid.ZonePolicy) map[string][]geo.Cell {
	t.Helper()
	out := map[string][]geo.Cell{}
	for kind, r := range map[string]grid.ZoneRule{"sealed": p.Sealed, "control": p.Control, "precaution": p.Precaution} {
		if r.Mode != grid.ModeRing {
			t.Fatalf("%s: footprints handles ring mode only", kind)
		}
		seen := map[geo.Cell]bool{}
		for _, c := range cases {
			o, err := geo.CellOf(c.Point, p.Res)
			if err != nil {
				t.Fatal(err)
			}
			disk, err := o.Disk(r.RingK)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range disk {
				if !seen[x] {
					seen[x] = true
					out[kind] = append(out[kind], x)
				}
			}
		}
	}
	return out
}

// loadGoZones writes the Go zones, one row per zone, into go_zones(kind, geom).
func loadGoZones(t testing.TB, ctx context.Context, pool *pgxpool.Pool, res *zoning.Result) {
	t.Helper()
	if _, err := pool.Exec(ctx, `CREATE TABLE go_zones (kind text, geom geometry(Polygon, 4326))`); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, len(res.Zones))
	for i, z := range res.Zones {
		b, err := wkb.Marshal(z.Geom)
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = []any{string(z.Kind), b}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"go_zones"}, []string{"kind", "geom"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// kindAreas compares the Go zones with PostGIS's per kind (table pg_kinds(kind, g)),
// logs the areas and returns the largest symmetric difference relative to the kind's
// area.
func kindAreas(t testing.TB, ctx context.Context, pool *pgxpool.Pool) float64 {
	t.Helper()
	rows, err := pool.Query(ctx, `
		WITH go AS (SELECT kind, ST_Multi(ST_Collect(geom)) AS g FROM go_zones GROUP BY kind)
		SELECT p.kind, ST_Area(p.g::geography), ST_Area(go.g::geography), ST_Area(ST_SymDifference(go.g, p.g)::geography)
		FROM pg_kinds p JOIN go USING (kind) ORDER BY p.kind`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	worst, n := 0.0, 0
	for rows.Next() {
		var kind string
		var pgArea, goArea, diff float64
		if err := rows.Scan(&kind, &pgArea, &goArea, &diff); err != nil {
			t.Fatal(err)
		}
		rel := diff / pgArea
		t.Logf("%-10s PostGIS %12.0f m²  Go %12.0f m²  symmetric difference %10.4f m² (%.2e of the area)", kind, pgArea, goArea, diff, rel)
		worst = math.Max(worst, rel)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("compared %d kinds, want 3", n)
	}
	return worst
}

// TestProposalMatchesPostGIS is the oracle of grid/zoning on the real cases of
// 2022-04-04 under the default policy: PostGIS unions the same H3 cell polygons per
// kind (ST_Union) and cuts the stronger kinds out of the weaker (ST_Difference); the
// Go outlines must cover the same ground. Households (random points around the
// cases) must fall in the same kind by Go's cell lookup and by PostGIS's
// ST_Intersects with its own zones.
func TestProposalMatchesPostGIS(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	cases := shanghaiZoningCases(t)
	if testing.Short() {
		// PostGIS needs about a minute to union the million cells of the whole day;
		// -short checks central Shanghai only.
		cases = casesIn(cases, orb.Bound{Min: orb.Point{121.44, 31.20}, Max: orb.Point{121.50, 31.25}})
	}
	pol := grid.DefaultZonePolicy()
	start := time.Now()
	res, err := zoning.Propose(zoning.Input{Cases: cases}, pol.Zoning())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Go: %d zones from %d cases, %d cells, in %v", len(res.Zones), len(cases), res.CellCount(), time.Since(start))
	loadGoZones(t, ctx, pool, res)

	if _, err := pool.Exec(ctx, `CREATE TABLE cells (kind text, geom geometry(Polygon, 4326))`); err != nil {
		t.Fatal(err)
	}
	for kind, cells := range footprints(t, cases, pol) {
		rows := make([][]any, len(cells))
		for i, c := range cells {
			p, err := c.Polygon()
			if err != nil {
				t.Fatal(err)
			}
			b, err := wkb.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			rows[i] = []any{kind, b}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"cells"}, []string{"kind", "geom"}, pgx.CopyFromRows(rows)); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	if _, err := pool.Exec(ctx, `
		CREATE TABLE pg_kinds AS
		WITH s AS (SELECT ST_Union(geom) AS g FROM cells WHERE kind = 'sealed'),
		     c AS (SELECT ST_Union(geom) AS g FROM cells WHERE kind = 'control'),
		     p AS (SELECT ST_Union(geom) AS g FROM cells WHERE kind = 'precaution')
		SELECT 'sealed' AS kind, s.g FROM s
		UNION ALL SELECT 'control', ST_Difference(c.g, s.g) FROM c, s
		UNION ALL SELECT 'precaution', ST_Difference(p.g, c.g) FROM p, c`); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostGIS ST_Union/ST_Difference in %v", time.Since(start))
	if worst := kindAreas(t, ctx, pool); worst > 1e-6 {
		t.Fatalf("Go and PostGIS zones differ by up to %.2e of a kind's area", worst)
	}

	// Households: Go's cell lookup against PostGIS's geometry.
	if _, err := pool.Exec(ctx, `CREATE TABLE homes (id int, geom geometry(Point, 4326), kind text)`); err != nil {
		t.Fatal(err)
	}
	var homes [][]any
	for i, c := range cases {
		for j := range 5 {
			// Deterministic spread over a few hundred metres around each case.
			a := float64(i*5+j) * 2.39996
			r := 0.0005 + 0.002*float64(j)
			p := orb.Point{c.Point[0] + r*math.Cos(a), c.Point[1] + r*math.Sin(a)}
			kind, _, _ := res.Classify(p)
			b, err := wkb.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			homes = append(homes, []any{len(homes), b, string(kind)})
		}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"homes"}, []string{"id", "geom", "kind"}, pgx.CopyFromRows(homes)); err != nil {
		t.Fatal(err)
	}
	var disagree, multi, counted int
	if err := pool.QueryRow(ctx, `
		WITH pg AS (
		  SELECT h.id, h.kind AS go_kind, array_agg(k.kind) FILTER (WHERE k.kind IS NOT NULL) AS kinds
		  FROM homes h LEFT JOIN pg_kinds k ON ST_Intersects(k.g, h.geom) GROUP BY h.id, h.kind)
		SELECT count(*) FILTER (WHERE COALESCE(kinds[1], '') <> go_kind),
		       count(*) FILTER (WHERE cardinality(kinds) > 1), count(*)
		FROM pg`).Scan(&disagree, &multi, &counted); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d households: %d in several PostGIS kinds, %d classified differently", counted, multi, disagree)
	if multi != 0 || disagree > counted/10000 {
		t.Fatalf("%d households in several kinds, %d classified differently", multi, disagree)
	}
}

func casesIn(cases []zoning.Case, b orb.Bound) []zoning.Case {
	var out []zoning.Case
	for _, c := range cases {
		if b.Contains(c.Point) {
			out = append(out, c)
		}
	}
	return out
}

// TestProposalMetresMatchesPostGISBuffers checks metres mode on the real cases of
// central Shanghai against PostGIS's own geometry: the union of ST_Buffer on
// geography per kind, stronger kinds cut out. Go takes the cells whose centres lie
// within the distance, so the outlines may differ only along the circles, by less
// than a cell: the symmetric difference must stay under the PostGIS perimeter times
// one cell edge (about 29 m at resolution 11).
func TestProposalMetresMatchesPostGISBuffers(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	cases := casesIn(shanghaiZoningCases(t), orb.Bound{Min: orb.Point{121.44, 31.20}, Max: orb.Point{121.50, 31.25}})
	pol := grid.DefaultZonePolicy()
	pol.Sealed = grid.ZoneRule{Mode: grid.ModeMetres, DistanceM: 50}
	pol.Control = grid.ZoneRule{Mode: grid.ModeMetres, DistanceM: 300}
	pol.Precaution = grid.ZoneRule{Mode: grid.ModeMetres, DistanceM: 800}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := zoning.Propose(zoning.Input{Cases: cases}, pol.Zoning())
	if err != nil {
		t.Fatal(err)
	}
	loadGoZones(t, ctx, pool, res)
	xs, ys := make([]float64, len(cases)), make([]float64, len(cases))
	for i, c := range cases {
		xs[i], ys[i] = c.Point[0], c.Point[1]
	}
	if _, err := pool.Exec(ctx, `
		CREATE TABLE pg_kinds AS
		WITH pts AS (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326)::geography AS g FROM unnest($1::float8[], $2::float8[]) AS t(x, y)),
		     s AS (SELECT ST_Union(ST_Buffer(g, $3)::geometry) AS g FROM pts),
		     c AS (SELECT ST_Union(ST_Buffer(g, $4)::geometry) AS g FROM pts),
		     p AS (SELECT ST_Union(ST_Buffer(g, $5)::geometry) AS g FROM pts)
		SELECT 'sealed' AS kind, s.g FROM s
		UNION ALL SELECT 'control', ST_Difference(c.g, s.g) FROM c, s
		UNION ALL SELECT 'precaution', ST_Difference(p.g, c.g) FROM p, c`,
		xs, ys, pol.Sealed.DistanceM, pol.Control.DistanceM, pol.Precaution.DistanceM); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cases, %d zones", len(cases), len(res.Zones))
	kindAreas(t, ctx, pool)
	const edgeM = 29 // average H3 edge at resolution 11, metres
	rows, err := pool.Query(ctx, `
		WITH go AS (SELECT kind, ST_Multi(ST_Collect(geom)) AS g FROM go_zones GROUP BY kind)
		SELECT p.kind, ST_Area(ST_SymDifference(go.g, p.g)::geography), ST_Perimeter(p.g::geography)
		FROM pg_kinds p JOIN go USING (kind)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var diff, perimeter float64
		if err := rows.Scan(&kind, &diff, &perimeter); err != nil {
			t.Fatal(err)
		}
		t.Logf("%-10s symmetric difference %.0f m² = a band of %.1f m along %.0f m of outline", kind, diff, diff/perimeter, perimeter)
		if diff > perimeter*edgeM {
			t.Errorf("%s: Go and PostGIS differ by %.0f m², more than a cell edge along the outline", kind, diff)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
