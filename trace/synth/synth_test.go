package synth_test

import (
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/synth"
	"github.com/gridtrace/gridtrace/trace/track"
)

// TestCity: the city is deterministic, ordered, in whole seconds, and people do meet
// (households and colleagues), which is what makes it a fair benchmark.
func TestCity(t *testing.T) {
	a := synth.City(200, 300, 3, 7)
	b := synth.City(200, 300, 3, 7)
	if len(a) != 200 {
		t.Fatalf("%d people", len(a))
	}
	for i := range a {
		if len(a[i].Pings) != 300 || a[i].Person != b[i].Person {
			t.Fatalf("person %d: %d pings", i, len(a[i].Pings))
		}
		if err := track.CheckOrder(a[i].Pings); err != nil {
			t.Fatal(err)
		}
		for j, p := range a[i].Pings {
			if p != b[i].Pings[j] {
				t.Fatalf("not deterministic at %d/%d", i, j)
			}
			if p.Time.Nanosecond() != 0 || p.Time.Before(synth.Start) || !p.Time.Before(synth.Start.Add(72*time.Hour)) {
				t.Fatalf("time %v", p.Time)
			}
		}
	}
	ix, err := copresence.NewIndex(a, copresence.Rule{Version: "t", DistanceM: 20, Tolerance: 5 * time.Minute, MinDuration: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	met := 0
	for _, tr := range a {
		cs, err := ix.Trace(copresence.Query{Case: tr.Person})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) > 0 {
			met++
		}
	}
	if met < len(a)/4 {
		t.Errorf("only %d of %d people have a contact", met, len(a))
	}
}
