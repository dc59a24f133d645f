package copresence_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/track"
)

// BenchmarkGeoLife: one op is one case's search over all users of the sample (each
// user in turn), default rule; the index is built once, as a server would.
func BenchmarkGeoLife(b *testing.B) {
	trajs, _ := geolifetest.Trajectories(b)
	rule := ruleSets()[0]
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if _, err := copresence.NewIndex(trajs, rule); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(countPings(trajs)), "ns/ping")
	})
	ix, err := copresence.NewIndex(trajs, rule)
	if err != nil {
		b.Fatal(err)
	}
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("case-search/depth=%d", depth), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := ix.Trace(copresence.Query{Case: trajs[i%len(trajs)].Person, Depth: depth}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func countPings(trajs []track.Trajectory) int {
	n := 0
	for _, tr := range trajs {
		n += len(tr.Pings)
	}
	return n
}

// BenchmarkSynthetic: a city of people moving between home, work and shops for 14
// days (see synthCity). One op is one case's search; cases are drawn in turn from
// the population. The default size runs in seconds; GRIDTRACE_BENCH_PINGS=10000000
// (with GRIDTRACE_BENCH_PEOPLE=20000) runs the full-scale case, which needs about
// 2 GB of memory and a minute to build.
func BenchmarkSynthetic(b *testing.B) {
	pings, people := 1_000_000, 2_000
	if v, err := strconv.Atoi(os.Getenv("GRIDTRACE_BENCH_PINGS")); err == nil && v > 0 {
		pings = v
	}
	if v, err := strconv.Atoi(os.Getenv("GRIDTRACE_BENCH_PEOPLE")); err == nil && v > 0 {
		people = v
	}
	start := time.Now()
	trajs := synthCity(people, pings/people, 14, 42)
	gen := time.Since(start)
	start = time.Now()
	ix, err := copresence.NewIndex(trajs, ruleSets()[0])
	if err != nil {
		b.Fatal(err)
	}
	build := time.Since(start)
	b.Logf("%d people, %d pings: generated in %s, indexed in %s (%.0f ns/ping)", people, countPings(trajs), gen.Round(time.Millisecond), build.Round(time.Millisecond), float64(build.Nanoseconds())/float64(countPings(trajs)))
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("people=%d,pings=%d,depth=%d", people, countPings(trajs), depth), func(b *testing.B) {
			i, contacts := 0, 0
			for b.Loop() {
				cs, err := ix.Trace(copresence.Query{Case: trajs[(i*7919)%len(trajs)].Person, Depth: depth})
				if err != nil {
					b.Fatal(err)
				}
				contacts += len(cs)
				i++
			}
			b.ReportMetric(float64(contacts)/float64(i), "contacts/case")
		})
	}
}

// synthCity makes people × perPerson pings over days days in a 10 km square of
// Beijing: households of 1–4 people share a home; 80% work at one of many
// workplaces (about 40 staff each) on weekdays 08:30–17:30; evenings and weekends
// bring shop visits (about 300 people per shop over the run); the rest of the time
// people are home. Ping times are uniform over the run (a phone's location reports);
// positions carry 8 m of GPS noise. The seed fixes everything.
func synthCity(people, perPerson, days int, seed uint64) []track.Trajectory {
	rng := rand.New(rand.NewPCG(seed, 1))
	centre := orb.Point{116.40, 39.91}
	place := func() orb.Point {
		return offset(centre, (rng.Float64()-0.5)*10_000, (rng.Float64()-0.5)*10_000)
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
	t0 := time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC)
	span := time.Duration(days) * 24 * time.Hour
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
		times := make([]time.Duration, perPerson)
		for i := range times {
			times[i] = time.Duration(rng.Int64N(int64(span)))
		}
		slices.Sort(times)
		tr := track.Trajectory{Person: fmt.Sprintf("p%05d", p), Pings: make([]track.Ping, perPerson)}
		for i, at := range times {
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
			tr.Pings[i] = track.Ping{Time: t0.Add(at), Point: offset(where, rng.NormFloat64()*8, rng.NormFloat64()*8)}
		}
		trajs[p] = tr
	}
	return trajs
}

// offset is p moved east and north by the given metres (small offsets).
func offset(p orb.Point, east, north float64) orb.Point {
	dLat := north / geo.EarthRadiusM * 180 / math.Pi
	dLng := east / (geo.EarthRadiusM * math.Cos(p[1]*math.Pi/180)) * 180 / math.Pi
	return orb.Point{p[0] + dLng, p[1] + dLat}
}
