package route

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"
)

// Team is one door-to-door team.
type Team struct {
	// Depot is the node the team starts from (and walks back to when Walk.Return).
	Depot int
	// ShiftLimit is the longest the team may work, walking and serving stops
	// (including the walk back when Walk.Return); zero means no limit.
	ShiftLimit time.Duration
}

// Walk is how teams move and work.
type Walk struct {
	// SpeedMPS is the walking speed in metres per second (> 0); about 1.2 for a team
	// carrying equipment between doors.
	SpeedMPS float64
	// Service is the time spent at each stop (≥ 0).
	Service time.Duration
	// Return makes teams walk back to their depot, within their shift (to drop off
	// swabs, say); without it a route ends at its last stop.
	Return bool
}

// DefaultStopSlack is TeamProblem.StopSlack's zero value: a team may take up to 20%
// more stops than an even share, enough room to follow geography (a cluster of
// households near one depot) without one team doing a day's work for two.
const DefaultStopSlack = 0.2

// TeamProblem is a door-to-door routing problem: visit each stop once with one of
// the teams. Depots and stops are nodes 0…N-1 of Dist (metres), so any distance (a
// road network later) plugs in.
type TeamProblem struct {
	// N is the number of nodes; Dist is the walking distance between two in metres.
	N    int
	Dist Dist
	// Stops are the nodes to visit (distinct, none of them a depot).
	Stops []int
	// Teams start at their depots; several may share one.
	Teams []Team
	Walk  Walk
	// StopSlack caps each team's stops at its share of the stops times 1+StopSlack
	// (shares follow ShiftLimit when every team has one, else are even); zero means
	// DefaultStopSlack and a negative value removes the cap.
	StopSlack float64
}

// Plan is SolveTeams' answer.
type Plan struct {
	// Routes[i] is Teams[i]'s route (possibly without stops).
	Routes []TeamRoute
	// Unassigned lists, in ascending order, the stops no team could serve within
	// its shift limit. Every stop is in exactly one route or here.
	Unassigned []int
}

// TeamRoute is one team's ordered stops.
type TeamRoute struct {
	// Team is the index of the team in TeamProblem.Teams, Depot its depot node.
	Team  int
	Depot int
	// Return reports whether the route ends back at the depot.
	Return bool
	Stops  []Visit
	// WalkM is the walking distance in metres, including the walk back when Return.
	WalkM float64
	// Duration is the shift time used: walking plus service at every stop, plus the
	// walk back when Return. It is at most the team's ShiftLimit.
	Duration time.Duration
}

// Visit is a stop on a route with its estimated arrival.
type Visit struct {
	Node int
	// Arrival is the estimated time of arrival, counted from the start of the shift
	// (rounded to the second).
	Arrival time.Duration
	// WalkM is the distance walked from the depot on arrival, in metres.
	WalkM float64
}

// Line is the route's line through points ([lng, lat] of every node): the depot,
// the stops in order and, when the route returns, the depot again.
func (r TeamRoute) Line(points []orb.Point) orb.LineString {
	ls := make(orb.LineString, 0, len(r.Stops)+2)
	ls = append(ls, points[r.Depot])
	for _, v := range r.Stops {
		ls = append(ls, points[v.Node])
	}
	if r.Return {
		ls = append(ls, points[r.Depot])
	}
	return ls
}

func (p TeamProblem) check() error {
	switch {
	case p.N < 0:
		return invalidf("negative node count %d", p.N)
	case p.Dist == nil:
		return invalidf("no distance function")
	case len(p.Teams) == 0:
		return invalidf("no teams")
	case !(p.Walk.SpeedMPS > 0) || math.IsInf(p.Walk.SpeedMPS, 0):
		return invalidf("walking speed %g m/s must be positive and finite", p.Walk.SpeedMPS)
	case p.Walk.Service < 0:
		return invalidf("negative service time %v", p.Walk.Service)
	case math.IsNaN(p.StopSlack):
		return invalidf("stop slack is not a number")
	}
	depot := make(map[int]bool, len(p.Teams))
	for i, t := range p.Teams {
		if t.Depot < 0 || t.Depot >= p.N {
			return invalidf("team %d: depot %d outside 0…%d", i, t.Depot, p.N-1)
		}
		if t.ShiftLimit < 0 {
			return invalidf("team %d: negative shift limit %v", i, t.ShiftLimit)
		}
		depot[t.Depot] = true
	}
	seen := make(map[int]bool, len(p.Stops))
	for _, s := range p.Stops {
		switch {
		case s < 0 || s >= p.N:
			return invalidf("stop %d outside 0…%d", s, p.N-1)
		case seen[s]:
			return invalidf("stop %d listed twice", s)
		case depot[s]:
			return invalidf("stop %d is a depot", s)
		}
		seen[s] = true
	}
	return nil
}

// SolveTeams splits the stops among the teams and orders each team's stops:
//
//  1. stops that no team could reach, serve (and return from) within its shift are
//     set aside as unassigned;
//  2. one short tour through all other stops is cut into contiguous pieces, one per
//     team, minimising the longest piece's time under the stop caps ("route first,
//     cluster second"), and pieces go to the teams with the nearest depots;
//  3. each route is solved as a path from its depot (a tour when Walk.Return);
//  4. stops are moved and swapped between routes next to their nearest
//     neighbours (or anywhere in the shortest route), to minimise the longest
//     route time (relative to the shift length when every team has one) plus the
//     mean route time, with a heavy penalty on time past a shift limit: the
//     longest route decides when the work is done, the mean keeps walking down
//     (a sum of squared times, tried first, traded a 15% imbalance for 1% less
//     walking);
//  5. steps 3 and 4 alternate while they improve; the iterated local search then
//     polishes each route, and routes still over their limit shed the stops whose
//     removal saves most time to other routes with room, or to Unassigned when
//     none has.
//
// opts.Budget bounds the whole call (the first tour may use 20% of it, exchanges
// run until 60%, polishing shares the rest; without MaxKicks the searches use all
// of it), opts.MaxKicks each tour's iterated local search, opts.Seed seeds them;
// opts.Start is ignored. With MaxKicks 5,000
// and 300 stops for 5 teams it takes about 0.3 s (BenchmarkTeams300x5). Errors wrap
// ErrInvalid.
func SolveTeams(p TeamProblem, opts Options) (Plan, error) {
	if err := p.check(); err != nil {
		return Plan{}, err
	}
	if err := opts.checkBounds(); err != nil {
		return Plan{}, err
	}
	start := time.Now()
	pl := newPlanner(p, opts, start)
	pl.solve()
	return pl.plan(), nil
}

// planner holds a SolveTeams run. Nodes are renumbered locally: the distinct depots
// first, then the stops.
type planner struct {
	p     TeamProblem
	opts  Options
	start time.Time
	c     *costs
	nb    [][]int32
	node  []int // local → problem node
	nDep  int
	K     int
	dep   []int32   // team → local depot
	limit []float64 // team → shift limit in s (+Inf: none)
	w     []float64 // team → weight of its squared time
	cap   []int     // team → most stops
	v     float64   // m/s
	svc   float64   // s per stop
	ret   bool

	routes     [][]int32
	T          []float64 // team → route time in s
	routeOf    []int32   // local node → team, -1 for depots and set-aside stops
	idx        []int32   // local node → position in its route
	unassigned []int32
}

func newPlanner(p TeamProblem, opts Options, start time.Time) *planner {
	pl := &planner{p: p, opts: opts, start: start, K: len(p.Teams), v: p.Walk.SpeedMPS,
		svc: p.Walk.Service.Seconds(), ret: p.Walk.Return}
	local := map[int]int32{}
	for _, t := range p.Teams {
		if _, ok := local[t.Depot]; !ok {
			local[t.Depot] = int32(len(pl.node))
			pl.node = append(pl.node, t.Depot)
		}
	}
	pl.nDep = len(pl.node)
	pl.node = append(pl.node, p.Stops...)
	n := len(pl.node)
	pl.c = newCosts(n, func(i, j int) float64 { return p.Dist(pl.node[i], pl.node[j]) })
	if n > 1 {
		pl.nb = neighbours(pl.c, 12)
	}
	pl.dep = make([]int32, pl.K)
	pl.limit = make([]float64, pl.K)
	pl.w = make([]float64, pl.K)
	allLimited := true
	var sumLimit float64
	for t, team := range p.Teams {
		pl.dep[t] = local[team.Depot]
		pl.limit[t] = math.Inf(1)
		if team.ShiftLimit > 0 {
			pl.limit[t] = team.ShiftLimit.Seconds()
			sumLimit += pl.limit[t]
		} else {
			allLimited = false
		}
	}
	for t := range pl.w {
		pl.w[t] = 1
		if allLimited {
			pl.w[t] = pl.limit[t] * float64(pl.K) / sumLimit
		}
	}
	pl.routes = make([][]int32, pl.K)
	pl.T = make([]float64, pl.K)
	pl.routeOf = make([]int32, n)
	pl.idx = make([]int32, n)
	for i := range pl.routeOf {
		pl.routeOf[i] = -1
	}
	return pl
}

func (pl *planner) d(i, j int32) float64 { return pl.c.d(i, j) }

// deadline is the point of the budget by which a phase should end (frac of it), or
// zero without a budget.
func (pl *planner) deadline(frac float64) time.Time {
	if pl.opts.Budget <= 0 {
		return time.Time{}
	}
	return pl.start.Add(time.Duration(frac * float64(pl.opts.Budget)))
}

func (pl *planner) expired(dl time.Time) bool {
	return !dl.IsZero() && !time.Now().Before(dl)
}

// servable reports whether team t could serve stop s alone within its shift.
func (pl *planner) servable(t int, s int32) bool {
	walk := pl.d(pl.dep[t], s)
	if pl.ret {
		walk += pl.d(s, pl.dep[t])
	}
	return walk/pl.v+pl.svc <= pl.limit[t]
}

// routeTime is the time in s team t needs for route r.
func (pl *planner) routeTime(t int, r []int32) float64 {
	return pl.routeWalk(t, r)/pl.v + float64(len(r))*pl.svc
}

func (pl *planner) routeWalk(t int, r []int32) float64 {
	if len(r) == 0 {
		return 0
	}
	w := pl.d(pl.dep[t], r[0])
	for i := 1; i < len(r); i++ {
		w += pl.d(r[i-1], r[i])
	}
	if pl.ret {
		w += pl.d(r[len(r)-1], pl.dep[t])
	}
	return w
}

// load is team t's route time T relative to its share of the work (T/w), plus
// overtimePenalty for every second past its shift limit.
func (pl *planner) load(t int, T float64) float64 {
	l := T / pl.w[t]
	if T > pl.limit[t] {
		l += overtimePenalty * (T - pl.limit[t])
	}
	return l
}

// overtimePenalty weighs a second of overtime against a second of the longest
// route: high enough that no balance or walking is bought with overtime.
const overtimePenalty = 1000

// score is the objective the exchanges lower, in seconds: the heaviest load, which
// decides when the last team is done, plus the mean route time, which breaks ties
// towards less walking and lets routes other than the longest improve. With teams a
// and b (which may be the same) at times ta and tb instead of their current ones.
func (pl *planner) score(a int, ta float64, b int, tb float64) float64 {
	worst := max(pl.load(a, ta), pl.load(b, tb))
	sum := ta
	if b != a {
		sum += tb
	}
	for t, T := range pl.T {
		if t != a && t != b {
			worst = max(worst, pl.load(t, T))
			sum += T
		}
	}
	return worst + sum/float64(pl.K)
}

func (pl *planner) reindex(t int) {
	for i, s := range pl.routes[t] {
		pl.routeOf[s] = int32(t)
		pl.idx[s] = int32(i)
	}
	pl.T[t] = pl.routeTime(t, pl.routes[t])
}

func (pl *planner) solve() {
	var stops []int32
	for s := int32(pl.nDep); s < int32(len(pl.node)); s++ {
		ok := false
		for t := 0; t < pl.K && !ok; t++ {
			ok = pl.servable(t, s)
		}
		if ok {
			stops = append(stops, s)
		} else {
			pl.unassigned = append(pl.unassigned, s)
		}
	}
	slack := pl.p.StopSlack
	if slack == 0 {
		slack = DefaultStopSlack
	}
	pl.cap = make([]int, pl.K)
	var sumW float64
	for _, w := range pl.w {
		sumW += w
	}
	for t := range pl.cap {
		pl.cap[t] = math.MaxInt
		if slack >= 0 {
			pl.cap[t] = max(1, int(math.Ceil(float64(len(stops))*pl.w[t]/sumW*(1+slack))))
		}
	}
	if len(stops) == 0 {
		return
	}
	pl.split(stops)
	// Ordering and exchanging alternate (orders decide what a move costs) until
	// exchanging stops paying or 60% of the budget is gone; the iterated local
	// search then polishes each route in its share of the next 35%.
	for round := 0; round < maxExchangeRounds; round++ {
		for t := range pl.routes {
			pl.routes[t] = pl.optimiseRoute(t, pl.routes[t], false, time.Time{})
			pl.reindex(t)
		}
		if !pl.exchange(pl.deadline(0.6)) || pl.expired(pl.deadline(0.6)) {
			break
		}
	}
	for t := range pl.routes {
		frac := 0.6 + 0.35*float64(t+1)/float64(pl.K)
		pl.routes[t] = pl.optimiseRoute(t, pl.routes[t], true, pl.deadline(frac))
		pl.reindex(t)
	}
	pl.repair()
}

// maxExchangeRounds bounds the order/exchange alternation; on 300 stops and 5 teams
// it settles in 2–4 rounds.
const maxExchangeRounds = 8

// split builds the first assignment: a tour through the stops, cut into ≤ K
// contiguous pieces that minimise the longest piece's estimated time.
func (pl *planner) split(stops []int32) {
	S := len(stops)
	sub := newCosts(S, func(i, j int) float64 { return pl.d(stops[i], stops[j]) })
	order, _ := solveCycle(sub, Options{MaxKicks: pl.opts.MaxKicks, Seed: pl.opts.Seed, Neighbours: pl.opts.Neighbours}, pl.deadline(0.2))
	g := make([]int32, S)
	for i, o := range order {
		g[i] = stops[o]
	}
	// conn[x] estimates a piece's walk from and to its depot, whichever team takes it.
	conn := make([]float64, S)
	for i, s := range g {
		conn[i] = math.Inf(1)
		for t := range pl.dep {
			conn[i] = min(conn[i], pl.d(pl.dep[t], s))
		}
	}
	maxCap := slices.Max(pl.cap)
	// prefix[i] is the walk along g from g[0] to g[i] (rotated copies index mod S).
	prefix := make([]float64, 2*S)
	for i := 1; i < 2*S; i++ {
		prefix[i] = prefix[i-1] + pl.d(g[(i-1)%S], g[i%S])
	}
	maxConn := slices.Max(conn)
	cost := func(i, j int) float64 { // piece g[i…j], j ≥ i, indices into the doubled order
		w := prefix[j] - prefix[i]
		if pl.ret {
			w += conn[i%S] + conn[j%S]
		} else {
			w += min(conn[i%S], conn[j%S])
		}
		return w/pl.v + float64(j-i+1)*pl.svc
	}
	// pieces greedily cuts the rotation starting at r into pieces no longer than T.
	pieces := func(r int, T float64) (cuts []int, ok bool) {
		i := r
		for i < r+S {
			if len(cuts) == pl.K {
				return nil, false
			}
			cuts = append(cuts, i)
			j := i
			for j+1 < r+S && j+1-i+1 <= maxCap && cost(i, j+1) <= T {
				j++
			}
			i = j + 1
		}
		return cuts, true
	}
	step := max(1, S/200) // try up to 200 rotations of the tour
	bestT, bestR := math.Inf(1), 0
	for r := 0; r < S; r += step {
		// hi bounds every piece's cost, so only the caps decide whether it cuts.
		lo, hi := 0.0, (prefix[S-1]+2*maxConn)/pl.v+float64(S)*pl.svc
		if hi >= bestT {
			if _, ok := pieces(r, bestT); !ok {
				continue
			}
			hi = bestT
		}
		for it := 0; it < 40 && hi-lo > 1e-3*hi; it++ {
			mid := (lo + hi) / 2
			if _, ok := pieces(r, mid); ok {
				hi = mid
			} else {
				lo = mid
			}
		}
		if hi < bestT {
			bestT, bestR = hi, r
		}
	}
	cuts, ok := pieces(bestR, bestT)
	if !ok { // only if caps forbid any cut; fall back to equal counts
		cuts = cuts[:0]
		for k := 0; k < pl.K; k++ {
			cuts = append(cuts, bestR+k*S/pl.K)
		}
	}
	cuts = append(cuts, bestR+S)
	type piece struct{ from, to int }
	ps := make([]piece, 0, len(cuts)-1)
	for k := 0; k+1 < len(cuts); k++ {
		if cuts[k] < cuts[k+1] {
			ps = append(ps, piece{cuts[k], cuts[k+1] - 1})
		}
	}
	// Pieces go to teams nearest first: all (piece, team) pairs by the depot's
	// distance to the piece's nearer end.
	type pair struct {
		d    float64
		p, t int
	}
	var pairs []pair
	for pi, pc := range ps {
		for t := range pl.dep {
			pairs = append(pairs, pair{min(pl.d(pl.dep[t], g[pc.from%S]), pl.d(pl.dep[t], g[pc.to%S])), pi, t})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		if c := cmp.Compare(a.p, b.p); c != 0 {
			return c
		}
		return cmp.Compare(a.t, b.t)
	})
	pieceDone := make([]bool, len(ps))
	teamDone := make([]bool, pl.K)
	for _, pr := range pairs {
		if pieceDone[pr.p] || teamDone[pr.t] {
			continue
		}
		pieceDone[pr.p], teamDone[pr.t] = true, true
		pc := ps[pr.p]
		r := make([]int32, 0, pc.to-pc.from+1)
		for i := pc.from; i <= pc.to; i++ {
			r = append(r, g[i%S])
		}
		pl.routes[pr.t] = r
	}
	for t := range pl.routes {
		pl.reindex(t)
	}
}

// optimiseRoute orders team t's stops: a path from the depot (a tour through it
// when the route returns), by the same local search as SolveTSP. To polish, it also
// runs the iterated local search until opts.MaxKicks or deadline (neither: none),
// seeded by opts.Seed and the team.
func (pl *planner) optimiseRoute(t int, r []int32, polish bool, deadline time.Time) []int32 {
	m := len(r)
	if m < 2 || (m < 3 && pl.ret) {
		return r
	}
	// Local nodes: 0 the depot, 1…m the stops, m+1 a dummy for paths.
	nodes := append([]int32{pl.dep[t]}, r...)
	n := m + 1
	dummy := int32(-1)
	big := 0.0
	if !pl.ret {
		// A path from the depot is a tour with a dummy node tied to the depot at
		// no cost and to every stop at a cost big enough that the best tour
		// always has the dummy next to the depot: more than any one edge (by the
		// triangle inequality, at most twice the farthest stop from the depot).
		for _, s := range r {
			big = max(big, pl.d(pl.dep[t], s))
		}
		big = 4*big + 1
		dummy = int32(n)
		n++
	}
	sub := newCosts(n, func(i, j int) float64 {
		switch {
		case int32(i) == dummy || int32(j) == dummy:
			if i == 0 || j == 0 || i == j {
				return 0
			}
			return big
		}
		return pl.d(nodes[i], nodes[j])
	})
	o := Options{Seed: pl.opts.Seed + uint64(t), Neighbours: pl.opts.Neighbours}
	if polish {
		o.MaxKicks = pl.opts.MaxKicks
	} else {
		deadline = time.Time{}
	}
	order, _ := solveCycle(sub, o, deadline)
	// Read the cycle from the depot, away from the dummy.
	at := slices.Index(order, 0)
	step := 1
	if dummy >= 0 && order[(at+1)%n] == dummy {
		step = n - 1
	}
	out := make([]int32, 0, m)
	for k := 1; k < n; k++ {
		v := order[(at+k*step)%n]
		if v != dummy {
			out = append(out, nodes[v])
		}
	}
	if pl.routeTime(t, out) > pl.routeTime(t, r) {
		return r // never worse than what we had
	}
	return out
}

// ends returns the nodes before and after position i of team t's route; next is
// -1 at the end of a path.
func (pl *planner) ends(t int, i int) (prev, next int32) {
	r := pl.routes[t]
	prev, next = pl.dep[t], -1
	if i > 0 {
		prev = r[i-1]
	}
	if i < len(r)-1 {
		next = r[i+1]
	} else if pl.ret {
		next = pl.dep[t]
	}
	return prev, next
}

// gap returns the nodes a stop inserted at position i of team t's route would sit
// between (next -1: at the end of a path).
func (pl *planner) gap(t int, i int) (prev, next int32) {
	r := pl.routes[t]
	prev, next = pl.dep[t], -1
	if i > 0 {
		prev = r[i-1]
	}
	if i < len(r) {
		next = r[i]
	} else if pl.ret {
		next = pl.dep[t]
	}
	return prev, next
}

// between is the walk change of putting s between prev and next (next -1: at the end).
func (pl *planner) between(prev, s, next int32) float64 {
	w := pl.d(prev, s)
	if next >= 0 {
		w += pl.d(s, next) - pl.d(prev, next)
	}
	return w
}

// exchange moves single stops between routes (relocate) and swaps pairs of stops,
// each next to one of the stop's nearest neighbours (or anywhere in the shortest
// route), taking the best move per stop while it lowers the objective. It reports
// whether anything moved.
func (pl *planner) exchange(deadline time.Time) bool {
	moved := false
	eps := 1e-9
	for pass := 0; pass < 100; pass++ {
		improved := false
		for s := int32(pl.nDep); s < int32(len(pl.node)); s++ {
			if pl.expired(deadline) {
				return moved
			}
			a := int(pl.routeOf[s])
			if a < 0 {
				continue
			}
			i := int(pl.idx[s])
			prev, next := pl.ends(a, i)
			remove := -pl.between(prev, s, next)
			ta := pl.T[a] + remove/pl.v - pl.svc
			if len(pl.routes[a]) == 1 {
				ta = 0
			}
			base := pl.score(a, pl.T[a], a, pl.T[a])
			bestD, bestKind, bestT, bestPos := -eps*(1+base), 0, -1, -1
			var bestU int32
			tryInsert := func(b, pos int) {
				if b == a || len(pl.routes[b]) >= pl.cap[b] || !pl.servable(b, s) {
					return
				}
				p, q := pl.gap(b, pos)
				tb := pl.T[b] + pl.between(p, s, q)/pl.v + pl.svc
				delta := pl.score(a, ta, b, tb) - base
				if delta < bestD {
					bestD, bestKind, bestT, bestPos = delta, 1, b, pos
				}
			}
			for _, u := range pl.nb[s] {
				if u < int32(pl.nDep) { // a depot: the start of its teams' routes
					for b := range pl.dep {
						if pl.dep[b] == u {
							tryInsert(b, 0)
						}
					}
					continue
				}
				b := int(pl.routeOf[u])
				if b < 0 || b == a {
					continue
				}
				j := int(pl.idx[u])
				tryInsert(b, j)
				tryInsert(b, j+1)
				// Swap s and u.
				if !pl.servable(b, s) || !pl.servable(a, u) {
					continue
				}
				up, un := pl.ends(b, j)
				wa := pl.between(prev, u, next) + remove
				wb := pl.between(up, s, un) - pl.between(up, u, un)
				delta := pl.score(a, pl.T[a]+wa/pl.v, b, pl.T[b]+wb/pl.v) - base
				if delta < bestD {
					bestD, bestKind, bestT, bestU = delta, 2, b, u
				}
			}
			// The shortest route may have no stop near s: try all its positions.
			short := 0
			for b := range pl.T {
				if pl.T[b] < pl.T[short] {
					short = b
				}
			}
			for pos := 0; pos <= len(pl.routes[short]); pos++ {
				tryInsert(short, pos)
			}
			switch bestKind {
			case 1:
				pl.routes[a] = slices.Delete(pl.routes[a], i, i+1)
				pl.routes[bestT] = slices.Insert(pl.routes[bestT], bestPos, s)
			case 2:
				j := pl.idx[bestU]
				pl.routes[a][i], pl.routes[bestT][j] = bestU, s
			default:
				continue
			}
			pl.reindex(a)
			pl.reindex(bestT)
			improved, moved = true, true
		}
		if !improved {
			break
		}
	}
	return moved
}

// repair makes every route fit its shift and its stop cap: while one does not, the
// stop whose removal saves it most time goes to the route it fits best, or to
// Unassigned when it fits none.
func (pl *planner) repair() {
	for t := range pl.routes {
		for pl.T[t] > pl.limit[t]+1e-9 || len(pl.routes[t]) > pl.cap[t] {
			r := pl.routes[t]
			best, bi := math.Inf(-1), -1
			for i, s := range r {
				prev, next := pl.ends(t, i)
				if save := pl.between(prev, s, next); save > best {
					best, bi = save, i
				}
			}
			s := r[bi]
			pl.routes[t] = slices.Delete(r, bi, bi+1)
			pl.routeOf[s] = -1
			pl.reindex(t)
			bt, bpos, bT := -1, -1, math.Inf(1)
			for b := range pl.routes {
				if b == t || len(pl.routes[b]) >= pl.cap[b] {
					continue
				}
				for pos := 0; pos <= len(pl.routes[b]); pos++ {
					p, q := pl.gap(b, pos)
					tb := pl.T[b] + pl.between(p, s, q)/pl.v + pl.svc
					if tb <= pl.limit[b] && tb < bT {
						bt, bpos, bT = b, pos, tb
					}
				}
			}
			if bt < 0 {
				pl.unassigned = append(pl.unassigned, s)
				continue
			}
			pl.routes[bt] = slices.Insert(pl.routes[bt], bpos, s)
			pl.reindex(bt)
		}
	}
}

func (pl *planner) plan() Plan {
	out := Plan{Routes: make([]TeamRoute, pl.K), Unassigned: []int{}}
	for t, r := range pl.routes {
		tr := TeamRoute{Team: t, Depot: pl.p.Teams[t].Depot, Return: pl.ret, Stops: make([]Visit, 0, len(r))}
		at, walk, clock := pl.dep[t], 0.0, 0.0
		for _, s := range r {
			leg := pl.p.Dist(pl.node[at], pl.node[s])
			walk += leg
			clock += leg / pl.v
			tr.Stops = append(tr.Stops, Visit{Node: pl.node[s], Arrival: seconds(clock), WalkM: walk})
			clock += pl.svc
			at = s
		}
		if pl.ret && len(r) > 0 {
			leg := pl.p.Dist(pl.node[at], pl.node[pl.dep[t]])
			walk += leg
			clock += leg / pl.v
		}
		tr.WalkM, tr.Duration = walk, seconds(clock)
		out.Routes[t] = tr
	}
	for _, s := range pl.unassigned {
		out.Unassigned = append(out.Unassigned, pl.node[s])
	}
	slices.Sort(out.Unassigned)
	return out
}

// seconds rounds s seconds to a whole-second Duration.
func seconds(s float64) time.Duration {
	return time.Duration(math.Round(s)) * time.Second
}
