package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// TestDescendantRange checks the range against h3-go's children: every child at
// the finer resolution lies in the range, and the range's ends are children (or the
// range is exact when a single child exists), for random places, pentagons included.
func TestDescendantRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var parents []Cell
	for range 200 {
		p := orb.Point{rng.Float64()*360 - 180, rng.Float64()*170 - 85}
		res := rng.IntN(10)
		c, err := CellOf(p, res)
		if err != nil {
			t.Fatal(err)
		}
		parents = append(parents, c)
	}
	pents, err := h3.Pentagons(4)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pents[:3] {
		parents = append(parents, Cell(p))
	}
	for _, c := range parents {
		r := c.Resolution()
		for _, res := range []int{r, r + 1, min(r+3, MaxRes)} {
			lo, hi, err := c.DescendantRange(res)
			if err != nil {
				t.Fatal(err)
			}
			kids, err := h3.Cell(c).Children(res)
			if err != nil {
				t.Fatal(err)
			}
			minKid, maxKid := Cell(kids[0]), Cell(kids[0])
			for _, k := range kids {
				kc := Cell(k)
				if kc < lo || kc > hi {
					t.Fatalf("child %s of %s at res %d outside [%s, %s]", kc, c, res, lo, hi)
				}
				minKid, maxKid = min(minKid, kc), max(maxKid, kc)
			}
			if !h3.Cell(c).IsPentagon() && (minKid != lo || maxKid != hi) {
				t.Fatalf("%s at res %d: range [%s, %s], children span [%s, %s]", c, res, lo, hi, minKid, maxKid)
			}
			// A neighbour's children never fall inside.
			disk, _ := c.Disk(1)
			for _, n := range disk {
				if n == c {
					continue
				}
				nk, _ := h3.Cell(n).Children(res)
				for _, k := range nk {
					if Cell(k) >= lo && Cell(k) <= hi {
						t.Fatalf("child %s of neighbour %s inside the range of %s", Cell(k), n, c)
					}
				}
			}
		}
	}
	if _, _, err := parents[0].DescendantRange(parents[0].Resolution() - 1); err == nil && parents[0].Resolution() > 0 {
		t.Error("a coarser resolution must be refused")
	}
}

// TestAncestorNearCell checks what the trace store's probes rely on when they read
// fine stored cells by a coarser ancestor: the hierarchical ancestor at res r of a
// point's cell at a finer res is the point's own cell at r or one of its neighbours
// (H3 children do not nest exactly in their parent, so it is not always the point's
// cell), for random points over the sphere.
func TestAncestorNearCell(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	differ := 0
	for range 30000 {
		lat := math.Asin(2*rng.Float64()-1) * 180 / math.Pi
		p := orb.Point{rng.Float64()*360 - 180, lat}
		for _, fine := range []int{10, 12} {
			c, err := CellOf(p, fine)
			if err != nil {
				t.Fatal(err)
			}
			for r := 0; r < fine; r++ {
				g, _ := CellOf(p, r)
				a, err := c.Parent(r)
				if err != nil {
					t.Fatal(err)
				}
				if a == g {
					continue
				}
				differ++
				d, err := h3.Cell(g).GridDistance(h3.Cell(a))
				if err != nil || d > 1 {
					t.Fatalf("%v: ancestor at res %d of its res-%d cell is %s, %d steps from its cell %s (%v)", p, r, fine, a, d, g, err)
				}
			}
		}
	}
	if differ == 0 {
		t.Fatal("no ancestor differed from the point's cell: the test checks nothing")
	}
}
