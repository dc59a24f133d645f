package route

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// randomPoints returns n points uniform in a side × side square, from a fixed seed.
func randomPoints(seed uint64, n int, side float64) [][2]float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	p := make([][2]float64, n)
	for i := range p {
		p[i] = [2]float64{r.Float64() * side, r.Float64() * side}
	}
	return p
}

func euclid(p [][2]float64) Dist {
	return func(i, j int) float64 { return math.Hypot(p[i][0]-p[j][0], p[i][1]-p[j][1]) }
}

func checkPerm(t *testing.T, e *engine) {
	t.Helper()
	seen := make([]bool, e.n)
	for i, v := range e.tour {
		if seen[v] {
			t.Fatalf("node %d twice", v)
		}
		seen[v] = true
		if e.pos[v] != int32(i) {
			t.Fatalf("pos[%d] = %d, tour has it at %d", v, e.pos[v], i)
		}
	}
}

// TestMovesKeepTourAndGain applies every kind of move from random tours and checks,
// after each, that the tour is still a permutation with consistent positions and
// that its length fell by exactly the gain the move claimed. It is the oracle for
// the hand-derived reconnection cases of try3opt and tryOrOpt.
func TestMovesKeepTourAndGain(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		seed uint64
	}{
		{"n10", 10, 1}, {"n11", 11, 2}, {"n17", 17, 3}, {"n60", 60, 4}, {"n300", 300, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts := randomPoints(tc.seed, tc.n, 1000)
			c := newCosts(tc.n, euclid(pts))
			r := rand.New(rand.NewPCG(tc.seed, 2))
			order := make([]int32, tc.n)
			for i, v := range r.Perm(tc.n) {
				order[i] = int32(v)
			}
			e := newEngine(c, neighbours(c, 8), order)
			moves := 0
			for round := 0; round < 40; round++ {
				for progress := true; progress; {
					progress = false
					for _, a := range r.Perm(tc.n) {
						for _, try := range []func(int32) float64{e.try3opt, e.tryOrOpt} {
							before := e.length()
							g := try(int32(a))
							if g == 0 {
								continue
							}
							moves++
							progress = true
							checkPerm(t, e)
							if after := e.length(); math.Abs(before-g-after) > 1e-6 {
								t.Fatalf("move from %d claimed gain %g, length %g → %g", a, g, before, after)
							}
						}
					}
				}
				e.qlen, e.qhead = 0, 0
				clear(e.inQ)
				before := e.length()
				delta := e.kick(r)
				checkPerm(t, e)
				if after := e.length(); math.Abs(before+delta-after) > 1e-6 {
					t.Fatalf("kick claimed %g, length %g → %g", delta, before, after)
				}
			}
			if moves == 0 {
				t.Fatal("no move applied")
			}
		})
	}
}

// TestUndoRestores checks that the journal rolls back kicks and moves exactly.
func TestUndoRestores(t *testing.T) {
	pts := randomPoints(7, 200, 1000)
	c := newCosts(200, euclid(pts))
	order := make([]int32, 200)
	for i := range order {
		order[i] = int32(i)
	}
	e := newEngine(c, neighbours(c, 10), order)
	r := rand.New(rand.NewPCG(7, 7))
	e.ils(r, 0, zeroTime)
	for i := 0; i < 100; i++ {
		saved := append([]int32(nil), e.tour...)
		e.journal = e.journal[:0]
		e.logging = true
		e.kick(r)
		e.localSearch()
		e.undo()
		e.logging = false
		for k := range saved {
			if saved[k] != e.tour[k] {
				t.Fatalf("round %d: position %d holds %d after undo, want %d", i, k, e.tour[k], saved[k])
			}
		}
		checkPerm(t, e)
	}
}

var zeroTime time.Time
