package copresence_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/synth"
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
// days (see trace/synth.City). One op is one case's search; cases are drawn in turn from
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
	trajs := synth.City(people, pings/people, 14, 42)
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
