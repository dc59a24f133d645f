package route

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
)

// shanghai returns a depot at the centre of a side-metre square around People's
// Square, Shanghai, then n households uniform in it, from a fixed seed.
func shanghai(seed uint64, n int, sideM float64) []orb.Point {
	const lat0, lng0 = 31.2304, 121.4737
	dLat := sideM / 111_320
	dLng := sideM / (111_320 * math.Cos(lat0*math.Pi/180))
	r := rand.New(rand.NewPCG(seed, 3))
	pts := []orb.Point{{lng0, lat0}}
	for i := 0; i < n; i++ {
		pts = append(pts, orb.Point{lng0 + (r.Float64()-0.5)*dLng, lat0 + (r.Float64()-0.5)*dLat})
	}
	return pts
}

// checkPlan verifies what every plan must satisfy: each stop in exactly one route
// or in Unassigned, arrivals and durations consistent with the walk, shift limits
// and stop caps respected. It returns the routes' stop counts and durations.
func checkPlan(t *testing.T, p TeamProblem, plan Plan) (counts []int, durs []time.Duration) {
	t.Helper()
	if len(plan.Routes) != len(p.Teams) {
		t.Fatalf("%d routes for %d teams", len(plan.Routes), len(p.Teams))
	}
	seen := map[int]string{}
	mark := func(s int, where string) {
		if prev, dup := seen[s]; dup {
			t.Fatalf("stop %d in %s and %s", s, prev, where)
		}
		seen[s] = where
	}
	for _, s := range plan.Unassigned {
		mark(s, "unassigned")
	}
	if !slices.IsSorted(plan.Unassigned) {
		t.Errorf("unassigned not sorted: %v", plan.Unassigned)
	}
	total := 0
	for ti, r := range plan.Routes {
		team := p.Teams[ti]
		if r.Team != ti || r.Depot != team.Depot || r.Return != p.Walk.Return {
			t.Fatalf("route %d header %+v", ti, r)
		}
		at, walk, clock := team.Depot, 0.0, 0.0
		for _, v := range r.Stops {
			mark(v.Node, "a route")
			leg := p.Dist(at, v.Node)
			walk += leg
			clock += leg / p.Walk.SpeedMPS
			if math.Abs(v.Arrival.Seconds()-clock) > 1 || math.Abs(v.WalkM-walk) > 1e-6*(1+walk) {
				t.Fatalf("team %d stop %d: arrival %v walk %.1f, want %.0fs %.1f", ti, v.Node, v.Arrival, v.WalkM, clock, walk)
			}
			clock += p.Walk.Service.Seconds()
			at = v.Node
		}
		if p.Walk.Return && len(r.Stops) > 0 {
			leg := p.Dist(at, team.Depot)
			walk += leg
			clock += leg / p.Walk.SpeedMPS
		}
		if math.Abs(r.Duration.Seconds()-clock) > 1 || math.Abs(r.WalkM-walk) > 1e-6*(1+walk) {
			t.Fatalf("team %d: duration %v walk %.1f, want %.0fs %.1f", ti, r.Duration, r.WalkM, clock, walk)
		}
		if team.ShiftLimit > 0 && r.Duration > team.ShiftLimit {
			t.Errorf("team %d works %v, over its %v shift", ti, r.Duration, team.ShiftLimit)
		}
		counts = append(counts, len(r.Stops))
		durs = append(durs, r.Duration)
		total += len(r.Stops)
	}
	for _, s := range p.Stops {
		if _, ok := seen[s]; !ok {
			t.Fatalf("stop %d dropped", s)
		}
	}
	if len(seen) != len(p.Stops) {
		t.Fatalf("%d stops placed, %d given", len(seen), len(p.Stops))
	}
	slack := p.StopSlack
	if slack == 0 {
		slack = DefaultStopSlack
	}
	if slack >= 0 && total > 0 {
		limit := int(math.Ceil(float64(total+len(plan.Unassigned)) / float64(len(p.Teams)) * (1 + slack)))
		for ti, c := range counts {
			if c > limit && allSameLimit(p.Teams) {
				t.Errorf("team %d has %d stops, cap %d", ti, c, limit)
			}
		}
	}
	return counts, durs
}

func allSameLimit(ts []Team) bool {
	for _, t := range ts {
		if t.ShiftLimit != ts[0].ShiftLimit {
			return false
		}
	}
	return true
}

func stopsRange(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestSolveTeamsShanghai(t *testing.T) {
	pts := shanghai(1, 300, 3000)
	base := TeamProblem{N: len(pts), Dist: Haversine(pts), Stops: stopsRange(1, len(pts)),
		Walk: Walk{SpeedMPS: 1.2, Service: 3 * time.Minute}}
	five := func(limit time.Duration) []Team {
		ts := make([]Team, 5)
		for i := range ts {
			ts[i] = Team{Depot: 0, ShiftLimit: limit}
		}
		return ts
	}
	tests := []struct {
		name   string
		teams  []Team
		ret    bool
		wantUn bool
	}{
		{"5 teams, open paths", five(0), false, false},
		{"5 teams, return to depot", five(0), true, false},
		{"5 teams, 6h shifts", five(6 * time.Hour), true, false},
		{"5 teams, 2h shifts leave stops over", five(2 * time.Hour), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.Teams = tc.teams
			p.Walk.Return = tc.ret
			plan, err := SolveTeams(p, Options{Seed: 1, MaxKicks: 2000, Budget: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			counts, durs := checkPlan(t, p, plan)
			t.Logf("stops %v durations %v unassigned %d", counts, durs, len(plan.Unassigned))
			if tc.wantUn != (len(plan.Unassigned) > 0) {
				t.Fatalf("unassigned %d, want some: %v", len(plan.Unassigned), tc.wantUn)
			}
			if !tc.wantUn {
				lo, hi := slices.Min(durs), slices.Max(durs)
				if hi.Seconds() > 1.1*lo.Seconds() {
					t.Errorf("durations %v: longest more than 10%% over shortest", durs)
				}
				if slices.Max(counts) > slices.Min(counts)+slices.Min(counts)/5 {
					t.Errorf("stops %v: most more than 20%% over fewest", counts)
				}
			}
		})
	}
}

// TestSolveTeamsCases covers depots apart, unequal shifts, a stop out of reach and
// the degenerate sizes.
func TestSolveTeamsCases(t *testing.T) {
	pts := shanghai(2, 120, 3000)
	// Node 121: a household 30 km away, out of any 5-hour shift's reach. The other
	// 120 take about 10 hours: 4 of service, 6 of walking.
	pts = append(pts, orb.Point{121.80, 31.23})
	far := len(pts) - 1
	// Nodes 122, 123: two more depots at opposite corners of the square.
	pts = append(pts, orb.Point{121.459, 31.218}, orb.Point{121.489, 31.243})
	d := Haversine(pts)
	walk := Walk{SpeedMPS: 1.2, Service: 2 * time.Minute, Return: true}
	tests := []struct {
		name  string
		stops []int
		teams []Team
		walk  Walk
		// wantUn are the stops that must come back unassigned (nil: none).
		wantUn []int
		// balance is the allowed ratio of the longest to the shortest loaded route
		// (0: not checked).
		balance float64
	}{
		{"three depots", stopsRange(1, 121), []Team{{Depot: 0}, {Depot: 122}, {Depot: 123}}, walk, nil, 1.15},
		{"far stop set aside", stopsRange(1, 122), []Team{{Depot: 0, ShiftLimit: 5 * time.Hour}, {Depot: 0, ShiftLimit: 5 * time.Hour}, {Depot: 122, ShiftLimit: 5 * time.Hour}}, walk, []int{far}, 0},
		{"unequal shifts", stopsRange(1, 121), []Team{{Depot: 0, ShiftLimit: 6 * time.Hour}, {Depot: 0, ShiftLimit: 3 * time.Hour}, {Depot: 0, ShiftLimit: 4*time.Hour + 30*time.Minute}}, walk, nil, 0},
		{"one team", stopsRange(1, 40), []Team{{Depot: 0}}, walk, nil, 0},
		{"one stop, three teams", []int{5}, []Team{{Depot: 0}, {Depot: 0}, {Depot: 0}}, walk, nil, 0},
		{"no stops", nil, []Team{{Depot: 0}, {Depot: 122}}, walk, nil, 0},
		{"fewer stops than exact size", []int{3, 4, 5, 6}, []Team{{Depot: 0}, {Depot: 0}}, Walk{SpeedMPS: 1, Service: time.Minute}, nil, 0},
		{"no cap", stopsRange(1, 121), []Team{{Depot: 0}, {Depot: 122}}, walk, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := TeamProblem{N: len(pts), Dist: d, Stops: tc.stops, Teams: tc.teams, Walk: tc.walk}
			if tc.name == "no cap" {
				p.StopSlack = -1
			}
			plan, err := SolveTeams(p, Options{Seed: 3, MaxKicks: 500, Budget: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			counts, durs := checkPlan(t, p, plan)
			t.Logf("stops %v durations %v", counts, durs)
			if !slices.Equal(plan.Unassigned, tc.wantUn) && !(len(tc.wantUn) == 0 && len(plan.Unassigned) == 0) {
				t.Fatalf("unassigned %v, want %v", plan.Unassigned, tc.wantUn)
			}
			if tc.name == "unequal shifts" {
				// Work follows the shift: the 6-hour team does more than the 3-hour one.
				if len(plan.Routes[0].Stops) <= len(plan.Routes[1].Stops) {
					t.Errorf("stops %d (4h) vs %d (2h)", len(plan.Routes[0].Stops), len(plan.Routes[1].Stops))
				}
			}
			if tc.balance > 0 {
				lo, hi := slices.Min(durs), slices.Max(durs)
				if hi.Seconds() > tc.balance*lo.Seconds() {
					t.Errorf("durations %v: longest over %.2f× shortest", durs, tc.balance)
				}
			}
		})
	}
}

func TestSolveTeamsDeterministic(t *testing.T) {
	pts := shanghai(4, 150, 2000)
	p := TeamProblem{N: len(pts), Dist: Haversine(pts), Stops: stopsRange(1, len(pts)),
		Teams: []Team{{}, {}, {}}, Walk: Walk{SpeedMPS: 1.2, Service: time.Minute}}
	opts := Options{Seed: 9, MaxKicks: 300, Budget: time.Hour}
	a, err := SolveTeams(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SolveTeams(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Routes {
		if !slices.Equal(a.Routes[i].Stops, b.Routes[i].Stops) {
			t.Fatalf("team %d: two runs with seed 9 differ", i)
		}
	}
}

func TestSolveTeamsInvalid(t *testing.T) {
	pts := shanghai(5, 5, 1000)
	ok := TeamProblem{N: 6, Dist: Haversine(pts), Stops: []int{1, 2, 3}, Teams: []Team{{Depot: 0}}, Walk: Walk{SpeedMPS: 1}}
	tests := []struct {
		name string
		edit func(p *TeamProblem)
	}{
		{"no teams", func(p *TeamProblem) { p.Teams = nil }},
		{"zero speed", func(p *TeamProblem) { p.Walk.SpeedMPS = 0 }},
		{"NaN speed", func(p *TeamProblem) { p.Walk.SpeedMPS = math.NaN() }},
		{"negative service", func(p *TeamProblem) { p.Walk.Service = -time.Second }},
		{"depot out of range", func(p *TeamProblem) { p.Teams = []Team{{Depot: 6}} }},
		{"negative shift", func(p *TeamProblem) { p.Teams = []Team{{ShiftLimit: -time.Hour}} }},
		{"stop out of range", func(p *TeamProblem) { p.Stops = []int{1, 7} }},
		{"stop twice", func(p *TeamProblem) { p.Stops = []int{1, 2, 1} }},
		{"stop at depot", func(p *TeamProblem) { p.Stops = []int{0, 1} }},
		{"no distance", func(p *TeamProblem) { p.Dist = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			if _, err := SolveTeams(p, Options{}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := SolveTeams(ok, Options{}); err != nil {
		t.Fatalf("valid problem: %v", err)
	}
}

// TestSolveTeamsBuildings plans households the way they stand: by building, all at
// one point or within 3 m of it (as grid/synth places them).
func TestSolveTeamsBuildings(t *testing.T) {
	for _, jitterM := range []float64{0, 3} {
		r := rand.New(rand.NewPCG(6, 6))
		centre := shanghai(6, 12, 1500) // a depot and 12 building points
		pts := []orb.Point{centre[0]}
		degPerM := 1 / 111_320.0
		for _, b := range centre[1:] {
			for k := 0; k < 25; k++ {
				a, d := 2*math.Pi*r.Float64(), jitterM*math.Sqrt(r.Float64())
				pts = append(pts, orb.Point{b.Lon() + d*math.Cos(a)*degPerM/math.Cos(b.Lat()*math.Pi/180), b.Lat() + d*math.Sin(a)*degPerM})
			}
		}
		p := TeamProblem{N: len(pts), Dist: Haversine(pts), Stops: stopsRange(1, len(pts)),
			Teams: make([]Team, 5), Walk: Walk{SpeedMPS: 1.2, Service: 3 * time.Minute, Return: true}}
		plan, err := SolveTeams(p, Options{Seed: 1, MaxKicks: 2000, Budget: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		counts, durs := checkPlan(t, p, plan)
		t.Logf("jitter %gm: stops %v durations %v", jitterM, counts, durs)
		if lo, hi := slices.Min(durs), slices.Max(durs); hi.Seconds() > 1.05*lo.Seconds() {
			t.Errorf("jitter %gm: durations %v: longest over 1.05× shortest", jitterM, durs)
		}
	}
}
