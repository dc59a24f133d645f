package geo

import (
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// square is the closed ring of the axis-parallel square [x0, x1] × [y0, y1].
func square(x0, y0, x1, y1 float64) orb.Ring {
	return orb.Ring{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
}

func TestPolygonIndexCases(t *testing.T) {
	// Item 1: a 10×10 square with a 2×2 hole; item 2: a triangle beside it sharing
	// the edge x = 10; item 3: a two-part MultiPolygon, one part an island inside
	// item 1's hole; item 4: overlaps item 1 and is given later, so it loses there;
	// item 5: a ring given without its closing point.
	items := []IndexedPolygon{
		{ID: 1, Geom: orb.MultiPolygon{{square(0, 0, 10, 10), square(4, 4, 6, 6)}}},
		{ID: 2, Geom: orb.MultiPolygon{{{{10, 0}, {20, 5}, {10, 10}, {10, 0}}}}},
		{ID: 3, Geom: orb.MultiPolygon{{square(4.5, 4.5, 5.5, 5.5)}, {square(30, 30, 31, 31)}}},
		{ID: 4, Geom: orb.MultiPolygon{{square(8, 8, 12, 12)}}},
		{ID: 5, Geom: orb.MultiPolygon{{{{40, 0}, {41, 0}, {41, 1}, {40, 1}}}}},
	}
	ix := NewPolygonIndex(items)
	tests := []struct {
		name string
		p    orb.Point
		id   int64 // 0: in no polygon
	}{
		{"inside the square", orb.Point{1, 1}, 1},
		{"inside the hole", orb.Point{4.2, 4.2}, 0},
		{"on the hole's edge counts as inside", orb.Point{4, 5}, 1},
		{"on the hole's vertex counts as inside", orb.Point{6, 6}, 1},
		{"on the shell's vertex", orb.Point{0, 0}, 1},
		{"on the shell's edge", orb.Point{0, 3}, 1},
		{"on the bottom edge", orb.Point{3, 0}, 1},
		{"island in the hole", orb.Point{5, 5}, 3},
		{"island's far part", orb.Point{30.5, 30.5}, 3},
		{"shared edge: first item wins", orb.Point{10, 5}, 1},
		{"inside the triangle", orb.Point{12, 5}, 2},
		{"triangle's sloped edge", orb.Point{15, 2.5}, 2},
		{"just outside the triangle's sloped edge", orb.Point{15, 2.4999999}, 0},
		{"right of the triangle's apex, on the scanline", orb.Point{21, 5}, 0},
		{"overlap: first item wins", orb.Point{9, 9}, 1},
		{"overlap's own part", orb.Point{11, 11}, 4},
		{"ring without closing point", orb.Point{40.5, 0.5}, 5},
		{"implied closing edge", orb.Point{40, 0.5}, 5},
		{"outside every bound", orb.Point{-1, -1}, 0},
		{"between the items", orb.Point{25, 25}, 0},
		{"NaN", orb.Point{math.NaN(), 5}, 0},
		{"infinite", orb.Point{math.Inf(1), 5}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := ix.Find(tc.p)
			if ok != (tc.id != 0) || id != tc.id {
				t.Fatalf("Find(%v) = %d, %v; want %d", tc.p, id, ok, tc.id)
			}
		})
	}
}

func TestPolygonIndexEmptyAndDegenerate(t *testing.T) {
	if _, ok := NewPolygonIndex(nil).Find(orb.Point{0, 0}); ok {
		t.Fatal("empty index found a polygon")
	}
	empty := NewPolygonIndex([]IndexedPolygon{{ID: 1}, {ID: 2, Geom: orb.MultiPolygon{{}}}})
	if _, ok := empty.Find(orb.Point{0, 0}); ok || empty.Len() != 2 {
		t.Fatalf("index of empty polygons: ok=%v len=%d", ok, empty.Len())
	}
	// A polygon collapsed to a horizontal line has zero area: only its edge is "in".
	flat := NewPolygonIndex([]IndexedPolygon{{ID: 7, Geom: orb.MultiPolygon{{{{0, 1}, {2, 1}, {0, 1}}}}}})
	if id, ok := flat.Find(orb.Point{1, 1}); !ok || id != 7 {
		t.Fatalf("point on a flat polygon's edge: %d %v", id, ok)
	}
	if _, ok := flat.Find(orb.Point{1, 1.5}); ok {
		t.Fatal("point off a flat polygon found")
	}
}

// orbFind is the reference: the first item whose MultiPolygon orb says contains p.
func orbFind(items []IndexedPolygon, bounds []orb.Bound, p orb.Point) (int64, bool) {
	for i, it := range items {
		if bounds[i].Contains(p) && planar.MultiPolygonContains(it.Geom, p) {
			return it.ID, true
		}
	}
	return 0, false
}

// onAnyEdge reports whether p lies exactly (in float64) on an edge of any item: there
// the two implementations may differ by design (holes' edges, shared edges).
func onAnyEdge(items []IndexedPolygon, p orb.Point) bool {
	for _, it := range items {
		for _, poly := range it.Geom {
			for _, r := range poly {
				for i := 0; i+1 < len(r); i++ {
					if onSegment(r[i], r[i+1], p) {
						return true
					}
				}
			}
		}
	}
	return false
}

// diffAgainstOrb compares Find with orbFind on n uniform points in the streets' bound
// and n points within about 1 cm of a random edge, where a banding or grid mistake
// would show first. Points exactly on an edge are skipped (none are expected: the
// probability of drawing one is nil).
func diffAgainstOrb(t *testing.T, streets []street, n int, seed uint64) {
	items := indexItems(streets)
	ix := NewPolygonIndex(items)
	bounds := make([]orb.Bound, len(items))
	for i, it := range items {
		bounds[i] = it.Geom.Bound()
	}
	var edges [][2]orb.Point
	for _, it := range items {
		for _, poly := range it.Geom {
			for _, r := range poly {
				for i := 0; i+1 < len(r); i++ {
					if r[i] != r[i+1] {
						edges = append(edges, [2]orb.Point{r[i], r[i+1]})
					}
				}
			}
		}
	}
	b := streetsBound(streets)
	rng := rand.New(rand.NewPCG(seed, 2022))
	var inside, mismatches, onEdge int
	check := func(kind string, p orb.Point) {
		want, wok := orbFind(items, bounds, p)
		got, gok := ix.Find(p)
		if wok == gok && want == got {
			if gok {
				inside++
			}
			return
		}
		if onAnyEdge(items, p) {
			onEdge++
			return
		}
		mismatches++
		if mismatches <= 10 {
			t.Errorf("%s point %v: index %d/%v, orb %d/%v", kind, p, got, gok, want, wok)
		}
	}
	for range n {
		check("uniform", orb.Point{
			b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]),
			b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1]),
		})
	}
	for range n / 5 {
		e := edges[rng.IntN(len(edges))]
		t0 := rng.Float64()
		off := (rng.Float64()*2 - 1) * 1e-7 // degrees, ~1 cm
		check("near-edge", orb.Point{
			e[0][0] + t0*(e[1][0]-e[0][0]) + off,
			e[0][1] + t0*(e[1][1]-e[0][1]) - off,
		})
	}
	t.Logf("%d streets, %d edges: %d of %d points inside a street, %d exactly on an edge, %d mismatches",
		len(streets), len(edges), inside, n+n/5, onEdge, mismatches)
	if mismatches > 0 {
		t.Fatalf("%d mismatches against orb/planar", mismatches)
	}
	// Every vertex is on the boundary of its own street, hence in some street.
	for _, e := range edges {
		if _, ok := ix.Find(e[0]); !ok {
			t.Fatalf("vertex %v found in no street", e[0])
		}
	}
}

func TestPolygonIndexMatchesOrbOnSampleStreets(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	diffAgainstOrb(t, loadStreets(t, sampleStreetsPath), n, 1)
}

// TestPolygonIndexMatchesOrbOnAllStreets runs the same comparison on all 214 streets
// when the shared data is beside the repository; the sample test above always runs.
func TestPolygonIndexMatchesOrbOnAllStreets(t *testing.T) {
	if _, err := os.Stat(fullStreetsPath); err != nil {
		t.Skipf("full streets not present (%v); the committed sample is tested above", err)
	}
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	diffAgainstOrb(t, loadStreets(t, fullStreetsPath), n, 2)
}

// TestPolygonIndexRandomShapes compares against orb on random star-shaped polygons
// with a hole, spiky rings of up to 2,000 vertices that never cross themselves, and
// overlapping items, so grids and bands see many shapes; fixed seeds.
func TestPolygonIndexRandomShapes(t *testing.T) {
	seeds := uint64(10)
	if testing.Short() {
		seeds = 3
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var streets []street
		for k := range 1 + rng.IntN(6) {
			cx, cy := float64(k)*0.3+rng.Float64()*0.5, rng.Float64()*0.5
			shell := starRing(rng, cx, cy, 0.2, 3+rng.IntN(2000))
			hole := starRing(rng, cx, cy, 0.02, 3+rng.IntN(50))
			if err := ValidatePolygon(orb.Polygon{shell, hole}); err != nil {
				t.Fatalf("seed %d: star polygon rejected: %v", seed, err)
			}
			streets = append(streets, street{Geom: orb.MultiPolygon{{shell, hole}}})
		}
		diffAgainstOrb(t, streets, 4_000, seed)
	}
}

// starRing is a closed ring of n vertices around (cx, cy) at radii in [0.5 r, r]
// and increasing angles, so it never crosses itself; hole radii stay below 0.5 r of
// any shell, so a hole from the same centre always lies inside.
func starRing(rng *rand.Rand, cx, cy, r float64, n int) orb.Ring {
	ring := make(orb.Ring, 0, n+1)
	for i := range n {
		a := 2 * math.Pi * (float64(i) + rng.Float64()*0.9) / float64(n)
		rad := r * (0.5 + 0.5*rng.Float64())
		if r < 0.1 {
			rad = r * (0.2 + 0.8*rng.Float64())
		}
		ring = append(ring, orb.Point{cx + rad*math.Cos(a), cy + rad*math.Sin(a)})
	}
	return append(ring, ring[0])
}

// TestPolygonIndexConcurrentFind reads one index from many goroutines (run with
// -race) and checks every goroutine sees the sequential answers.
func TestPolygonIndexConcurrentFind(t *testing.T) {
	streets := loadStreets(t, sampleStreetsPath)
	ix := NewPolygonIndex(indexItems(streets))
	b := streetsBound(streets)
	rng := rand.New(rand.NewPCG(3, 3))
	pts := make([]orb.Point, 20_000)
	want := make([]int64, len(pts))
	for i := range pts {
		pts[i] = orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		want[i], _ = ix.Find(pts[i])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(pts); i += 3 {
				if got, _ := ix.Find(pts[i]); got != want[i] {
					t.Errorf("goroutine %d: point %v = %d, want %d", g, pts[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
