package copresence_test

import (
	"math"
	"sort"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/trace/track"
)

// The oracle: the definition of the issue read literally, by a different code path.
// No hashing, no H3: every ping of the case is compared with every ping of every other
// person whose time is within the tolerance (found by binary search on the sorted
// times, which drops only pairs the definition rejects anyway), with a haversine of
// its own. Minutes, contacts and encounters are then derived again from scratch.

// oracleContact is what the oracle finds for one person.
type oracleContact struct {
	minutes    []int64 // distinct exposed minutes, ascending
	encounters []oracleEncounter
}

type oracleEncounter struct {
	start, end time.Time
	minutes    int
	minDistM   float64
}

// oracleHaversineM is the great-circle distance with R = 6,371,008.8 m, written out
// again rather than calling geo.DistanceM.
func oracleHaversineM(a, b orb.Point) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	φ1, φ2 := a[1]*rad, b[1]*rad
	dφ, dλ := (b[1]-a[1])*rad, (b[0]-a[0])*rad
	s1, s2 := math.Sin(dφ/2), math.Sin(dλ/2)
	h := s1*s1 + math.Cos(φ1)*math.Cos(φ2)*s2*s2
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// oracleSpec is one rule as the oracle reads it.
type oracleSpec struct {
	tol, minDur time.Duration
	from, to    time.Time // the case's pings counted (inclusive; zero: open)
	strict      bool      // minutes must exceed minDur, not just reach it
	// near says whether the case's ping ci and ping oj of person x are close enough
	// (the time gap is checked by the oracle), and how far apart they are.
	near func(ci int, x string, oj int) (distM float64, ok bool)
}

// withinM is the close-contact near: haversine distance ≤ distM.
func withinM(trajs []track.Trajectory, caseID string, distM float64) func(int, string, int) (float64, bool) {
	pings := map[string][]track.Ping{}
	for _, tr := range trajs {
		pings[tr.Person] = tr.Pings
	}
	casePings := pings[caseID]
	return func(ci int, x string, oj int) (float64, bool) {
		a, b := casePings[ci].Point, pings[x][oj].Point
		// A great circle is never shorter than its latitude difference, so pairs far
		// apart in latitude are rejected before the trigonometry.
		if math.Abs(a[1]-b[1])*math.Pi/180*6371008.8 > distM+1 {
			return 0, false
		}
		d := oracleHaversineM(a, b)
		return d, d <= distM
	}
}

// oracle returns the contacts of the case among trajs under spec.
func oracle(trajs []track.Trajectory, caseID string, spec oracleSpec) map[string]oracleContact {
	tol, minDur, from, to, strict := spec.tol, spec.minDur, spec.from, spec.to, spec.strict
	var casePings []track.Ping
	for _, tr := range trajs {
		if tr.Person == caseID {
			casePings = tr.Pings
		}
	}
	out := map[string]oracleContact{}
	for _, tr := range trajs {
		if tr.Person == caseID {
			continue
		}
		others := tr.Pings
		minDist := map[int64]float64{} // exposed minute → smallest pair distance
		for ci, c := range casePings {
			if (!from.IsZero() && c.Time.Before(from)) || (!to.IsZero() && c.Time.After(to)) {
				continue
			}
			lo := sort.Search(len(others), func(i int) bool { return others[i].Time.Sub(c.Time) >= -tol })
			for j := lo; j < len(others) && others[j].Time.Sub(c.Time) <= tol; j++ {
				d, ok := spec.near(ci, tr.Person, j)
				if !ok {
					continue
				}
				m := c.Time.Unix()
				if m%60 < 0 {
					m -= 60
				}
				m /= 60
				if old, ok := minDist[m]; !ok || d < old {
					minDist[m] = d
				}
			}
		}
		n := time.Duration(len(minDist)) * time.Minute
		if n < minDur || (strict && n == minDur) || len(minDist) == 0 {
			continue
		}
		oc := oracleContact{}
		for m := range minDist {
			oc.minutes = append(oc.minutes, m)
		}
		sort.Slice(oc.minutes, func(i, j int) bool { return oc.minutes[i] < oc.minutes[j] })
		for i, m := range oc.minutes {
			if i == 0 || time.Duration(m-oc.minutes[i-1])*time.Minute > tol {
				oc.encounters = append(oc.encounters, oracleEncounter{start: time.Unix(m*60, 0).UTC(), minDistM: math.Inf(1)})
			}
			e := &oc.encounters[len(oc.encounters)-1]
			e.end = time.Unix(m*60, 0).UTC()
			e.minutes++
			e.minDistM = math.Min(e.minDistM, minDist[m])
		}
		out[tr.Person] = oc
	}
	return out
}
