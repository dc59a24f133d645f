package zoning

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/gridtrace/gridtrace/geo"
)

// testPolicy is a small policy: sealed the case's disk of 1, control 3, precaution 6
// at resolution 11.
func testPolicy() Policy {
	return Policy{
		Res:    11,
		Sealed: Rule{Mode: Ring, RingK: 1}, Control: Rule{Mode: Ring, RingK: 3}, Precaution: Rule{Mode: Ring, RingK: 6},
		SealMinCases: 1, ClusterMinCases: 2, CommunityMinCases: 2, CommunityWindow: 14 * 24 * time.Hour,
	}
}

var day0 = time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC)

func mustPropose(t *testing.T, in Input, p Policy) *Result {
	t.Helper()
	res, err := Propose(in, p)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	return res
}

// checkResult checks what must hold of any result: every zone's outline is valid,
// encloses exactly the area of its cells, holds each cell's centre, and each cell
// has the zone's kind.
func checkResult(t *testing.T, res *Result) {
	t.Helper()
	for i, z := range res.Zones {
		if err := geo.ValidatePolygon(z.Geom); err != nil {
			t.Fatalf("zone %d (%s): invalid outline: %v", i, z.Kind, err)
		}
		if signedArea(z.Geom[0]) <= 0 {
			t.Fatalf("zone %d: shell not counter-clockwise", i)
		}
		for _, h := range z.Geom[1:] {
			if signedArea(h) >= 0 {
				t.Fatalf("zone %d: hole not clockwise", i)
			}
		}
		cellArea := 0.0
		for _, c := range z.Cells {
			p, err := c.Polygon()
			if err != nil {
				t.Fatal(err)
			}
			cellArea += planar.Area(p)
			if res.KindOfCell(c) != z.Kind {
				t.Fatalf("zone %d cell %s has kind %q", i, c, res.KindOfCell(c))
			}
		}
		if got := planar.Area(z.Geom); math.Abs(got-cellArea) > 1e-9*cellArea {
			t.Fatalf("zone %d (%s): outline area %g, cells %g", i, z.Kind, got, cellArea)
		}
		if len(z.CaseIDs) == 0 {
			t.Fatalf("zone %d has no cases", i)
		}
	}
}

func kindCount(res *Result) map[Kind]int {
	n := map[Kind]int{}
	for _, z := range res.Zones {
		n[z.Kind]++
	}
	return n
}

func TestOneCase(t *testing.T) {
	p := orb.Point{121.4737, 31.2304}
	res := mustPropose(t, Input{Cases: []Case{{ID: 7, Point: p, At: day0}}}, testPolicy())
	if n := kindCount(res); n[Sealed] != 1 || n[Control] != 1 || n[Precaution] != 1 || len(res.Zones) != 3 {
		t.Fatalf("zones %v", n)
	}
	// Disks of 1, 3 and 6 hold 7, 37 and 127 cells: the cut leaves 7, 30 and 90.
	want := map[Kind]struct{ cells, holes int }{Sealed: {7, 0}, Control: {30, 1}, Precaution: {90, 1}}
	for _, z := range res.Zones {
		if w := want[z.Kind]; len(z.Cells) != w.cells || len(z.Geom)-1 != w.holes {
			t.Errorf("%s: %d cells, %d holes; want %d, %d", z.Kind, len(z.Cells), len(z.Geom)-1, w.cells, w.holes)
		}
		if !slices.Equal(z.CaseIDs, []int64{7}) || z.Escalation != EpidemicPoint {
			t.Errorf("%s: cases %v, escalation %s", z.Kind, z.CaseIDs, z.Escalation)
		}
	}
	// The case point is sealed, and not inside the control or precaution outline
	// (it sits in their hole).
	if k, _, ok := res.Classify(p); !ok || k != Sealed {
		t.Fatalf("case point classified %q", k)
	}
	for _, z := range res.Zones {
		if in := planar.PolygonContains(z.Geom, p); in != (z.Kind == Sealed) {
			t.Errorf("%s outline contains the case point: %v", z.Kind, in)
		}
	}
	// Far away: nothing.
	if _, _, ok := res.Classify(orb.Point{121.6, 31.3}); ok {
		t.Fatal("a far point is in a zone")
	}
}

func TestComponentsAndCases(t *testing.T) {
	// Cases 1 and 2 are about 200 m apart: separate sealed zones, one control and one
	// precaution zone around both. Case 3 is 5 km away: zones of its own.
	a := orb.Point{121.4737, 31.2304}
	b := orb.Point{121.4758, 31.2304}
	c := orb.Point{121.5237, 31.2304}
	cases := []Case{{ID: 3, Point: c, At: day0}, {ID: 1, Point: a, At: day0}, {ID: 2, Point: b, At: day0}}
	res := mustPropose(t, Input{Cases: cases}, testPolicy())
	if n := kindCount(res); n[Sealed] != 3 || n[Control] != 2 || n[Precaution] != 2 {
		t.Fatalf("zones %v", n)
	}
	got := map[string]bool{}
	for _, z := range res.Zones {
		got[fmt.Sprintf("%s %v", z.Kind, z.CaseIDs)] = true
	}
	for _, w := range []string{"sealed [1]", "sealed [2]", "sealed [3]", "control [1 2]", "control [3]", "precaution [1 2]", "precaution [3]"} {
		if !got[w] {
			t.Errorf("missing zone %q; got %v", w, got)
		}
	}
	// Two cases of unknown source on one day: community transmission for the zones
	// they share, an epidemic point for case 3's.
	for _, z := range res.Zones {
		want := EpidemicPoint
		if len(z.CaseIDs) == 2 {
			want = CommunityTransmission
		}
		if z.Escalation != want {
			t.Errorf("%s %v: escalation %s (%s), want %s", z.Kind, z.CaseIDs, z.Escalation, z.Reason, want)
		}
	}
}

func TestEscalation(t *testing.T) {
	p := testPolicy()
	pt := orb.Point{121.4737, 31.2304}
	for _, tc := range []struct {
		name  string
		cases []Case
		want  Escalation
	}{
		{"one case", []Case{{ID: 1, At: day0, Key: "a"}}, EpidemicPoint},
		{"two in one unit, known source", []Case{{ID: 1, At: day0, Key: "a", SourceKnown: true}, {ID: 2, At: day0, Key: "a", SourceKnown: true}}, Cluster},
		{"two units, known source", []Case{{ID: 1, At: day0, Key: "a", SourceKnown: true}, {ID: 2, At: day0, Key: "b", SourceKnown: true}}, EpidemicPoint},
		{"two unknown 14 days apart", []Case{{ID: 1, At: day0, Key: "a"}, {ID: 2, At: day0.Add(14 * 24 * time.Hour), Key: "b"}}, CommunityTransmission},
		{"two unknown 15 days apart", []Case{{ID: 1, At: day0, Key: "a"}, {ID: 2, At: day0.Add(15 * 24 * time.Hour), Key: "b"}}, EpidemicPoint},
		{"one unknown in a cluster", []Case{{ID: 1, At: day0, Key: "a"}, {ID: 2, At: day0, Key: "a", SourceKnown: true}}, Cluster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.cases {
				tc.cases[i].Point = pt
			}
			res := mustPropose(t, Input{Cases: tc.cases}, p)
			for _, z := range res.Zones {
				if z.Escalation != tc.want {
					t.Fatalf("%s: %s (%s), want %s", z.Kind, z.Escalation, z.Reason, tc.want)
				}
			}
		})
	}
}

func TestSealMinCases(t *testing.T) {
	p := testPolicy()
	p.SealMinCases = 2
	a, b := orb.Point{121.4737, 31.2304}, orb.Point{121.5237, 31.2304}
	res := mustPropose(t, Input{Cases: []Case{
		{ID: 1, Point: a, At: day0, Key: "lane 1"}, {ID: 2, Point: a, At: day0, Key: "lane 1"},
		{ID: 3, Point: b, At: day0, Key: "lane 9"},
	}}, p)
	for _, z := range res.Zones {
		if z.Kind == Sealed && !slices.Equal(z.CaseIDs, []int64{1, 2}) {
			t.Fatalf("sealed zone of %v: one case at a point must not be sealed", z.CaseIDs)
		}
	}
	if n := kindCount(res); n[Sealed] != 1 || n[Control] != 2 {
		t.Fatalf("zones %v", n)
	}
	// The lone case's point is in control: its control footprint still applies.
	if k, _, _ := res.Classify(b); k != Control {
		t.Fatalf("lone case classified %q", k)
	}
}

func TestMetres(t *testing.T) {
	p := testPolicy()
	p.Sealed = Rule{Mode: Metres, DistanceM: 60}
	p.Control = Rule{Mode: Metres, DistanceM: 200}
	p.Precaution = Rule{Mode: Metres, DistanceM: 400}
	pt := orb.Point{121.4737, 31.2304}
	res := mustPropose(t, Input{Cases: []Case{{ID: 1, Point: pt, At: day0}}}, p)
	for _, z := range res.Zones {
		for _, c := range z.Cells {
			cc, _ := c.Center()
			d := geo.DistanceM(cc, pt)
			lim := map[Kind][2]float64{Sealed: {0, 60}, Control: {60, 200}, Precaution: {200, 400}}[z.Kind]
			if d > lim[1] || (d <= lim[0] && z.Kind != Sealed) {
				t.Fatalf("%s cell %s centre at %.1f m", z.Kind, c, d)
			}
		}
	}
	// Every cell centred within 400 m is in some zone.
	o, _ := geo.CellOf(pt, 11)
	disk, _ := o.Disk(12)
	for _, c := range disk {
		cc, _ := c.Center()
		if geo.DistanceM(cc, pt) <= 400 && res.KindOfCell(c) == "" {
			t.Fatalf("cell %s centred %.1f m away is in no zone", c, geo.DistanceM(cc, pt))
		}
	}
}

func TestAreaMode(t *testing.T) {
	p := testPolicy()
	p.Precaution = Rule{Mode: Area, RingK: 6}
	square := orb.MultiPolygon{{{{121.46, 31.22}, {121.49, 31.22}, {121.49, 31.24}, {121.46, 31.24}, {121.46, 31.22}}}}
	in := Input{
		Cases: []Case{{ID: 1, Point: orb.Point{121.4737, 31.2304}, At: day0}, {ID: 2, Point: orb.Point{121.60, 31.30}, At: day0}},
		Areas: []AreaShape{{ID: 9, Geom: square}},
	}
	res := mustPropose(t, in, p)
	cells, _ := geo.PolygonCells(square, 11)
	inArea := 0
	for _, c := range cells {
		if res.KindOfCell(c) != "" {
			inArea++
		}
	}
	if inArea != len(cells) {
		t.Fatalf("%d of the area's %d cells are zoned", inArea, len(cells))
	}
	// Case 2 lies in no area: it gets the ring of 6 (127 cells in all).
	n := 0
	for _, z := range res.Zones {
		if slices.Contains(z.CaseIDs, 2) {
			n += len(z.Cells)
		}
	}
	if n != 127 {
		t.Fatalf("case 2's zones hold %d cells, want 127", n)
	}
}

func TestOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []Case
	for i := range 60 {
		cases = append(cases, Case{ID: int64(i + 1), Point: orb.Point{121.45 + rng.Float64()*0.05, 31.21 + rng.Float64()*0.04},
			At: day0.Add(time.Duration(rng.IntN(30*24)) * time.Hour), Key: fmt.Sprint(rng.IntN(40))})
	}
	a := mustPropose(t, Input{Cases: cases}, testPolicy())
	rng.Shuffle(len(cases), func(i, j int) { cases[i], cases[j] = cases[j], cases[i] })
	b := mustPropose(t, Input{Cases: cases}, testPolicy())
	if len(a.Zones) != len(b.Zones) {
		t.Fatalf("%d zones, then %d", len(a.Zones), len(b.Zones))
	}
	for i := range a.Zones {
		za, zb := a.Zones[i], b.Zones[i]
		if za.Kind != zb.Kind || !slices.Equal(za.CaseIDs, zb.CaseIDs) || !orb.Equal(za.Geom, zb.Geom) || za.Reason != zb.Reason {
			t.Fatalf("zone %d differs with the input shuffled", i)
		}
	}
}

// TestHouseholdsInOneKind classifies random households around random cases by cell
// and checks the outlines agree: each point lies inside the outline of the zone its
// cell names and inside no outline of another kind.
func TestHouseholdsInOneKind(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var cases []Case
	for i := range 200 {
		cases = append(cases, Case{ID: int64(i + 1), Point: orb.Point{121.40 + rng.Float64()*0.15, 31.15 + rng.Float64()*0.12}, At: day0})
	}
	res := mustPropose(t, Input{Cases: cases}, testPolicy())
	byKind := map[Kind][]geo.IndexedPolygon{}
	for i, z := range res.Zones {
		byKind[z.Kind] = append(byKind[z.Kind], geo.IndexedPolygon{ID: int64(i), Geom: orb.MultiPolygon{z.Geom}})
	}
	ix := map[Kind]*geo.PolygonIndex{}
	for k, items := range byKind {
		ix[k] = geo.NewPolygonIndex(items)
	}
	counts := map[Kind]int{}
	for range 100000 {
		c := cases[rng.IntN(len(cases))].Point
		h := orb.Point{c[0] + (rng.Float64()-0.5)*0.01, c[1] + (rng.Float64()-0.5)*0.01}
		kind, zone, ok := res.Classify(h)
		inside := 0
		for k, x := range ix {
			id, in := x.Find(h)
			if !in {
				continue
			}
			inside++
			if k != kind || int(id) != zone {
				t.Fatalf("%v: cell says %q zone %d, outline of %s zone %d holds it", h, kind, zone, k, id)
			}
		}
		if inside > 1 {
			t.Fatalf("%v lies in %d kinds", h, inside)
		}
		if ok != (inside == 1) {
			t.Fatalf("%v: classified %v, inside %d outlines", h, ok, inside)
		}
		counts[kind]++
	}
	if counts[Sealed] == 0 || counts[Control] == 0 || counts[Precaution] == 0 || counts[""] == 0 {
		t.Fatalf("households per kind %v: the test does not reach every kind", counts)
	}
}

func TestLimitsAndBadInput(t *testing.T) {
	p := testPolicy()
	p.MaxCells = 100
	_, err := Propose(Input{Cases: []Case{{ID: 1, Point: orb.Point{121.47, 31.23}}}}, p)
	var le *LimitError
	if !errors.As(err, &le) || le.Max != 100 {
		t.Fatalf("over the cell budget: %v", err)
	}
	_, err = Propose(Input{Cases: []Case{{ID: 5, Point: orb.Point{200, 31}}}}, testPolicy())
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "case 5" {
		t.Fatalf("bad point: %v", err)
	}
	bad := testPolicy()
	bad.Control.Mode = Area
	if err := bad.Validate(); !errors.As(err, &fe) || fe.Field != "control.mode" {
		t.Fatalf("area control: %v", err)
	}
	res, err := Propose(Input{}, testPolicy())
	if err != nil || len(res.Zones) != 0 {
		t.Fatalf("no cases: %v %v", res, err)
	}
}
