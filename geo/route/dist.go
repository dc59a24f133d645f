package route

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// Dist is the travel cost between nodes i and j (0 ≤ i, j < n), in whatever unit the
// caller works in (metres for Haversine, TSPLIB units for Euclidean instances). It
// must be symmetric, non-negative, finite and zero on the diagonal, cheap to call
// more than once (the solvers cache it in a matrix when n is at most MatrixMaxN and
// call it directly above that) and safe for concurrent calls (the matrix and the
// candidate lists are filled by one goroutine per CPU).
type Dist func(i, j int) float64

// MatrixMaxN is the largest node count whose distances the solvers cache in a float32
// matrix (n² × 4 bytes: 9 MB at 1,500 nodes). Above it they call the Dist directly:
// a bigger matrix no longer fits the caches, and on rounded-Euclidean instances of
// 2,000–3,000 nodes the lookups' cache misses cost more than computing the distance.
const MatrixMaxN = 1500

// Haversine is the great-circle Dist in metres between points given as [lng, lat]
// (geo.DistanceM), the default for door-to-door routes until a road network exists.
func Haversine(points []orb.Point) Dist {
	return func(i, j int) float64 { return geo.DistanceM(points[i], points[j]) }
}

// EuclidRounded is the TSPLIB EUC_2D Dist between planar points: the Euclidean
// distance rounded to the nearest integer, as the published optima assume.
func EuclidRounded(points [][2]float64) Dist {
	return func(i, j int) float64 {
		dx, dy := points[i][0]-points[j][0], points[i][1]-points[j][1]
		return float64(int(math.Sqrt(dx*dx+dy*dy) + 0.5))
	}
}

// Length is the length of the closed tour (back to its first node) under d.
func Length(d Dist, tour []int) float64 {
	if len(tour) < 2 {
		return 0
	}
	var sum float64
	for i := 1; i < len(tour); i++ {
		sum += d(tour[i-1], tour[i])
	}
	return sum + d(tour[len(tour)-1], tour[0])
}

// costs is the distance oracle the solvers use: a float32 matrix when it fits, else
// the caller's function. float32 keeps about 7 significant digits (a quarter of a
// millimetre over 3 km, exact for TSPLIB integers); gains are summed in float64, and
// reported lengths are recomputed with the caller's Dist.
type costs struct {
	n int
	m []float32
	f Dist
}

func newCosts(n int, f Dist) *costs {
	c := &costs{n: n, f: f}
	if n <= MatrixMaxN {
		m := make([]float32, n*n)
		// One call per pair, mirrored: a Dist symmetric in exact arithmetic may not
		// be in its last bit (haversine), and an asymmetric matrix could let moves
		// with a rounding-error gain cycle. Row i's worker alone writes the pairs
		// (i, j > i) both ways, so the result does not depend on the scheduling.
		parallelRows(n, func(i int) {
			for j := i + 1; j < n; j++ {
				v := float32(f(i, j))
				m[i*n+j], m[j*n+i] = v, v
			}
		})
		c.m = m
	}
	return c
}

// parallelRows calls row(i) for every i in [0, n), spread over one goroutine per
// CPU when n is large enough to be worth it.
func parallelRows(n int, row func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/200)
	if workers < 2 {
		for i := 0; i < n; i++ {
			row(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				row(i)
			}
		})
	}
	wg.Wait()
}

func (c *costs) d(i, j int32) float64 {
	if c.m != nil {
		return float64(c.m[int(i)*c.n+int(j)])
	}
	return c.f(int(i), int(j))
}

// farCandidates is how many candidates in other groups a node gets on top of its
// k nearest when the k-nearest graph falls apart (see neighbours).
const farCandidates = 5

// neighbours returns every node's candidate list, nearest first: its k nearest other
// nodes and, when the graph of those lists is not connected, the nearest node of
// each of up to farCandidates other components. Ties are broken by index so the
// lists (and everything after them) are deterministic.
//
// The second part matters when points crowd: households of one building stand at
// one point or within a few metres, clusters of homes stand apart, and then a
// node's k nearest are all in its own group, no move can ever create or change an
// edge between groups, and tours came out 10–25% long (40 buildings of 25
// households). Components of the k-nearest graph are exactly such groups. On evenly
// spread points and grids the graph is connected and nothing is added: extra
// candidates there changed the search's choices for the worse (pcb442: 0.3% over
// seeds) and bought nothing.
//
// Both passes are O(n²), the second only when needed: the solver only sees a Dist,
// so there are no coordinates for a k-d tree; at 3,000 nodes a pass takes a few tens
// of milliseconds.
func neighbours(c *costs, k int) [][]int32 {
	n := c.n
	if k > n-1 {
		k = n - 1
	}
	type cand struct {
		d float64
		j int32
	}
	less := func(a, b cand) int {
		if r := cmp.Compare(a.d, b.d); r != 0 {
			return r
		}
		return cmp.Compare(a.j, b.j)
	}
	near := make([][]cand, n)
	flat := make([]cand, n*k)
	parallelRows(n, func(i int) {
		best := flat[i*k : i*k : i*k+k]
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			cd := cand{c.d(int32(i), int32(j)), int32(j)}
			if len(best) == k && less(cd, best[k-1]) >= 0 {
				continue
			}
			// Insertion into the short sorted list beats a heap for k ≈ 10.
			p, _ := slices.BinarySearchFunc(best, cd, less)
			if len(best) == k {
				copy(best[p+1:], best[p:k-1])
				best[p] = cd
			} else {
				best = slices.Insert(best, p, cd)
			}
		}
		near[i] = best
	})
	// Components of the (undirected) k-nearest graph.
	comp := make([]int32, n)
	for i := range comp {
		comp[i] = int32(i)
	}
	var find func(x int32) int32
	find = func(x int32) int32 {
		for comp[x] != x {
			comp[x] = comp[comp[x]]
			x = comp[x]
		}
		return x
	}
	groups := n
	for i := range near {
		for _, b := range near[i] {
			if ri, rj := find(int32(i)), find(b.j); ri != rj {
				comp[max(ri, rj)] = min(ri, rj)
				groups--
			}
		}
	}
	for i := range comp {
		comp[i] = find(int32(i))
	}
	out := make([][]int32, n)
	parallelRows(n, func(i int) {
		var buf [farCandidates + 1]cand
		far := buf[:0]
		for j := 0; j < n && groups > 1; j++ {
			if comp[j] == comp[i] {
				continue
			}
			cd := cand{c.d(int32(i), int32(j)), int32(j)}
			if len(far) == farCandidates && less(cd, far[len(far)-1]) >= 0 {
				continue
			}
			// One candidate per component: the nearest.
			if x := slices.IndexFunc(far, func(f cand) bool { return comp[f.j] == comp[j] }); x >= 0 {
				if less(far[x], cd) < 0 {
					continue
				}
				far = slices.Delete(far, x, x+1)
			}
			p, _ := slices.BinarySearchFunc(far, cd, less)
			far = slices.Insert(far, p, cd)
			if len(far) > farCandidates {
				far = far[:farCandidates]
			}
		}
		row := make([]int32, 0, len(near[i])+len(far))
		for _, b := range near[i] {
			row = append(row, b.j)
		}
		for _, b := range far {
			row = append(row, b.j)
		}
		out[i] = row
	})
	return out
}
