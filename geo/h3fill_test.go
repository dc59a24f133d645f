package geo

import (
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// TestPolygonCells checks centre containment on a square with a hole: every cell
// returned has its centre inside the polygon and out of the hole, and every cell of a
// disk covering the square whose centre is inside is returned.
func TestPolygonCells(t *testing.T) {
	shell := orb.Ring{{121.40, 31.10}, {121.42, 31.10}, {121.42, 31.12}, {121.40, 31.12}, {121.40, 31.10}}
	hole := orb.Ring{{121.405, 31.105}, {121.405, 31.115}, {121.415, 31.115}, {121.415, 31.105}, {121.405, 31.105}}
	poly := orb.Polygon{shell, hole}
	cells, err := PolygonCells(orb.MultiPolygon{poly}, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[Cell]bool{}
	for _, c := range cells {
		if got[c] {
			t.Fatalf("cell %s twice", c)
		}
		got[c] = true
	}
	centre, _ := CellOf(orb.Point{121.41, 31.11}, 10)
	disk, err := centre.Disk(20)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, c := range disk {
		p, err := c.Center()
		if err != nil {
			t.Fatal(err)
		}
		if inside := planar.PolygonContains(poly, p); inside != got[c] {
			t.Errorf("cell %s centre %v: inside %v, returned %v", c, p, inside, got[c])
		} else if inside {
			want++
		}
	}
	if want != len(cells) || want < 50 {
		t.Fatalf("%d cells returned, %d centres inside", len(cells), want)
	}
	if _, err := PolygonCells(orb.MultiPolygon{poly}, 16); err == nil {
		t.Fatal("resolution 16 accepted")
	}
}
