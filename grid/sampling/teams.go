package sampling

import (
	"math"
	"time"

	"github.com/gridtrace/gridtrace/geo/route"
)

// TeamEstimate answers, after a door-to-door plan left households unassigned, how
// many teams of the planned shift length would visit them all.
//
// How it is made, from the solver's own figures:
//  1. Households that no team could serve alone within its shift (walk there, serve,
//     walk back to its depot) are Unreachable: more teams at the same depots do not
//     help them, a nearer depot or a longer shift does. They are left out of the
//     count.
//  2. The work is the planned routes' time (walking and service, Plan's Durations)
//     plus, for each reachable unassigned household, the service time and the
//     planned routes' mean walking time per stop (their walk over their stops; with
//     no stop planned, the walk from the nearest other household or depot).
//  3. TeamsNeeded = ⌈work / shift⌉, and at least one more team than planned.
//  4. When verification is asked, the problem is solved again with that many teams
//     (the extra teams copy the planned teams' depots and shifts in turn) under a
//     small budget; if reachable households are still left over (mostly out on the
//     edge), each adds its service and its walk from and back to the nearest depot,
//     and the count is raised by that time over the shift (at least one team). Once
//     a count takes everyone, the counts between it and the largest that failed are
//     bisected; all of it within MaxResolves solves. Verified says a solve with
//     TeamsNeeded teams left nobody reachable over. Walking per stop is an average
//     and the households the solver sheds lie mostly on the edge, so an unverified
//     count is rather a lower bound.
type TeamEstimate struct {
	// Teams is the number of teams planned, Unassigned the households they left,
	// Unreachable those of them no team can serve alone within its shift.
	Teams       int
	Unassigned  int
	Unreachable int
	// ShiftMinutes is the shift the count is in: the teams' common shift, or the
	// mean of their limited shifts when they differ.
	ShiftMinutes float64
	// WorkMinutes is the estimated time, walking and serving, to visit every
	// reachable household: planned routes plus the unassigned ones.
	WorkMinutes float64
	// TeamsNeeded is the estimated number of teams of ShiftMinutes for all
	// reachable households; Teams when nothing reachable is left.
	TeamsNeeded int
	// Verified reports that a re-solve with TeamsNeeded teams assigned every
	// reachable household; Resolves is how many solves were run.
	Verified bool
	Resolves int
}

// MaxResolves bounds the verification solves of EstimateTeams.
const MaxResolves = 4

// MaxEstimateTeams bounds the teams a verification solve plans (the API's limit on
// teams per plan); a larger estimate is answered unverified.
const MaxEstimateTeams = 100

// EstimateTeams estimates the teams of p's shift length that would serve every
// stop plan left unassigned (see TeamEstimate). verify is the options of each
// verification solve (zero Budget and MaxKicks: no verification); the caller
// picks them so a verification costs a fraction of the plan.
func EstimateTeams(p route.TeamProblem, plan route.Plan, verify route.Options) TeamEstimate {
	est := TeamEstimate{Teams: len(p.Teams), Unassigned: len(plan.Unassigned), TeamsNeeded: len(p.Teams)}
	shift := shiftOf(p.Teams)
	est.ShiftMinutes = shift.Minutes()
	speed, svc := p.Walk.SpeedMPS, p.Walk.Service.Seconds()
	var planned, walked float64
	stops := 0
	for _, r := range plan.Routes {
		planned += r.Duration.Seconds()
		walked += r.WalkM
		stops += len(r.Stops)
	}
	reachable := reachableStops(p, plan.Unassigned)
	est.Unreachable = len(plan.Unassigned) - len(reachable)
	perStop := 0.0
	if stops > 0 {
		perStop = walked / speed / float64(stops)
	} else {
		perStop = nearestWalk(p, reachable) / speed
	}
	work := planned + float64(len(reachable))*(svc+perStop)
	est.WorkMinutes = math.Round(work/60*10) / 10
	if len(reachable) == 0 || shift <= 0 {
		return est
	}
	n := max(len(p.Teams)+1, int(math.Ceil(work/shift.Seconds())))
	est.TeamsNeeded = n
	if verify.Budget <= 0 && verify.MaxKicks <= 0 {
		return est
	}
	unreachable := map[int]bool{}
	for _, s := range plan.Unassigned {
		unreachable[s] = true
	}
	for _, s := range reachable {
		delete(unreachable, s)
	}
	// lo teams are known to leave households over, hi (0: none yet) to take all.
	lo, hi := len(p.Teams), 0
	for est.Resolves < MaxResolves {
		if hi > 0 {
			if hi-lo <= 1 {
				break
			}
			n = (lo + hi) / 2
		}
		if n > MaxEstimateTeams {
			break
		}
		q := p
		q.Teams = make([]route.Team, n)
		for i := range q.Teams {
			q.Teams[i] = p.Teams[i%len(p.Teams)]
		}
		est.Resolves++
		again, err := route.SolveTeams(q, verify)
		if err != nil {
			break
		}
		// What is still left lies mostly out on the edge, beyond the mean walk: each
		// counts its walk from and back to the nearest depot.
		left := 0.0
		for _, s := range again.Unassigned {
			if !unreachable[s] {
				left += svc + nearestDepotWalk(p, s)/speed
			}
		}
		switch {
		case left == 0:
			hi, est.TeamsNeeded, est.Verified = n, n, true
		case hi > 0:
			lo = n
		default:
			lo = n
			n += max(1, int(math.Ceil(left/shift.Seconds())))
			est.TeamsNeeded = n
		}
	}
	return est
}

// shiftOf is the teams' common shift, or the mean of the limited ones; 0 when no
// team has a limit.
func shiftOf(teams []route.Team) time.Duration {
	var sum time.Duration
	n := 0
	for _, t := range teams {
		if t.ShiftLimit > 0 {
			sum += t.ShiftLimit
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// reachableStops are the stops of un some team could serve alone within its shift,
// by the solver's own test: walk from the depot, serve, walk back when Return.
func reachableStops(p route.TeamProblem, un []int) []int {
	out := []int{}
	for _, s := range un {
		for _, t := range p.Teams {
			walk := p.Dist(t.Depot, s)
			if p.Walk.Return {
				walk += p.Dist(s, t.Depot)
			}
			if t.ShiftLimit <= 0 || walk/p.Walk.SpeedMPS+p.Walk.Service.Seconds() <= t.ShiftLimit.Seconds() {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// nearestWalk is the mean distance in metres from each stop to its nearest other
// stop or depot: what a route through them walks at least per stop.
func nearestWalk(p route.TeamProblem, stops []int) float64 {
	if len(stops) == 0 {
		return 0
	}
	var sum float64
	for _, s := range stops {
		best := math.Inf(1)
		for _, o := range stops {
			if o != s {
				best = min(best, p.Dist(s, o))
			}
		}
		for _, t := range p.Teams {
			best = min(best, p.Dist(s, t.Depot))
		}
		sum += best
	}
	return sum / float64(len(stops))
}

// nearestDepotWalk is the walk in metres from the nearest depot to stop s, and back
// when teams return.
func nearestDepotWalk(p route.TeamProblem, s int) float64 {
	best := math.Inf(1)
	for _, t := range p.Teams {
		walk := p.Dist(t.Depot, s)
		if p.Walk.Return {
			walk += p.Dist(s, t.Depot)
		}
		best = min(best, walk)
	}
	return best
}
