package stay_test

import (
	"math"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/stay"
	"github.com/gridtrace/gridtrace/trace/track"
)

var (
	t0     = time.Date(2008, 10, 27, 0, 0, 0, 0, time.UTC)
	origin = orb.Point{116.3184, 39.9847}
)

// walk is one ping a minute for n minutes from minute start, at metres north of
// origin plus step metres more each minute.
func walk(start, n int, metres, step float64) []track.Ping {
	var out []track.Ping
	for i := 0; i < n; i++ {
		m := metres + step*float64(i)
		out = append(out, track.Ping{
			Time:  t0.Add(time.Duration(start+i) * time.Minute),
			Point: orb.Point{origin[0], origin[1] + m/geo.EarthRadiusM*180/math.Pi},
		})
	}
	return out
}

func concat(parts ...[]track.Ping) []track.Ping {
	var out []track.Ping
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDetect(t *testing.T) {
	type want struct{ arrive, depart, pings int } // minutes from t0
	tests := []struct {
		name  string
		pings []track.Ping
		want  []want
	}{
		{"home, walk, work (still there at the end)",
			concat(walk(0, 60, 0, 0), walk(60, 20, 100, 100), walk(80, 45, 3000, 1)),
			[]want{{0, 60, 61}, {80, 124, 45}}}, // the first walking ping is 100 m from home
		{"a stop of 29 minutes is not a stay", concat(walk(0, 10, 0, 150), walk(10, 30, 2000, 0), walk(40, 10, 2300, 150)),
			nil},
		{"30 minutes exactly is", concat(walk(0, 10, 0, 150), walk(10, 31, 2000, 0), walk(41, 10, 2300, 150)),
			[]want{{10, 40, 31}}},
		{"slow drift leaves the radius", walk(0, 100, 0, 4.9), // 4.9 m a minute: 41 pings within 200 m
			[]want{{0, 40, 41}, {41, 81, 41}}},
		{"nothing", nil, nil},
		{"one ping", walk(0, 1, 0, 0), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := stay.Detect(tc.pings, 200, 30*time.Minute)
			if len(got) != len(tc.want) {
				t.Fatalf("%d stays %+v, want %d", len(got), got, len(tc.want))
			}
			for i, s := range got {
				w := tc.want[i]
				if s.Arrival != t0.Add(time.Duration(w.arrive)*time.Minute) || s.Departure != t0.Add(time.Duration(w.depart)*time.Minute) || s.Pings != w.pings {
					t.Errorf("stay %d: %s–%s %d pings, want minutes %d–%d %d pings", i, s.Arrival.Format("15:04"), s.Departure.Format("15:04"), s.Pings, w.arrive, w.depart, w.pings)
				}
			}
		})
	}
	if got := stay.Detect(walk(0, 60, 0, 0), 0, time.Minute); got != nil {
		t.Errorf("radius 0 gave stays %+v", got)
	}
}

// TestDetectGeoLife checks the invariants of stays on every real trajectory: in time
// order, not overlapping, long enough, every ping of a stay within the radius of its
// first, and the centroid inside the radius too.
func TestDetectGeoLife(t *testing.T) {
	trajs, committed := geolifetest.Trajectories(t)
	const radius, minDur = 200.0, 30 * time.Minute
	total := 0
	for _, tr := range trajs {
		stays := stay.Detect(tr.Pings, radius, minDur)
		total += len(stays)
		k := 0 // index of the next ping not yet matched to a stay
		for i, s := range stays {
			if s.Duration() < minDur {
				t.Errorf("%s stay %d lasts %s", tr.Person, i, s.Duration())
			}
			if i > 0 && !s.Arrival.After(stays[i-1].Departure) && s.Arrival != stays[i-1].Departure {
				t.Errorf("%s stay %d overlaps the previous", tr.Person, i)
			}
			for k < len(tr.Pings) && tr.Pings[k].Time.Before(s.Arrival) {
				k++
			}
			first := tr.Pings[k].Point
			for _, p := range tr.Pings[k : k+s.Pings] {
				if d := geo.DistanceM(first, p.Point); d > radius {
					t.Fatalf("%s stay %d: a ping %.0f m from its first", tr.Person, i, d)
				}
			}
			if d := geo.DistanceM(first, s.Centroid); d > radius {
				t.Errorf("%s stay %d: centroid %.0f m away", tr.Person, i, d)
			}
			k += s.Pings
		}
	}
	if committed && total < 50 {
		t.Errorf("only %d stays in 8 users' weeks", total)
	}
	t.Logf("%d stays of ≥ %s within %g m", total, minDur, radius)
}
