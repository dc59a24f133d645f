// Package synth generates synthetic trajectories for benchmarks: a city whose people
// move between home, work and shops, so that contacts arise as they do in real life
// (households, colleagues, shoppers) rather than from uniform noise. It is pure (the
// standard library, orb, geo and trace/track; no I/O, no clock) and deterministic: one
// seed always yields the same city.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/track"
)

// Start is the first instant of every synthetic city: Friday 2022-04-01 00:00 UTC.
var Start = time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC)

// Centre is the middle of the synthetic city's 10 km square (central Beijing).
var Centre = orb.Point{116.40, 39.91}

// City makes people × perPerson pings over days days in a 10 km square around
// Centre: households of 1–4 people share a home; 80% work at one of many workplaces
// (about 40 staff each) on weekdays 08:30–17:30; evenings 18:00–19:00 bring shop
// visits (a person goes to one of 3 favourite shops on 40% of days; about 300 people
// per shop over the run); the rest of the time people are home. Ping times are
// uniform over the run, in whole seconds (a phone's location reports); positions
// carry 8 m of GPS noise. Person ids are "p00000", "p00001", ...; each trajectory is
// ordered by time. The seed fixes everything.
func City(people, perPerson, days int, seed uint64) []track.Trajectory {
	rng := rand.New(rand.NewPCG(seed, 1))
	place := func() orb.Point {
		return Offset(Centre, (rng.Float64()-0.5)*10_000, (rng.Float64()-0.5)*10_000)
	}
	var homes []orb.Point
	for len(homes)*5/2 < people {
		homes = append(homes, place())
	}
	work := make([]orb.Point, max(1, people/40))
	for i := range work {
		work[i] = place()
	}
	shops := make([]orb.Point, max(1, people*days/300/3))
	for i := range shops {
		shops[i] = place()
	}
	span := int64(days) * 24 * 3600
	trajs := make([]track.Trajectory, people)
	for p := range trajs {
		home := homes[rng.IntN(len(homes))]
		job := -1
		if rng.Float64() < 0.8 {
			job = rng.IntN(len(work))
		}
		fav := [3]int{rng.IntN(len(shops)), rng.IntN(len(shops)), rng.IntN(len(shops))}
		// One evening shop (or none) per day, decided up front.
		shopOf := make([]int, days)
		for d := range shopOf {
			shopOf[d] = -1
			if rng.Float64() < 0.4 {
				shopOf[d] = fav[rng.IntN(3)]
			}
		}
		secs := make([]int64, perPerson)
		for i := range secs {
			secs[i] = rng.Int64N(span)
		}
		slices.Sort(secs)
		tr := track.Trajectory{Person: fmt.Sprintf("p%05d", p), Pings: make([]track.Ping, perPerson)}
		for i, s := range secs {
			at := time.Duration(s) * time.Second
			day := int(at / (24 * time.Hour))
			tod := at % (24 * time.Hour)
			where := home
			weekday := (day+5)%7 < 5 // 2022-04-01 is a Friday
			switch {
			case job >= 0 && weekday && tod >= 8*time.Hour+30*time.Minute && tod < 17*time.Hour+30*time.Minute:
				where = work[job]
			case shopOf[day] >= 0 && tod >= 18*time.Hour && tod < 19*time.Hour:
				where = shops[shopOf[day]]
			}
			tr.Pings[i] = track.Ping{Time: Start.Add(at), Point: Offset(where, rng.NormFloat64()*8, rng.NormFloat64()*8)}
		}
		trajs[p] = tr
	}
	return trajs
}

// Offset is p moved east and north by the given metres (small offsets, spherical
// Earth of geo.EarthRadiusM).
func Offset(p orb.Point, east, north float64) orb.Point {
	dLat := north / geo.EarthRadiusM * 180 / math.Pi
	dLng := east / (geo.EarthRadiusM * math.Cos(p[1]*math.Pi/180)) * 180 / math.Pi
	return orb.Point{p[0] + dLng, p[1] + dLat}
}
