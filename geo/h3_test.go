package geo

import (
	"math"
	"testing"

	"github.com/paulmach/orb"
)

func TestCellOfKnownValues(t *testing.T) {
	// Values from the H3 documentation and h3-go's own tests.
	tests := []struct {
		name string
		p    orb.Point
		res  int
		want string
	}{
		{"san francisco r9", orb.Point{-122.41795063018799, 37.775938728915946}, 9, "8928308280fffff"},
		{"san francisco r5", orb.Point{-122.41795063018799, 37.775938728915946}, 5, "85283083fffffff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CellOf(tc.p, tc.res)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tc.want {
				t.Fatalf("CellOf(%v, %d) = %s, want %s", tc.p, tc.res, c, tc.want)
			}
			if c.Resolution() != tc.res {
				t.Fatalf("resolution %d, want %d", c.Resolution(), tc.res)
			}
			back, err := ParseCell(tc.want)
			if err != nil || back != c {
				t.Fatalf("ParseCell(%s) = %v, %v", tc.want, back, err)
			}
		})
	}
}

func TestCellOfRejectsBadInput(t *testing.T) {
	if _, err := CellOf(orb.Point{181, 0}, 8); err == nil {
		t.Fatal("lng 181 accepted")
	}
	if _, err := CellOf(orb.Point{0, -91}, 8); err == nil {
		t.Fatal("lat -91 accepted")
	}
	if _, err := CellOf(orb.Point{0, 0}, 16); err == nil {
		t.Fatal("res 16 accepted")
	}
	if _, err := CellOf(orb.Point{math.NaN(), 0}, 8); err == nil {
		t.Fatal("NaN accepted")
	}
}

func TestCellGeometry(t *testing.T) {
	p := orb.Point{121.4737, 31.2304} // People's Square, Shanghai
	c, err := CellOf(p, 8)
	if err != nil {
		t.Fatal(err)
	}
	poly, err := c.Polygon()
	if err != nil {
		t.Fatal(err)
	}
	ring := poly[0]
	if len(ring) != 7 || ring[0] != ring[len(ring)-1] {
		t.Fatalf("a hexagon ring has 6 vertices + closing point, got %d", len(ring))
	}
	centre, err := c.Center()
	if err != nil {
		t.Fatal(err)
	}
	// A resolution-8 cell's edge is about 531 m: its centre is within that of p.
	if d := DistanceM(centre, p); d > 531 {
		t.Fatalf("centre %.0f m from the point", d)
	}
	disk, err := c.Disk(1)
	if err != nil || len(disk) != 7 {
		t.Fatalf("disk k=1: %d cells, %v", len(disk), err)
	}
	parent, err := c.Parent(5)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := CellOf(p, 5)
	if parent != direct {
		t.Fatalf("parent %s, direct %s", parent, direct)
	}
}

func TestDistanceM(t *testing.T) {
	// One degree along the equator is 2πR/360 with R = 6,371,008.8 m.
	if d := DistanceM(orb.Point{0, 0}, orb.Point{1, 0}); math.Abs(d-111195.0797) > 0.01 {
		t.Fatalf("1° of the equator = %.4f m", d)
	}
	// Quarter meridian from the equator to the pole.
	if d := DistanceM(orb.Point{0, 0}, orb.Point{0, 90}); math.Abs(d-math.Pi/2*EarthRadiusM) > 1e-6 {
		t.Fatalf("quarter meridian = %f", d)
	}
	if d := DistanceM(orb.Point{121.5, 31.2}, orb.Point{121.5, 31.2}); d != 0 {
		t.Fatalf("same point = %f", d)
	}
}

func TestParseBBox(t *testing.T) {
	if _, err := ParseBBox([]float64{121, 31, 122, 32}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]float64{{1, 2, 3}, {122, 31, 121, 32}, {-200, 0, 0, 1}, {0, 0, 1, 95}} {
		if _, err := ParseBBox(bad); err == nil {
			t.Errorf("bbox %v accepted", bad)
		}
	}
}
