package grid_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// shanghaiBound is the bounding box of Shanghai's 214 streets.
var shanghaiBound = orb.Bound{Min: orb.Point{120.85, 30.69}, Max: orb.Point{121.97, 31.87}}

// BenchmarkTile measures MVT tile latency (median and p99 per zoom, z12–z16) over
// 1,000,000 households spread uniformly over Shanghai's bounding box, each with two
// residents (5% of them vulnerable), in one district split into four streets; the
// caller's jurisdiction is the district, so the ancestors filter runs as in
// production. Tiles are taken at seeded random positions over the box; each zoom
// first fetches 20 unmeasured tiles, so the figures are for a warm cache. Setup
// takes about a minute; use -benchtime=300x for a steadier p99.
func BenchmarkTile(b *testing.B) {
	pool, _ := dbtest.New(b)
	ctx := context.Background()
	store := grid.NewStore(pool)
	start := time.Now()
	var district int64
	if err := pool.QueryRow(ctx, `
		INSERT INTO areas (level, name, code, geom)
		VALUES ('district', 'bench', 'bench', ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326)))
		RETURNING id`, shanghaiBound.Min[0], shanghaiBound.Min[1], shanghaiBound.Max[0], shanghaiBound.Max[1]).Scan(&district); err != nil {
		b.Fatal(err)
	}
	// Four streets, one per quadrant (SW, SE, NW, NE); a household's street follows
	// from its position.
	mid := shanghaiBound.Center()
	var streets []int64
	for i, q := range []orb.Bound{
		{Min: shanghaiBound.Min, Max: mid},
		{Min: orb.Point{mid[0], shanghaiBound.Min[1]}, Max: orb.Point{shanghaiBound.Max[0], mid[1]}},
		{Min: orb.Point{shanghaiBound.Min[0], mid[1]}, Max: orb.Point{mid[0], shanghaiBound.Max[1]}},
		{Min: mid, Max: shanghaiBound.Max},
	} {
		var id int64
		if err := pool.QueryRow(ctx, `
			INSERT INTO areas (parent_id, level, name, code, ancestors, geom)
			VALUES ($1, 'street', $2, $2, ARRAY[$1::bigint], ST_Multi(ST_MakeEnvelope($3, $4, $5, $6, 4326)))
			RETURNING id`,
			district, fmt.Sprintf("bench/%d", i), q.Min[0], q.Min[1], q.Max[0], q.Max[1]).Scan(&id); err != nil {
			b.Fatal(err)
		}
		streets = append(streets, id)
	}
	// One session, so that setseed makes random() repeat from run to run.
	c, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Release()
	size := [2]float64{shanghaiBound.Max[0] - shanghaiBound.Min[0], shanghaiBound.Max[1] - shanghaiBound.Min[1]}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE areas SET ancestors = ancestors || id`, nil},
		{`SELECT setseed(0.4242)`, nil},
		// Tiles do not read H3 cells: 0 stands in for them.
		{`INSERT INTO households (area_id, address, geom, h3_r8, h3_r12)
		  SELECT ($5::bigint[])[1 + (x >= $6)::int + 2 * (y >= $7)::int], 'bench ' || i,
		         ST_SetSRID(ST_MakePoint(x, y), 4326), 0, 0
		  FROM (SELECT i, $1 + random() * $3 AS x, $2 + random() * $4 AS y
		        FROM generate_series(1, 1000000) i) p`,
			[]any{shanghaiBound.Min[0], shanghaiBound.Min[1], size[0], size[1], streets, mid[0], mid[1]}},
		{`INSERT INTO persons (household_id, name, vulnerability)
		  SELECT h.id, 'resident', CASE WHEN random() < 0.05 THEN '{elderly_alone}'::text[] ELSE '{}' END
		  FROM households h, generate_series(1, 2)`, nil},
		{`VACUUM ANALYZE areas, households, persons`, nil},
	} {
		if _, err := c.Exec(ctx, st.sql, st.args...); err != nil {
			b.Fatalf("%.50s: %v", st.sql, err)
		}
	}
	b.Logf("setup: 1,000,000 households, 2,000,000 residents in %v", time.Since(start).Round(time.Second))

	user := grid.User{Role: grid.Commander, AreaIDs: []int64{district}}
	for z := 12; z <= 16; z++ {
		rng := rand.New(rand.NewPCG(uint64(z), 42))
		next := func() grid.TileID {
			p := orb.Point{
				shanghaiBound.Min[0] + rng.Float64()*(shanghaiBound.Max[0]-shanghaiBound.Min[0]),
				shanghaiBound.Min[1] + rng.Float64()*(shanghaiBound.Max[1]-shanghaiBound.Min[1]),
			}
			t := maptile.At(p, maptile.Zoom(z))
			return grid.TileID{Z: z, X: int(t.X), Y: int(t.Y)}
		}
		for range 20 {
			if _, err := store.Tile(ctx, user, grid.HouseholdTiles, next()); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("households/z%d", z), func(b *testing.B) {
			var lat []time.Duration
			bytes := 0
			for b.Loop() {
				id := next()
				t0 := time.Now()
				mvt, err := store.Tile(ctx, user, grid.HouseholdTiles, id)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(mvt)
			}
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "median-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			b.ReportMetric(float64(bytes)/float64(len(lat)), "B/tile")
		})
	}
}
