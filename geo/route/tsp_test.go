package route

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tsplibOptima are the proven optimal tour lengths of the instances in testdata
// (copied from shared/data/tsplib), as published with TSPLIB.
var tsplibOptima = []struct {
	name string
	opt  int
}{
	{"eil51", 426}, {"berlin52", 7542}, {"st70", 675}, {"eil76", 538},
	{"kroA100", 21282}, {"ch130", 6110}, {"a280", 2579},
}

func readTestInstance(t testing.TB, name string) *Instance {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".tsp"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, err := ReadInstance(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return in
}

func checkTour(t testing.TB, n int, tour []int) {
	t.Helper()
	if len(tour) != n {
		t.Fatalf("tour has %d nodes, want %d", len(tour), n)
	}
	seen := make([]bool, n)
	for _, v := range tour {
		if v < 0 || v >= n || seen[v] {
			t.Fatalf("tour is not a permutation: node %d", v)
		}
		seen[v] = true
	}
}

// TestOptimalToursMatchOptima checks the reader, the EUC_2D rounding and the .opt.tour
// files together: each optimal tour's length is the published optimum.
func TestOptimalToursMatchOptima(t *testing.T) {
	for _, tc := range tsplibOptima {
		t.Run(tc.name, func(t *testing.T) {
			in := readTestInstance(t, tc.name)
			f, err := os.Open(filepath.Join("testdata", tc.name+".opt.tour"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tour, err := ReadTour(f, in)
			if err != nil {
				t.Fatal(err)
			}
			checkTour(t, len(in.IDs), tour)
			if got := in.TourLength(tour); got != tc.opt {
				t.Fatalf("optimal tour length %d, want %d", got, tc.opt)
			}
			if got := Length(in.Dist(), tour); got != float64(tc.opt) {
				t.Fatalf("Length = %g, want %d", got, tc.opt)
			}
		})
	}
}

// TestSolveTSPLIBQuality solves every instance with a kick cap instead of a time
// budget, so the result does not depend on the machine's speed or load, and holds
// each to within 1% of its optimum (the issue asks ≤ 1% on average and ≤ 3% each
// with 1 s; 3,000 kicks take 20–100 ms).
func TestSolveTSPLIBQuality(t *testing.T) {
	var sum float64
	for _, tc := range tsplibOptima {
		t.Run(tc.name, func(t *testing.T) {
			in := readTestInstance(t, tc.name)
			tour, err := SolveTSP(len(in.IDs), in.Dist(), Options{MaxKicks: 3000, Budget: time.Minute, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			checkTour(t, len(in.IDs), tour.Nodes)
			got := in.TourLength(tour.Nodes)
			if float64(got) != tour.Length {
				t.Fatalf("Tour.Length %g, recomputed %d", tour.Length, got)
			}
			gap := 100 * float64(got-tc.opt) / float64(tc.opt)
			sum += gap
			t.Logf("length %d, optimum %d, gap %.2f%%, %d kicks", got, tc.opt, gap, tour.Kicks)
			if gap > 1 {
				t.Errorf("gap %.2f%% > 1%%", gap)
			}
		})
	}
	if mean := sum / float64(len(tsplibOptima)); mean > 0.5 {
		t.Errorf("mean gap %.2f%% > 0.5%%", mean)
	}
}

// TestSolveTSPBudget runs on a time budget only: any machine gives a valid tour
// within the first local optimum's reach (quality under a clock is for the
// benchmark, not a test).
func TestSolveTSPBudget(t *testing.T) {
	in := readTestInstance(t, "ch130")
	tour, err := SolveTSP(len(in.IDs), in.Dist(), Options{Budget: 50 * time.Millisecond, Seed: 2, Start: 7})
	if err != nil {
		t.Fatal(err)
	}
	checkTour(t, len(in.IDs), tour.Nodes)
	if tour.Nodes[0] != 7 {
		t.Fatalf("tour starts at %d, want 7", tour.Nodes[0])
	}
	if gap := (tour.Length - 6110) / 6110; gap > 0.08 {
		t.Fatalf("gap %.1f%%: worse than a local optimum should be", 100*gap)
	}
}

func TestSolveTSPDeterministic(t *testing.T) {
	in := readTestInstance(t, "a280")
	opts := Options{MaxKicks: 800, Budget: time.Hour, Seed: 42, Start: 3}
	a, err := SolveTSP(len(in.IDs), in.Dist(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SolveTSP(len(in.IDs), in.Dist(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Nodes, b.Nodes) || a.Kicks != 800 {
		t.Fatalf("same seed, different tours (kicks %d, %d)", a.Kicks, b.Kicks)
	}
}

// heldKarp is the exact dynamic programme over subsets, the oracle for small n.
func heldKarp(n int, d Dist) float64 {
	full := 1 << (n - 1) // subsets of nodes 1…n-1
	dp := make([]float64, full*n)
	for i := range dp {
		dp[i] = math.Inf(1)
	}
	for j := 1; j < n; j++ {
		dp[(1<<(j-1))*n+j] = d(0, j)
	}
	for s := 1; s < full; s++ {
		for j := 1; j < n; j++ {
			v := dp[s*n+j]
			if s&(1<<(j-1)) == 0 || math.IsInf(v, 1) {
				continue
			}
			for k := 1; k < n; k++ {
				if s&(1<<(k-1)) != 0 {
					continue
				}
				ns := s | 1<<(k-1)
				dp[ns*n+k] = min(dp[ns*n+k], v+d(j, k))
			}
		}
	}
	best := math.Inf(1)
	for j := 1; j < n; j++ {
		best = min(best, dp[(full-1)*n+j]+d(j, 0))
	}
	return best
}

// TestSolveTSPSmallExact compares with the exact optimum: enumeration for n ≤ 9,
// the iterated local search from 10 nodes up.
func TestSolveTSPSmallExact(t *testing.T) {
	for n := 1; n <= 13; n++ {
		for seed := uint64(0); seed < 3; seed++ {
			pts := randomPoints(seed*100+uint64(n), n, 100)
			d := EuclidRounded(pts)
			tour, err := SolveTSP(n, d, Options{MaxKicks: 300, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			checkTour(t, n, tour.Nodes)
			want := 0.0
			if n > 1 {
				want = heldKarp(n, d)
			}
			if tour.Length != want {
				t.Errorf("n=%d seed %d: length %g, optimum %g", n, seed, tour.Length, want)
			}
		}
	}
}

// TestSolveTSPDegenerate feeds coincident points (zero distances, ties everywhere)
// and collinear ones, where float noise and ties could make moves cycle.
func TestSolveTSPDegenerate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var same, line, grid [][2]float64
	for i := 0; i < 300; i++ {
		same = append(same, [2]float64{float64(r.IntN(4)), float64(r.IntN(4))})
		line = append(line, [2]float64{float64(i * 7 % 300), 0})
	}
	for x := 0; x < 20; x++ {
		for y := 0; y < 20; y++ {
			grid = append(grid, [2]float64{float64(x), float64(y)})
		}
	}
	for _, tc := range []struct {
		name string
		pts  [][2]float64
		want float64 // optimum, 0 if not checked
	}{
		{"16 locations", same, 16},
		{"collinear", line, 2 * 299},
		{"20x20 grid", grid, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range []Dist{EuclidRounded(tc.pts), euclid(tc.pts)} {
				tour, err := SolveTSP(len(tc.pts), d, Options{MaxKicks: 2000, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				checkTour(t, len(tc.pts), tour.Nodes)
				if math.Abs(tour.Length-tc.want) > 1e-6 {
					t.Errorf("length %g, optimum %g", tour.Length, tc.want)
				}
			}
		})
	}
}

func TestSolveTSPInvalid(t *testing.T) {
	d := EuclidRounded(randomPoints(1, 5, 10))
	for _, tc := range []struct {
		name string
		n    int
		opts Options
	}{
		{"no nodes", 0, Options{}},
		{"start past the end", 5, Options{Start: 5}},
		{"negative start", 5, Options{Start: -1}},
		{"negative budget", 5, Options{Budget: -time.Second}},
		{"negative kicks", 5, Options{MaxKicks: -1}},
		{"negative neighbours", 5, Options{Neighbours: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SolveTSP(tc.n, d, tc.opts); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReadInstanceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int // 0: about the whole file
		msg      string
	}{
		{"empty", "", 0, "empty"},
		{"blank", "\n\n", 0, "empty"},
		{"count not a number", "three\n1 0 0\n", 1, "node count"},
		{"zero count", "0\n", 1, "node count"},
		{"count with extra field", "2 x\n1 0 0\n2 1 1\n", 1, "node count"},
		{"too few nodes", "3\n1 0 0\n2 1 1\n", 0, "declares 3 nodes, the file has 2"},
		{"too many nodes", "2\n1 0 0\n2 1 1\n3 2 2\n", 4, "more than the 2 nodes"},
		{"two fields", "2\n1 0 0\n2 1\n", 3, "got 2 fields"},
		{"four fields", "2\n1 0 0 0\n2 1 1\n", 2, "got 4 fields"},
		{"id not integer", "2\n1 0 0\n2.5 1 1\n", 3, `id "2.5"`},
		{"duplicate id", "2\n7 0 0\n7 1 1\n", 3, "id 7 already used on line 2"},
		{"bad x", "2\n1 0 0\n2 1,5 1\n", 3, `x "1,5"`},
		{"NaN y", "2\n1 0 NaN\n2 1 1\n", 2, `y "NaN"`},
		{"infinite x", "2\n1 +Inf 0\n2 1 1\n", 2, `x "+Inf"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadInstance(strings.NewReader(tc.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Line != tc.line || !strings.Contains(pe.Error(), tc.msg) {
				t.Fatalf("err = %q (line %d), want line %d containing %q", pe, pe.Line, tc.line, tc.msg)
			}
		})
	}
	// Accepted variations: blank lines, a trailing EOF, floats in exponent form.
	in, err := ReadInstance(strings.NewReader("\n3\n\n10 1e2 0\n20 0 0.5\n30 -1 2\nEOF\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in.IDs, []int{10, 20, 30}) || in.Points[0] != [2]float64{100, 0} {
		t.Fatalf("read %+v", in)
	}
}

func TestReadTourErrors(t *testing.T) {
	in, err := ReadInstance(strings.NewReader("3\n1 0 0\n2 3 0\n3 0 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"unknown id", "1\n4\n2\n", 2, "id 4 is not in the instance"},
		{"twice", "1\n2\n1\n", 3, "id 1 already visited on line 1"},
		{"missing", "1\n2\n", 0, "visits 2 of the 3"},
		{"not a number", "1\nx\n", 2, `id "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadTour(strings.NewReader(tc.in), in)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != tc.line || !strings.Contains(pe.Error(), tc.msg) {
				t.Fatalf("err = %v, want line %d containing %q", err, tc.line, tc.msg)
			}
		})
	}
	tour, err := ReadTour(strings.NewReader("3 1\n2\n-1\nEOF\n"), in)
	if err != nil || !slices.Equal(tour, []int{2, 0, 1}) || in.TourLength(tour) != 12 {
		t.Fatalf("tour %v, %v", tour, err)
	}
}

// TestSolveTSPBuildings: households of a building share a point (or stand within a
// few metres), so every node's nearest neighbours are its own building's. The tour
// must still connect the buildings well: with exact copies it is as short as the
// best tour of the buildings themselves.
func TestSolveTSPBuildings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var centres, pts [][2]float64
	for i := 0; i < 40; i++ {
		centres = append(centres, [2]float64{r.Float64() * 1000, r.Float64() * 1000})
	}
	for i := 0; i < 40; i++ {
		for k := 0; k < 25; k++ {
			pts = append(pts, centres[i])
		}
	}
	ct, err := SolveTSP(len(centres), euclid(centres), Options{MaxKicks: 5000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tour, err := SolveTSP(len(pts), euclid(pts), Options{MaxKicks: 5000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkTour(t, len(pts), tour.Nodes)
	if tour.Length > ct.Length+1e-6 {
		t.Fatalf("tour of 1,000 households %.0f, of their 40 buildings %.0f", tour.Length, ct.Length)
	}
}
