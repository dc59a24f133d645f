package geo

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

func TestValidatePolygon(t *testing.T) {
	sq := square(0, 0, 10, 10)
	hexagon := func() orb.Polygon {
		c, err := CellOf(orb.Point{121.4737, 31.2304}, 9)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Polygon()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}()
	tests := []struct {
		name   string
		g      orb.Geometry
		field  string // "" for a valid geometry
		reason string // a substring of the reason
	}{
		// Valid shapes.
		{"square", orb.Polygon{sq}, "", ""},
		{"clockwise ring", orb.Polygon{{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {0, 0}}}, "", ""},
		{"H3 cell", hexagon, "", ""},
		{"square with hole", orb.Polygon{sq, square(4, 4, 6, 6)}, "", ""},
		{"repeated points", orb.Polygon{{{0, 0}, {0, 0}, {10, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}, {0, 0}}}, "", ""},
		{"hole touching shell at a point", orb.Polygon{sq, {{10, 5}, {8, 4}, {8, 6}, {10, 5}}}, "", ""},
		{"hole touching shell at a corner", orb.Polygon{sq, {{10, 10}, {8, 9}, {9, 8}, {10, 10}}}, "", ""},
		{"two holes touching at a point", orb.Polygon{sq, square(2, 2, 4, 4), square(4, 4, 6, 6)}, "", ""},
		{"three rings touching at one point", orb.Polygon{sq, {{0, 5}, {3, 4}, {3, 6}, {0, 5}}, {{0, 5}, {3, 7}, {2, 8}, {0, 5}}}, "", ""},
		{"chain of touching holes", orb.Polygon{sq, {{0, 5}, {3, 4}, {5, 5}, {3, 6}, {0, 5}}, {{5, 5}, {7, 4}, {9, 5}, {7, 6}, {5, 5}}}, "", ""},
		{"disjoint parts", orb.MultiPolygon{{sq}, {square(20, 0, 30, 10)}}, "", ""},
		{"parts touching at a corner", orb.MultiPolygon{{sq}, {square(10, 10, 20, 20)}}, "", ""},
		{"island in a hole", orb.MultiPolygon{{sq, square(2, 2, 8, 8)}, {square(4, 4, 6, 6)}}, "", ""},
		{"edge from -180 to 180 range", orb.Polygon{{{-180, -90}, {180, -90}, {180, 90}, {-180, 90}, {-180, -90}}}, "", ""},

		// Wrong types and empty shapes.
		{"nil", nil, "type", "missing"},
		{"point", orb.Point{1, 2}, "type", "not Point"},
		{"line string", orb.LineString{{0, 0}, {1, 1}}, "type", "not LineString"},
		{"empty polygon", orb.Polygon{}, "coordinates", "no rings"},
		{"empty multipolygon", orb.MultiPolygon{}, "coordinates", "no polygons"},
		{"empty part", orb.MultiPolygon{{sq}, {}}, "coordinates[1]", "no rings"},

		// Bad coordinates.
		{"NaN", orb.Polygon{{{0, 0}, {math.NaN(), 0}, {1, 1}, {0, 0}}}, "coordinates[0][1]", "lng is not a finite number"},
		{"infinite latitude", orb.Polygon{{{0, 0}, {1, 0}, {1, math.Inf(1)}, {0, 0}}}, "coordinates[0][2]", "lat is not a finite number"},
		{"longitude out of range", orb.Polygon{sq, {{2, 2}, {181, 2}, {3, 3}, {2, 2}}}, "coordinates[1][1]", "lng 181 is outside [-180, 180]"},
		{"latitude out of range in a part", orb.MultiPolygon{{sq}, {{{0, 0}, {1, 91}, {1, 1}, {0, 0}}}}, "coordinates[1][0][1]", "lat 91 is outside [-90, 90]"},

		// Ring structure.
		{"unclosed ring", orb.Polygon{{{0, 0}, {10, 0}, {10, 10}, {0, 10}}}, "coordinates[0]", "ring not closed"},
		{"too few points", orb.Polygon{{{0, 0}, {10, 0}, {0, 0}}}, "coordinates[0]", "ring has 3 points"},
		{"two distinct points", orb.Polygon{{{0, 0}, {10, 0}, {10, 0}, {0, 0}}}, "coordinates[0]", "only 2 distinct points"},
		{"collinear ring", orb.Polygon{{{0, 0}, {5, 0}, {10, 0}, {0, 0}}}, "coordinates[0]", "zero area"},

		// Self-intersection.
		{"bow-tie", orb.Polygon{{{0, 0}, {2, 2}, {2, 0}, {0, 2}, {0, 0}}}, "coordinates[0]",
			"self-intersection: edges 0–1 and 2–3 cross at (1.0000000, 1.0000000)"},
		{"bow-tie in a part", orb.MultiPolygon{{sq}, {{{20, 0}, {22, 2}, {22, 0}, {20, 2}, {20, 0}}}}, "coordinates[1][0]",
			"edges 0–1 and 2–3 cross at (21.0000000, 1.0000000)"},
		{"ring touching itself at a vertex", orb.Polygon{{{0, 0}, {4, 0}, {4, 4}, {2, 0}, {0, 4}, {0, 0}}}, "coordinates[0]",
			"touch at (2.0000000, 0.0000000)"},
		{"spike", orb.Polygon{{{0, 0}, {4, 0}, {4, 6}, {4, 4}, {0, 4}, {0, 0}}}, "coordinates[0]",
			"self-intersection: edges 1–2 and "},
		{"edge numbers count repeated points", orb.Polygon{{{0, 0}, {2, 2}, {2, 2}, {2, 0}, {0, 2}, {0, 0}}}, "coordinates[0]",
			"edges 0–1 and 3–4 cross"},

		// Holes.
		{"hole outside shell", orb.Polygon{sq, square(20, 20, 22, 22)}, "coordinates[1]", "hole is not inside its shell coordinates[0]"},
		{"hole crossing shell", orb.Polygon{sq, square(8, 4, 12, 6)}, "coordinates[1]", "crosses edge"},
		{"hole along shell edge", orb.Polygon{sq, square(0, 4, 2, 6)}, "coordinates[1]", "runs along edge"},
		{"hole leaving through shell corners", orb.Polygon{sq, {{5, 5}, {10, 0}, {15, 5}, {10, 10}, {5, 5}}}, "coordinates[1]",
			"crosses coordinates[0] at its vertex"},
		{"hole inside hole", orb.Polygon{sq, square(2, 2, 8, 8), square(4, 4, 6, 6)}, "coordinates[2]", "hole lies inside hole coordinates[1]"},
		{"hole containing earlier hole", orb.Polygon{sq, square(4, 4, 6, 6), square(2, 2, 8, 8)}, "coordinates[2]", "hole contains hole coordinates[1]"},
		{"hole equal to shell", orb.Polygon{sq, sq}, "coordinates[1]", "runs along"},
		{"hole touching shell twice", orb.Polygon{sq, {{10, 5}, {5, 2}, {0, 5}, {5, 8}, {10, 5}}}, "coordinates",
			"interior is cut apart"},
		{"holes touching twice", orb.Polygon{sq, {{2, 2}, {5, 3}, {8, 2}, {5, 5}, {2, 2}}, {{2, 2}, {5, 6}, {8, 2}, {5, 8}, {2, 2}}}, "coordinates",
			"interior is cut apart"},
		{"loop shell–hole–hole–shell", orb.Polygon{sq, {{0, 5}, {3, 4}, {5, 5}, {3, 6}, {0, 5}}, {{5, 5}, {7, 4}, {10, 5}, {7, 6}, {5, 5}}}, "coordinates",
			"interior is cut apart"},
		{"loop in a part", orb.MultiPolygon{{square(20, 0, 30, 10)}, {sq, {{10, 5}, {5, 2}, {0, 5}, {5, 8}, {10, 5}}}}, "coordinates[1]",
			"interior is cut apart"},
		{"holes crossing", orb.Polygon{sq, square(2, 2, 5, 5), square(4, 4, 7, 7)}, "coordinates[2]", "crosses edge"},

		// MultiPolygon parts.
		{"parts crossing", orb.MultiPolygon{{sq}, {square(5, 5, 15, 15)}}, "coordinates[1][0]", "crosses edge"},
		{"part inside part", orb.MultiPolygon{{sq}, {square(2, 2, 4, 4)}}, "coordinates[1]", "polygon overlaps polygon coordinates[0]"},
		{"part around part", orb.MultiPolygon{{square(2, 2, 4, 4)}, {sq}}, "coordinates[1]", "polygon overlaps polygon coordinates[0]"},
		{"parts sharing an edge", orb.MultiPolygon{{sq}, {square(10, 0, 20, 10)}}, "coordinates[1][0]", "runs along"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePolygon(tc.g)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid shape rejected: %v", err)
				}
				return
			}
			var ce *CoordError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (%T), want a *CoordError", err, err)
			}
			if ce.Field != tc.field || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("got %q: %q\nwant %q: …%q…", ce.Field, ce.Reason, tc.field, tc.reason)
			}
		})
	}
}

// TestValidatePolygonDoesNotModify guards the caller's geometry: validation must not
// reorder or dedupe points in place.
func TestValidatePolygonDoesNotModify(t *testing.T) {
	p := orb.Polygon{{{0, 0}, {0, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}}}
	want := p.Clone()
	if err := ValidatePolygon(p); err != nil {
		t.Fatal(err)
	}
	if !p.Equal(want) {
		t.Fatalf("polygon changed to %v", p)
	}
}

// TestValidateStreets checks real imported areas: the sample streets are all valid
// (PostGIS ST_IsValid agrees), and of all 214 streets exactly one is not, 嘉定区/徐行镇
// (feature 19), which PostGIS 3.3 reports as "Ring Self-intersection
// [121.197828899069 31.3747023085045]": its ring returns to its first point at vertex
// 4, a loop our sweep reports as two edges touching there.
func TestValidateStreets(t *testing.T) {
	for _, s := range loadStreets(t, sampleStreetsPath) {
		if err := ValidatePolygon(s.Geom); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	if _, err := os.Stat(fullStreetsPath); err != nil {
		t.Skipf("full streets not present (%v); the committed sample passed", err)
	}
	invalid := 0
	for i, s := range loadStreets(t, fullStreetsPath) {
		err := ValidatePolygon(s.Geom)
		if i != 19 {
			if err != nil {
				t.Errorf("feature %d %s: %v", i, s.Name, err)
			}
			continue
		}
		invalid++
		var ce *CoordError
		if !errors.As(err, &ce) || ce.Field != "coordinates[0][0]" || !strings.Contains(ce.Reason, "touch at (121.1978289, 31.3747023)") {
			t.Errorf("feature 19 %s: got %v, want a self-touch at (121.1978289, 31.3747023)", s.Name, err)
		}
	}
	if invalid != 1 {
		t.Fatalf("feature 19 not checked")
	}
}

func TestIntersectSegments(t *testing.T) {
	tests := []struct {
		name       string
		a, b, c, d orb.Point
		want       meet
		at         orb.Point
	}{
		{"cross", orb.Point{0, 0}, orb.Point{2, 2}, orb.Point{0, 2}, orb.Point{2, 0}, meetCross, orb.Point{1, 1}},
		{"apart", orb.Point{0, 0}, orb.Point{1, 0}, orb.Point{0, 1}, orb.Point{1, 1}, meetNone, orb.Point{}},
		{"T touch", orb.Point{0, 0}, orb.Point{2, 0}, orb.Point{1, 0}, orb.Point{1, 1}, meetTouch, orb.Point{1, 0}},
		{"shared end", orb.Point{0, 0}, orb.Point{1, 0}, orb.Point{1, 0}, orb.Point{1, 1}, meetTouch, orb.Point{1, 0}},
		{"collinear apart", orb.Point{0, 0}, orb.Point{1, 0}, orb.Point{2, 0}, orb.Point{3, 0}, meetNone, orb.Point{}},
		{"collinear end to end", orb.Point{0, 0}, orb.Point{1, 0}, orb.Point{1, 0}, orb.Point{3, 0}, meetTouch, orb.Point{1, 0}},
		{"collinear overlap", orb.Point{0, 0}, orb.Point{2, 0}, orb.Point{1, 0}, orb.Point{3, 0}, meetOverlap, orb.Point{1, 0}},
		{"vertical overlap", orb.Point{0, 3}, orb.Point{0, 0}, orb.Point{0, 1}, orb.Point{0, 2}, meetOverlap, orb.Point{0, 1}},
		{"near miss", orb.Point{0, 0}, orb.Point{2, 0}, orb.Point{1, 1e-12}, orb.Point{1, 1}, meetNone, orb.Point{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, at := intersectSegments(tc.a, tc.b, tc.c, tc.d)
			if got != tc.want || at != tc.at {
				t.Fatalf("got %d at %v, want %d at %v", got, at, tc.want, tc.at)
			}
		})
	}
}

// TestValidateSweepMatchesBruteForce checks that the sweep's pruning misses no pair:
// on random rings over a small integer grid (so that touching, collinear and
// overlapping edges are common, not just crossings), ValidatePolygon must reject a
// ring exactly when a test of every pair of edges finds a fault.
func TestValidateSweepMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	valid, invalid := 0, 0
	for trial := range 20_000 {
		n := 3 + rng.IntN(8)
		ring := make(orb.Ring, 0, n+1)
		for range n {
			ring = append(ring, orb.Point{float64(rng.IntN(6)), float64(rng.IntN(6))})
		}
		ring = append(ring, ring[0])
		want := bruteForceRingFault(ring)
		err := ValidatePolygon(orb.Polygon{ring})
		if (err != nil) != want {
			t.Fatalf("trial %d ring %v: ValidatePolygon = %v, brute force fault = %v", trial, ring, err, want)
		}
		if want {
			invalid++
		} else {
			valid++
		}
	}
	t.Logf("%d valid and %d invalid random rings agree", valid, invalid)
	if valid < 100 || invalid < 100 {
		t.Fatalf("too few of one kind to mean anything: %d valid, %d invalid", valid, invalid)
	}
}

// bruteForceRingFault is the O(n²) reference for one closed ring: fewer than 3
// distinct points, all points on a line, or any two edges meeting other than
// consecutive edges at their shared vertex.
func bruteForceRingFault(ring orb.Ring) bool {
	var pts []orb.Point
	for _, p := range ring[:len(ring)-1] {
		if len(pts) == 0 || p != pts[len(pts)-1] {
			pts = append(pts, p)
		}
	}
	if len(pts) > 1 && pts[len(pts)-1] == pts[0] {
		pts = pts[:len(pts)-1]
	}
	n := len(pts)
	if n < 3 {
		return true
	}
	line := true
	for _, p := range pts[2:] {
		if orient(pts[0], pts[1], p) != 0 {
			line = false
		}
	}
	if line {
		return true
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			kind, _ := intersectSegments(pts[i], pts[(i+1)%n], pts[j], pts[(j+1)%n])
			adjacent := j == i+1 || (j+1)%n == i
			if kind == meetCross || kind == meetOverlap || kind == meetTouch && !adjacent {
				return true
			}
		}
	}
	return false
}
