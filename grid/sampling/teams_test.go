package sampling

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo/route"
)

// doorProblem is n households uniform in a side-metre square around a depot at its
// centre (node 0), k teams there with shift limits, walking 4 km/h with 5 minutes
// a door, returning to the depot: the demo's door-to-door shape.
func doorProblem(seed uint64, n int, sideM float64, k int, shift time.Duration) (route.TeamProblem, []orb.Point) {
	const lat0, lng0 = 31.2304, 121.4737
	dLat := sideM / 111_320
	dLng := sideM / (111_320 * math.Cos(lat0*math.Pi/180))
	r := rand.New(rand.NewPCG(seed, 7))
	pts := []orb.Point{{lng0, lat0}}
	for i := 0; i < n; i++ {
		pts = append(pts, orb.Point{lng0 + (r.Float64()-0.5)*dLng, lat0 + (r.Float64()-0.5)*dLat})
	}
	p := route.TeamProblem{N: len(pts), Dist: route.Haversine(pts),
		Walk: route.Walk{SpeedMPS: 4 / 3.6, Service: 5 * time.Minute, Return: true}}
	for i := 1; i <= n; i++ {
		p.Stops = append(p.Stops, i)
	}
	for i := 0; i < k; i++ {
		p.Teams = append(p.Teams, route.Team{Depot: 0, ShiftLimit: shift})
	}
	return p, pts
}

var planOpts = route.Options{MaxKicks: 600, Budget: 20 * time.Second, Seed: 1}

// TestEstimateTeams: 300 households for 3 teams of 4 hours (5 minutes a door: 25
// hours of service alone) leave most unassigned; the estimate is at least the
// service-time bound, follows the documented formula before verification, and a
// solve with the verified count, run here independently, assigns every household.
func TestEstimateTeams(t *testing.T) {
	p, _ := doorProblem(1, 300, 2000, 3, 4*time.Hour)
	plan, err := route.SolveTeams(p, planOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Unassigned) < 100 {
		t.Fatalf("only %d unassigned: the case proves nothing", len(plan.Unassigned))
	}
	serviceBound := int(math.Ceil(300 * 5.0 / 240))

	// Unverified: the formula of TeamEstimate, from the plan's own figures.
	raw := EstimateTeams(p, plan, route.Options{})
	var planned, walked float64
	stops := 0
	for _, r := range plan.Routes {
		planned += r.Duration.Seconds()
		walked += r.WalkM
		stops += len(r.Stops)
	}
	work := planned + float64(len(plan.Unassigned))*(300+walked/(4/3.6)/float64(stops))
	if want := int(math.Ceil(work / (4 * 3600))); raw.TeamsNeeded != want || raw.Resolves != 0 || raw.Verified {
		t.Errorf("unverified estimate %+v, want %d teams without a solve", raw, want)
	}
	if raw.Unassigned != len(plan.Unassigned) || raw.Unreachable != 0 || raw.Teams != 3 || raw.ShiftMinutes != 240 {
		t.Errorf("estimate %+v: counts do not match the plan (%d unassigned)", raw, len(plan.Unassigned))
	}
	if math.Abs(raw.WorkMinutes-work/60) > 0.1 {
		t.Errorf("work %.1f min, want %.1f", raw.WorkMinutes, work/60)
	}

	est := EstimateTeams(p, plan, planOpts)
	t.Logf("%d unassigned; raw estimate %d teams, verified %d after %d solves (service bound %d)",
		len(plan.Unassigned), raw.TeamsNeeded, est.TeamsNeeded, est.Resolves, serviceBound)
	if est.TeamsNeeded < serviceBound || est.TeamsNeeded > 2*serviceBound {
		t.Errorf("estimate %d teams, want between the service bound %d and twice it", est.TeamsNeeded, serviceBound)
	}
	if !est.Verified || est.Resolves < 1 || est.TeamsNeeded < raw.TeamsNeeded {
		t.Fatalf("estimate %+v: want verified by a solve, no fewer teams than the raw %d", est, raw.TeamsNeeded)
	}
	q := p
	q.Teams = make([]route.Team, est.TeamsNeeded)
	for i := range q.Teams {
		q.Teams[i] = p.Teams[0]
	}
	again, err := route.SolveTeams(q, planOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Unassigned) != 0 {
		t.Errorf("%d teams leave %d households unassigned", est.TeamsNeeded, len(again.Unassigned))
	}
}

// TestEstimateTeamsUnreachable: a household 8 km out cannot be served within a
// one-hour shift by any team: it is reported apart and asks for no extra team.
func TestEstimateTeamsUnreachable(t *testing.T) {
	p, pts := doorProblem(2, 6, 300, 2, time.Hour)
	far := orb.Point{pts[0][0] + 0.085, pts[0][1]}
	pts = append(pts, far)
	p.N = len(pts)
	p.Dist = route.Haversine(pts)
	p.Stops = append(p.Stops, len(pts)-1)
	plan, err := route.SolveTeams(p, planOpts)
	if err != nil {
		t.Fatal(err)
	}
	est := EstimateTeams(p, plan, planOpts)
	if est.Unassigned != 1 || est.Unreachable != 1 || est.TeamsNeeded != 2 || est.Resolves != 0 {
		t.Errorf("estimate %+v, want the far household unreachable and the 2 teams enough", est)
	}
}

// TestEstimateTeamsCovered: nothing left over answers the teams planned.
func TestEstimateTeamsCovered(t *testing.T) {
	p, _ := doorProblem(3, 20, 500, 2, 4*time.Hour)
	plan, err := route.SolveTeams(p, planOpts)
	if err != nil {
		t.Fatal(err)
	}
	est := EstimateTeams(p, plan, planOpts)
	if len(plan.Unassigned) != 0 || est.Unassigned != 0 || est.TeamsNeeded != 2 || est.Resolves != 0 {
		t.Errorf("plan left %d, estimate %+v: want 2 teams, no solve", len(plan.Unassigned), est)
	}
}

// BenchmarkEstimateTeams516x5 is the demo's shape: 516 door-to-door households
// (Pudong's) over 5 teams of 4 hours in a 3 km square, verified as PlanRoutes does
// (a third of the default 1.5 s budget per solve, 2 kicks per stop).
func BenchmarkEstimateTeams516x5(b *testing.B) {
	p, _ := doorProblem(4, 516, 3000, 5, 4*time.Hour)
	plan, err := route.SolveTeams(p, route.Options{MaxKicks: 20 * 516, Budget: 1500 * time.Millisecond, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	var est TeamEstimate
	for b.Loop() {
		est = EstimateTeams(p, plan, route.Options{MaxKicks: 2 * 516, Budget: 500 * time.Millisecond, Seed: 1})
	}
	b.ReportMetric(float64(est.Unassigned), "unassigned")
	b.ReportMetric(float64(est.TeamsNeeded), "teams")
	b.ReportMetric(float64(est.Resolves), "solves")
	if est.Verified {
		b.ReportMetric(1, "verified")
	}
}
