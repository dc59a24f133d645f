package copresence

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// destination is the point at distance d metres and bearing θ (radians from north)
// from p on the sphere of radius geo.EarthRadiusM.
func destination(p orb.Point, d, θ float64) orb.Point {
	δ := d / geo.EarthRadiusM
	φ1, λ1 := p[1]*math.Pi/180, p[0]*math.Pi/180
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	lng := math.Mod(λ2*180/math.Pi+540, 360) - 180
	return orb.Point{lng, φ2 * 180 / math.Pi}
}

// TestNeighbourProbeCoversDistance checks the premise of the search: at the
// resolution chosen for a distance D, a point within D of a ping is always in the
// ping's cell or one of its neighbours. Points are spread over the whole globe (where
// H3 distortion varies most) and partners put at exactly D in a random direction.
func TestNeighbourProbeCoversDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 2024))
	for _, d := range []float64{0.5, 5, 20, 50, 100, 1000, 20000, MaxDistanceM} {
		res, err := resolutionFor(d)
		if err != nil {
			t.Fatal(err)
		}
		n := 20000
		if res <= 4 {
			n = 2000 // few, large cells: fewer samples cover them
		}
		for i := 0; i < n; i++ {
			// Uniform on the sphere, away from the poles' numerical edge.
			p := orb.Point{rng.Float64()*360 - 180, math.Asin(rng.Float64()*1.99-0.995) * 180 / math.Pi}
			q := destination(p, d, rng.Float64()*2*math.Pi)
			if got := geo.DistanceM(p, q); got > d*(1+1e-6)+1e-6 {
				t.Fatalf("destination is %.9f m away, want %g", got, d)
			}
			cp, err := geo.CellOf(p, res)
			if err != nil {
				t.Fatal(err)
			}
			cq, err := geo.CellOf(q, res)
			if err != nil {
				t.Fatal(err)
			}
			disk, err := cp.Disk(1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(disk, cq) {
				t.Fatalf("D=%g m, res %d: %v (cell %s) and %v (cell %s) are %g m apart but not neighbours", d, res, p, cp, q, cq, d)
			}
		}
	}
}

func TestResolutionFor(t *testing.T) {
	tests := []struct {
		d    float64
		want int
	}{
		{20, 10}, {37.9, 10}, {38, 9}, {50, 9}, {0.2, 15}, {200, 8}, {600_000, 0},
	}
	for _, tc := range tests {
		got, err := resolutionFor(tc.d)
		if err != nil || got != tc.want {
			t.Errorf("resolutionFor(%g) = %d, %v; want %d", tc.d, got, err, tc.want)
		}
	}
	if _, err := resolutionFor(700_000); err == nil {
		t.Error("700 km accepted")
	}
}
