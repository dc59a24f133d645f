package copresence_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/track"
)

// origin is a point in Haidian, Beijing, where the GeoLife users lived.
var origin = orb.Point{116.3184, 39.9847}

// north is the point metres north of origin (along the meridian, where the haversine
// distance is exactly R·Δφ up to rounding).
func north(metres float64) orb.Point {
	return orb.Point{origin[0], origin[1] + metres/geo.EarthRadiusM*180/math.Pi}
}

// at is 2008-10-27 at hh:mm:ss UTC.
func at(hms string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2008-10-27 "+hms)
	if err != nil {
		panic(err)
	}
	return t
}

// pings builds a trajectory from "hh:mm:ss@metres-north" items.
func pings(person string, items ...string) track.Trajectory {
	tr := track.Trajectory{Person: person}
	for _, it := range items {
		hms, m, _ := strings.Cut(it, "@")
		var metres float64
		if m != "" {
			var err error
			if metres, err = strconv.ParseFloat(m, 64); err != nil {
				panic(err)
			}
		}
		tr.Pings = append(tr.Pings, track.Ping{Time: at(hms), Point: north(metres)})
	}
	return tr
}

// everyMinute is n pings one minute apart from hh:mm:00 at metres north.
func everyMinute(start string, n int, metres float64) []string {
	t := at(start)
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, t.Add(time.Duration(i)*time.Minute).Format("15:04:05")+"@"+strconv.FormatFloat(metres, 'g', -1, 64))
	}
	return out
}

// TestRuleDefinition pins each clause of the rule on hand-made trajectories.
func TestRuleDefinition(t *testing.T) {
	rule := copresence.Rule{Version: "t", DistanceM: 20, Tolerance: 5 * time.Minute, MinDuration: 0}
	type enc struct {
		start, end string
		minutes    int
		minDistM   float64
	}
	tests := []struct {
		name    string
		rule    copresence.Rule
		cas, x  track.Trajectory
		minutes int // 0: not a contact
		encs    []enc
	}{
		{"time gap equal to the tolerance counts", rule,
			pings("case", "10:00:00"), pings("x", "10:05:00"), 1, []enc{{"10:00", "10:00", 1, 0}}},
		{"a second more does not", rule,
			pings("case", "10:00:00"), pings("x", "10:05:01"), 0, nil},
		{"the other side of the tolerance too", rule,
			pings("case", "10:05:00"), pings("x", "10:00:00"), 1, []enc{{"10:05", "10:05", 1, 0}}},
		{"19.9 m is within 20 m", rule,
			pings("case", "10:00:00"), pings("x", "10:00:00@19.9"), 1, []enc{{"10:00", "10:00", 1, 19.9}}},
		{"20.1 m is not", rule,
			pings("case", "10:00:00"), pings("x", "10:00:00@20.1"), 0, nil},
		{"minutes are the case's, not the contact's", rule,
			pings("case", "10:00:59", "10:01:00"), pings("x", "10:01:30"), 2, []enc{{"10:00", "10:01", 2, 0}}},
		{"two pings in one minute count once, nearest pair kept", rule,
			pings("case", "10:00:10@5", "10:00:50@2"), pings("x", "10:00:30"), 1, []enc{{"10:00", "10:00", 1, 2}}},
		{"a gap equal to the tolerance joins, a longer one splits", rule,
			pings("case", "10:00:00", "10:05:00", "10:11:00@3"), pings("x", "10:00:00", "10:05:00", "10:11:00"),
			3, []enc{{"10:00", "10:05", 2, 0}, {"10:11", "10:11", 1, 3}}},
		{"14 minutes are short of 15", copresence.Rule{DistanceM: 20, Tolerance: 5 * time.Minute, MinDuration: 15 * time.Minute},
			pings("case", everyMinute("10:00:00", 14, 0)...), pings("x", everyMinute("10:00:20", 14, 1)...), 0, nil},
		{"15 minutes make a contact", copresence.Rule{DistanceM: 20, Tolerance: 5 * time.Minute, MinDuration: 15 * time.Minute},
			pings("case", everyMinute("10:00:00", 15, 0)...), pings("x", everyMinute("10:00:20", 15, 1)...), 15, []enc{{"10:00", "10:14", 15, 1}}},
		{"a minimum of 14.5 minutes needs 15", copresence.Rule{DistanceM: 20, Tolerance: 5 * time.Minute, MinDuration: 14*time.Minute + 30*time.Second},
			pings("case", everyMinute("10:00:00", 14, 0)...), pings("x", everyMinute("10:00:20", 14, 1)...), 0, nil},
		{"one ping of x can expose several case minutes", rule,
			pings("case", everyMinute("10:00:00", 11, 0)...), pings("x", "10:05:00"), 11, []enc{{"10:00", "10:10", 11, 0}}},
		{"tolerance under a minute: every minute its own encounter", copresence.Rule{DistanceM: 20, Tolerance: 30 * time.Second},
			pings("case", "10:00:00", "10:01:00"), pings("x", "10:00:00", "10:01:00"), 2, []enc{{"10:00", "10:00", 1, 0}, {"10:01", "10:01", 1, 0}}},
		{"zero tolerance needs the same instant", copresence.Rule{DistanceM: 20},
			pings("case", "10:00:00", "10:01:00"), pings("x", "10:00:00", "10:01:01"), 1, []enc{{"10:00", "10:00", 1, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := copresence.NewIndex([]track.Trajectory{tc.cas, tc.x}, tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := ix.Trace(copresence.Query{Case: "case"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.minutes == 0 {
				if len(cs) != 0 {
					t.Fatalf("contacts %+v, want none", cs)
				}
				return
			}
			if len(cs) != 1 || cs[0].Person != "x" || cs[0].Minutes != tc.minutes || cs[0].Degree != 1 {
				t.Fatalf("contacts %+v, want x with %d minutes", cs, tc.minutes)
			}
			if cs[0].Rule != tc.rule.String() {
				t.Errorf("rule %q, want %q", cs[0].Rule, tc.rule.String())
			}
			var got []enc
			for _, e := range cs[0].Encounters {
				got = append(got, enc{e.Start.Format("15:04"), e.End.Format("15:04"), e.Minutes, math.Round(e.MinDistanceM*1000) / 1000})
			}
			if !reflect.DeepEqual(got, tc.encs) {
				t.Errorf("encounters %+v, want %+v", got, tc.encs)
			}
		})
	}
}

// TestEncounterWhere checks that an encounter points at the case's position in its
// closest pair.
func TestEncounterWhere(t *testing.T) {
	ix, err := copresence.NewIndex([]track.Trajectory{
		pings("case", "10:00:00@0", "10:01:00@10", "10:02:00@0"),
		pings("x", "10:00:00@15", "10:01:00@11", "10:02:00@15"),
	}, copresence.Rule{DistanceM: 20, Tolerance: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ix.Trace(copresence.Query{Case: "case"})
	if err != nil {
		t.Fatal(err)
	}
	e := cs[0].Encounters
	if len(e) != 3 || e[1].Where != north(10) || math.Abs(e[1].MinDistanceM-1) > 1e-6 {
		t.Fatalf("encounters %+v", e)
	}
}

// TestCompanionRule: same resolution-8 cell for more than 10 minutes; exactly 10 is
// not enough, and distance inside the cell does not matter.
func TestCompanionRule(t *testing.T) {
	r := copresence.CompanionRule{Version: "t", Res: 8, Tolerance: 5 * time.Minute, MinDuration: 10 * time.Minute}
	for _, tc := range []struct {
		n    int
		want bool
	}{{10, false}, {11, true}} {
		ix, err := copresence.NewCompanionIndex([]track.Trajectory{
			pings("case", everyMinute("10:00:00", tc.n, 0)...),
			pings("x", everyMinute("10:00:00", tc.n, 150)...),
		}, r)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ix.Trace(copresence.Query{Case: "case"})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(cs) == 1; got != tc.want {
			t.Errorf("%d minutes in the same cell: companion %v, want %v (%+v)", tc.n, got, tc.want, cs)
		}
		if tc.want && (cs[0].Minutes != tc.n || cs[0].Rule != r.String() || math.Abs(cs[0].Encounters[0].MinDistanceM-150) > 1e-6) {
			t.Errorf("companion %+v", cs[0])
		}
	}
	if ix, err := copresence.NewCompanionIndex(nil, r); err != nil || ix.Resolution() != 8 {
		t.Errorf("companion index resolution %v, %v", ix, err)
	}
}

// TestDegreeTwo: b meets the case, c meets b after that, d met b before it, e meets
// both the case and b. Only c is degree 2; e stays degree 1; d is too early.
func TestDegreeTwo(t *testing.T) {
	const far = 5000 // metres: another place
	trajs := []track.Trajectory{
		pings("case", everyMinute("10:00:00", 20, 0)...),
		pings("b", append(append(everyMinute("08:00:00", 20, far), everyMinute("10:00:00", 20, 1)...), everyMinute("12:00:00", 20, 2*far)...)...),
		pings("c", everyMinute("12:00:30", 20, 2*far+3)...),
		pings("d", everyMinute("08:00:30", 20, far+3)...),
		pings("e", append(everyMinute("10:00:10", 20, 2), everyMinute("12:00:10", 20, 2*far+2)...)...),
	}
	ix, err := copresence.NewIndex(trajs, copresence.Rule{Version: "t", DistanceM: 20, Tolerance: 5 * time.Minute, MinDuration: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ix.Trace(copresence.Query{Case: "case", Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Person+"/"+string(rune('0'+c.Degree))+"/"+c.Via)
	}
	want := []string{"b/1/", "e/1/", "c/2/b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("contacts %v, want %v", got, want)
	}
	// Depth 1 stops at the case's own contacts.
	cs, _ = ix.Trace(copresence.Query{Case: "case"})
	if len(cs) != 2 {
		t.Fatalf("depth 1: %+v", cs)
	}
	// A window ending before b meets c leaves c out.
	cs, _ = ix.Trace(copresence.Query{Case: "case", Depth: 2, To: at("11:00:00")})
	if len(cs) != 2 {
		t.Fatalf("window to 11:00: %+v", cs)
	}
}

func TestTraceErrors(t *testing.T) {
	ix, err := copresence.NewIndex([]track.Trajectory{pings("case", "10:00:00"), {Person: "empty"}},
		copresence.Rule{DistanceM: 20, Tolerance: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    copresence.Query
		is   error
		msg  string
	}{
		{"unknown case", copresence.Query{Case: "nobody"}, copresence.ErrUnknownPerson, `unknown person "nobody"`},
		{"case without pings", copresence.Query{Case: "empty"}, copresence.ErrNoPings, `case "empty": no pings at all`},
		{"no pings in the window", copresence.Query{Case: "case", From: at("11:00:00")}, copresence.ErrNoPings, "no pings from 2008-10-27T11:00:00Z"},
		{"window backwards", copresence.Query{Case: "case", From: at("11:00:00"), To: at("10:00:00")}, nil, "ends"},
		{"depth 3", copresence.Query{Case: "case", Depth: 3}, nil, "depth 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ix.Trace(tc.q)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %v containing %q", err, tc.is, tc.msg)
			}
		})
	}
}

func TestNewIndexErrors(t *testing.T) {
	ok := copresence.Rule{DistanceM: 20, Tolerance: time.Minute}
	tests := []struct {
		name  string
		trajs []track.Trajectory
		rule  copresence.Rule
		msg   string
	}{
		{"zero distance", nil, copresence.Rule{}, "distance 0"},
		{"NaN distance", nil, copresence.Rule{DistanceM: math.NaN()}, "distance NaN"},
		{"negative tolerance", nil, copresence.Rule{DistanceM: 20, Tolerance: -1}, "tolerance"},
		{"negative duration", nil, copresence.Rule{DistanceM: 20, MinDuration: -1}, "minimum duration"},
		{"duplicate person", []track.Trajectory{pings("a", "10:00:00"), pings("a", "11:00:00")}, ok, `"a" appears twice`},
		{"time going backwards", []track.Trajectory{pings("a", "10:00:00", "09:00:00")}, ok, "ping 1 at 2008-10-27T09:00:00Z is before ping 0"},
		{"coordinate out of range", []track.Trajectory{{Person: "a", Pings: []track.Ping{{Time: at("10:00:00"), Point: orb.Point{200, 0}}}}}, ok, "lng 200 is outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := copresence.NewIndex(tc.trajs, tc.rule)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
	if _, err := copresence.NewCompanionIndex(nil, copresence.CompanionRule{Res: 16}); err == nil {
		t.Error("companion resolution 16 accepted")
	}
}

// TestDeterministic: the answer does not depend on the order people are given in, and
// is the same on every run (no map order leaks out).
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var trajs []track.Trajectory
	for p := 0; p < 30; p++ {
		tr := track.Trajectory{Person: string(rune('A' + p))}
		tm := at("08:00:00")
		for i := 0; i < 400; i++ {
			tm = tm.Add(time.Duration(20+rng.IntN(60)) * time.Second)
			tr.Pings = append(tr.Pings, track.Ping{Time: tm, Point: orb.Point{origin[0] + rng.Float64()*0.002, origin[1] + rng.Float64()*0.002}})
		}
		trajs = append(trajs, tr)
	}
	rule := copresence.Rule{DistanceM: 30, Tolerance: 3 * time.Minute, MinDuration: 2 * time.Minute}
	trace := func(trajs []track.Trajectory) []copresence.Contact {
		ix, err := copresence.NewIndex(trajs, rule)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ix.Trace(copresence.Query{Case: "C", Depth: 2})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	want := trace(trajs)
	if len(want) < 5 {
		t.Fatalf("only %d contacts: the test needs a crowd", len(want))
	}
	for i := 0; i < 5; i++ {
		shuffled := append([]track.Trajectory(nil), trajs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := trace(shuffled); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d changed the answer", i)
		}
	}
}
