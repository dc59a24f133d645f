// Package stay detects stay points: places where a person stayed within a radius for
// at least a minimum time, with arrival and departure. It is pure (standard library,
// orb, geo and trace/track only) and is the reference the trace store's stays follow.
//
// The algorithm is the classic one of Li et al., "Mining user similarity based on
// location history" (ACM GIS 2008), used on GeoLife by Zheng et al.: from an anchor
// ping i, extend j while ping j is within the radius of ping i; when the first ping
// outside is found (or the trajectory ends), the pings i..j−1 form a stay if their
// time span reaches the minimum; the search then restarts at j after a stay, at i+1
// otherwise. Two deliberate differences from the paper's pseudo-code, both common in
// later implementations: the stay ends at the last ping inside the radius (the paper
// takes the first ping outside, so the departure and centroid include a point that
// already left), and a stay still open when the trajectory ends is reported (the
// paper drops it, losing e.g. the night at home at the end of a recording).
package stay

import (
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/track"
)

// Stay is a place where a person stayed.
type Stay struct {
	// Arrival is the time of the first ping of the stay.
	Arrival time.Time
	// Departure is the time of the last ping within the radius.
	Departure time.Time
	// Centroid is the mean [lng, lat] of the stay's pings (a plain average of
	// degrees: exact enough within a few hundred metres, wrong across the
	// antimeridian, where nobody in the domain lives).
	Centroid orb.Point
	// Pings is the number of pings in the stay.
	Pings int
}

// Duration is Departure − Arrival.
func (s Stay) Duration() time.Duration { return s.Departure.Sub(s.Arrival) }

// Detect returns the stays in pings (ordered by time, as track.Trajectory keeps them):
// runs of pings all within radiusM metres (geo.DistanceM) of the run's first ping and
// spanning at least minDur. Stays are in time order and do not overlap. A radius ≤ 0
// or a nil input gives no stays.
func Detect(pings []track.Ping, radiusM float64, minDur time.Duration) []Stay {
	var out []Stay
	if !(radiusM > 0) {
		return nil
	}
	n := len(pings)
	for i := 0; i < n; {
		j := i + 1
		for j < n && geo.DistanceM(pings[i].Point, pings[j].Point) <= radiusM {
			j++
		}
		// pings[i:j] lie within the radius of ping i; j is the first outside, or n.
		if pings[j-1].Time.Sub(pings[i].Time) >= minDur && j-1 > i {
			out = append(out, stayOf(pings[i:j]))
			i = j
			continue
		}
		i++
	}
	return out
}

func stayOf(ps []track.Ping) Stay {
	var lng, lat float64
	for _, p := range ps {
		lng += p.Point[0]
		lat += p.Point[1]
	}
	k := float64(len(ps))
	return Stay{
		Arrival:   ps[0].Time,
		Departure: ps[len(ps)-1].Time,
		Centroid:  orb.Point{lng / k, lat / k},
		Pings:     len(ps),
	}
}
