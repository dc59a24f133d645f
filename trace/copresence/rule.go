package copresence

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gridtrace/gridtrace/geo"
)

// MaxDistanceM is the largest close-contact distance a Rule accepts, in metres: far
// beyond any epidemiological use, and small enough for the H3 neighbour probe (cells
// of resolution 0 would be needed beyond about 640 km).
const MaxDistanceM = 100_000

// MaxTolerance is the largest time tolerance a rule accepts: a day, far beyond any
// use (co-presence is about minutes), and small enough for exact integer arithmetic.
const MaxTolerance = 24 * time.Hour

// Rule is the close-contact rule: who counts as exposed to a source. See the package
// comment for the exact definition.
type Rule struct {
	// Version names the policy the rule comes from (trace.Policy.Version); it is
	// recorded on every contact together with the parameters (see String).
	Version string
	// DistanceM is the greatest distance of a co-located pair, in metres (> 0).
	DistanceM float64
	// Tolerance is the greatest time gap of a co-located pair (0 to MaxTolerance).
	Tolerance time.Duration
	// MinDuration is the least total of exposed minutes for a contact (≥ 0).
	MinDuration time.Duration
}

// Validate reports a parameter out of range.
func (r Rule) Validate() error {
	switch {
	case math.IsNaN(r.DistanceM) || r.DistanceM <= 0 || r.DistanceM > MaxDistanceM:
		return fmt.Errorf("distance %g m: want more than 0 and at most %d m", r.DistanceM, MaxDistanceM)
	case r.Tolerance < 0 || r.Tolerance > MaxTolerance:
		return fmt.Errorf("time tolerance %s: want 0 to %s", r.Tolerance, MaxTolerance)
	case r.MinDuration < 0:
		return fmt.Errorf("minimum duration %s: must not be negative", r.MinDuration)
	}
	return nil
}

// String is the rule as recorded on a contact: its version and every parameter, so a
// result can be reproduced even when parameters were overridden, e.g.
// "2024.1 close-contact distance=20m tolerance=5m0s min=15m0s".
func (r Rule) String() string {
	return fmt.Sprintf("%s close-contact distance=%gm tolerance=%s min=%s", r.Version, r.DistanceM, r.Tolerance, r.MinDuration)
}

// CompanionRule is the spatiotemporal-companion rule (时空伴随者): the same H3 cell as
// the source, within Tolerance, for more than MinDuration of exposed minutes.
type CompanionRule struct {
	// Version names the policy the rule comes from.
	Version string
	// Res is the H3 resolution of the shared cell (0–15; 8 is about the published
	// 800 m × 800 m square: 0.74 km² on average).
	Res int
	// Tolerance is the greatest time gap between the two pings in the cell (0 to
	// MaxTolerance).
	Tolerance time.Duration
	// MinDuration must be strictly exceeded by the exposed minutes (≥ 0).
	MinDuration time.Duration
}

// Validate reports a parameter out of range.
func (r CompanionRule) Validate() error {
	switch {
	case r.Res < 0 || r.Res > geo.MaxRes:
		return fmt.Errorf("companion H3 resolution %d: want 0–%d", r.Res, geo.MaxRes)
	case r.Tolerance < 0 || r.Tolerance > MaxTolerance:
		return fmt.Errorf("time tolerance %s: want 0 to %s", r.Tolerance, MaxTolerance)
	case r.MinDuration < 0:
		return fmt.Errorf("minimum duration %s: must not be negative", r.MinDuration)
	}
	return nil
}

// String is the rule as recorded on a contact, e.g.
// "2024.1 companion res=8 tolerance=5m0s more-than=10m0s".
func (r CompanionRule) String() string {
	return fmt.Sprintf("%s companion res=%d tolerance=%s more-than=%s", r.Version, r.Res, r.Tolerance, r.MinDuration)
}

// resolutionFor is the finest H3 resolution whose average hexagon edge is at least
// 2·d metres, so that every point within d of a ping is in the ping's cell or a
// neighbour (see the package comment).
func resolutionFor(d float64) (int, error) {
	// Average hexagon edge per resolution, in metres (H3's "Tables of Cell Statistics
	// Across Resolutions", h3geo.org/docs/core-library/restable).
	hexEdgeM := [geo.MaxRes + 1]float64{
		1281256.011, 483056.8391, 182512.9565, 68979.22179, 26071.75968, 9854.090990,
		3724.532667, 1406.475763, 531.414010, 200.786148, 75.863783, 28.663897,
		10.830188, 4.092010, 1.546100, 0.584169,
	}
	for res := geo.MaxRes; res >= 0; res-- {
		if hexEdgeM[res] >= 2*d {
			return res, nil
		}
	}
	return 0, errors.New("distance too large for the H3 neighbour search")
}
