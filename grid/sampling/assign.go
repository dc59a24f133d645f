// Package sampling owns the pure assignment of a sampling round (全员核酸): which
// sampling point and time slot each household goes to, which households are visited
// door to door instead, how far people walk, which points ran out of capacity and
// where new points would cover the households left too far away. It imports only
// geo and the standard library: no I/O, no global state, deterministic.
package sampling

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// Point is a sampling point as the assignment sees it.
type Point struct {
	ID              int64
	Loc             orb.Point
	CapacityPerHour int
	// Opens and Closes are minutes after local midnight.
	Opens, Closes int
	// GridIDs are the grids the point serves: their households prefer it.
	GridIDs []int64
}

// Household is a household to assign.
type Household struct {
	ID      int64
	GridID  int64 // the household's finest area; 0 for none
	Loc     orb.Point
	Persons int // persons to swab
	// DoorToDoor is why the household is visited at home ("sealed", "isolated",
	// "immobile"); "" sends it to a point.
	DoorToDoor string
}

// Door-to-door reasons, strongest first: a household with several gets the first.
const (
	ReasonSealed   = "sealed"   // inside an enforced sealed zone: nobody leaves home
	ReasonIsolated = "isolated" // a person in home or central isolation
	ReasonImmobile = "immobile" // a person who cannot walk (bed-ridden, disabled)
	// ReasonNoCapacity: no point had a slot left that day; the household is not
	// assigned and its points are reported overloaded.
	ReasonNoCapacity = "no_capacity"
)

// Params shape an assignment.
type Params struct {
	// Start is the first minute after local midnight at which slots begin.
	Start int
	// SlotMinutes is the length of a slot; it divides 60, so the slots of any clock
	// hour hold at most the hourly capacity.
	SlotMinutes int
	// WalkLimitM is the farthest a household should walk, in metres.
	WalkLimitM float64
	// MaxSuggestions caps the suggested new points; zero means 10.
	MaxSuggestions int
}

// Assignment is one household's answer.
type Assignment struct {
	HouseholdID int64
	GridID      int64
	Persons     int
	PointID     int64 // 0 when door to door or without capacity
	// SlotStart and SlotEnd are minutes after local midnight (0 when no point).
	SlotStart, SlotEnd int
	WalkM              float64 // to the point; 0 when none
	DoorToDoor         bool
	Reason             string // the door-to-door reason, or ReasonNoCapacity
}

// Overload is a point whose demand exceeded what its day could hold: Slot is its
// last slot's start (minutes after midnight), Assigned the persons who wanted the
// point, Capacity what its open slots could take.
type Overload struct {
	PointID            int64
	Slot               int
	Assigned, Capacity int
}

// Suggestion is a place for a new point and how many far households it would cover.
type Suggestion struct {
	Loc    orb.Point
	Covers int
}

// Result is an assignment of every household.
type Result struct {
	Assignments []Assignment // in the order of the input households
	Overloaded  []Overload   // by point id
	// Far counts the households assigned to a point farther than WalkLimitM or left
	// without capacity.
	Far         int
	Suggestions []Suggestion
	// WalkMedian, WalkP95 and WalkMax summarise the walks to points, in metres.
	WalkMedian, WalkP95, WalkMax float64
	// Load is the persons assigned to each point.
	Load map[int64]int
}

// SlotCapacity is how many persons a point takes per slot.
func SlotCapacity(p Point, slotMinutes int) int { return p.CapacityPerHour * slotMinutes / 60 }

// Slots lists the slot starts of p on a day whose slots begin at start: aligned on
// start, within the point's opening hours.
func Slots(p Point, start, slotMinutes int) []int {
	var out []int
	first := start
	if p.Opens > first {
		first = start + (p.Opens-start+slotMinutes-1)/slotMinutes*slotMinutes
	}
	for t := first; t+slotMinutes <= p.Closes; t += slotMinutes {
		out = append(out, t)
	}
	return out
}

// pointState is the filling of one point's slots.
type pointState struct {
	p     Point
	slots []int
	cap   int // per slot
	slot  int // index of the slot being filled
	used  int // persons in the current slot
	// demand counts persons who wanted this point, taken or not.
	demand int
	load   int
}

// left is what the point can still take this day.
func (s *pointState) left() int {
	if s.slot >= len(s.slots) {
		return 0
	}
	return (len(s.slots)-s.slot)*s.cap - s.used
}

// take puts n persons in the current slot (or the next one with room) and returns
// the slot's start; ok is false when no slot has room for n at once.
func (s *pointState) take(n int) (int, bool) {
	for s.slot < len(s.slots) {
		if s.used+n <= s.cap {
			s.used += n
			s.load += n
			return s.slots[s.slot], true
		}
		if s.used == 0 { // n is more than a whole slot holds
			return 0, false
		}
		s.slot++
		s.used = 0
	}
	return 0, false
}

// Assign assigns every household: door-to-door households go on the list with their
// reason; the others go, grid by grid, to the point that serves their grid (or,
// when none does, the points nearest the grid) with the least total walk among those
// with room for the whole grid, in consecutive slots, so a grid's households go
// together and grids follow one another (错峰). A grid too large for any one point
// is split household by household to the nearest points with room. No slot ever
// holds more than the point's hourly capacity × SlotMinutes/60; households for
// which no point has room are left with ReasonNoCapacity and their nearest point is
// reported overloaded. Grids are taken in ascending id and households in input
// order, so the answer is the same for the same input.
func Assign(points []Point, hs []Household, p Params) Result {
	if p.MaxSuggestions == 0 {
		p.MaxSuggestions = 10
	}
	res := Result{Assignments: make([]Assignment, len(hs)), Load: map[int64]int{}}
	states := make([]*pointState, len(points))
	for i, pt := range points {
		states[i] = &pointState{p: pt, slots: Slots(pt, p.Start, p.SlotMinutes), cap: SlotCapacity(pt, p.SlotMinutes)}
	}
	serves := map[int64][]int{} // grid → indexes of points serving it
	for i, pt := range points {
		for _, g := range pt.GridIDs {
			serves[g] = append(serves[g], i)
		}
	}
	byGrid := map[int64][]int{}
	var grids []int64
	for i, h := range hs {
		res.Assignments[i] = Assignment{HouseholdID: h.ID, GridID: h.GridID, Persons: h.Persons}
		if h.DoorToDoor != "" {
			res.Assignments[i].DoorToDoor = true
			res.Assignments[i].Reason = h.DoorToDoor
			continue
		}
		if _, ok := byGrid[h.GridID]; !ok {
			grids = append(grids, h.GridID)
		}
		byGrid[h.GridID] = append(byGrid[h.GridID], i)
	}
	slices.Sort(grids)
	place := func(i, pi int, start int) {
		a := &res.Assignments[i]
		st := states[pi]
		a.PointID = st.p.ID
		a.SlotStart, a.SlotEnd = start, start+p.SlotMinutes
		a.WalkM = geo.DistanceM(hs[i].Loc, st.p.Loc)
	}
	for _, g := range grids {
		members := byGrid[g]
		if len(states) == 0 {
			for _, i := range members {
				res.Assignments[i].Reason = ReasonNoCapacity
			}
			continue
		}
		persons := 0
		for _, i := range members {
			persons += hs[i].Persons
		}
		cands := candidates(states, serves[g], hs, members)
		chosen := -1
		for _, c := range cands {
			if states[c].left() >= persons && fitsWhole(states[c], hs, members) {
				chosen = c
				break
			}
		}
		if chosen >= 0 {
			states[chosen].demand += persons
			for _, i := range members {
				start, _ := states[chosen].take(hs[i].Persons)
				place(i, chosen, start)
			}
			continue
		}
		// Split: each household to the nearest point with room.
		for _, i := range members {
			order := byDistance(states, hs[i].Loc)
			states[order[0]].demand += hs[i].Persons
			done := false
			for _, c := range order {
				if start, ok := states[c].take(hs[i].Persons); ok {
					place(i, c, start)
					if c != order[0] {
						states[c].demand += hs[i].Persons
					}
					done = true
					break
				}
			}
			if !done {
				res.Assignments[i].Reason = ReasonNoCapacity
			}
		}
	}
	var walks []float64
	var far []orb.Point
	for i, a := range res.Assignments {
		if a.DoorToDoor {
			continue
		}
		if a.PointID == 0 {
			res.Far++
			far = append(far, hs[i].Loc)
			continue
		}
		walks = append(walks, a.WalkM)
		if a.WalkM > p.WalkLimitM {
			res.Far++
			far = append(far, hs[i].Loc)
		}
	}
	for _, st := range states {
		res.Load[st.p.ID] = st.load
		capDay := len(st.slots) * st.cap
		if st.demand > capDay {
			last := 0
			if len(st.slots) > 0 {
				last = st.slots[len(st.slots)-1]
			}
			res.Overloaded = append(res.Overloaded, Overload{PointID: st.p.ID, Slot: last, Assigned: st.demand, Capacity: capDay})
		}
	}
	slices.SortFunc(res.Overloaded, func(a, b Overload) int { return cmp.Compare(a.PointID, b.PointID) })
	slices.Sort(walks)
	res.WalkMedian, res.WalkP95 = quantile(walks, 0.5), quantile(walks, 0.95)
	if len(walks) > 0 {
		res.WalkMax = walks[len(walks)-1]
	}
	res.Suggestions = Suggest(far, p.WalkLimitM, p.MaxSuggestions)
	return res
}

// fitsWhole reports whether st can take every household of members in its
// remaining slots, packing them in order as take would.
func fitsWhole(st *pointState, hs []Household, members []int) bool {
	c := *st
	for _, i := range members {
		if _, ok := c.take(hs[i].Persons); !ok {
			return false
		}
	}
	return true
}

// candidates orders the points for a grid: those serving it first, then the rest,
// each by the total walk of the grid's households, ties by point id. Only the 8
// nearest to the grid's centre are considered besides the serving ones.
func candidates(states []*pointState, serving []int, hs []Household, members []int) []int {
	var c orb.Point
	for _, i := range members {
		c[0] += hs[i].Loc[0] / float64(len(members))
		c[1] += hs[i].Loc[1] / float64(len(members))
	}
	near := byDistance(states, c)
	if len(near) > 8 {
		near = near[:8]
	}
	seen := map[int]bool{}
	var out []int
	total := func(pi int) float64 {
		s := 0.0
		for _, i := range members {
			s += geo.DistanceM(hs[i].Loc, states[pi].p.Loc)
		}
		return s
	}
	sortByWalk := func(xs []int) []int {
		w := make(map[int]float64, len(xs))
		for _, x := range xs {
			w[x] = total(x)
		}
		slices.SortStableFunc(xs, func(a, b int) int {
			if c := cmp.Compare(w[a], w[b]); c != 0 {
				return c
			}
			return cmp.Compare(states[a].p.ID, states[b].p.ID)
		})
		return xs
	}
	for _, x := range sortByWalk(slices.Clone(serving)) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	var rest []int
	for _, x := range near {
		if !seen[x] {
			seen[x] = true
			rest = append(rest, x)
		}
	}
	return append(out, sortByWalk(rest)...)
}

// byDistance is the indexes of states ordered by distance from p, ties by id.
func byDistance(states []*pointState, p orb.Point) []int {
	idx := make([]int, len(states))
	d := make([]float64, len(states))
	for i := range states {
		idx[i] = i
		d[i] = geo.DistanceM(p, states[i].p.Loc)
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if d[idx[a]] != d[idx[b]] {
			return d[idx[a]] < d[idx[b]]
		}
		return states[idx[a]].p.ID < states[idx[b]].p.ID
	})
	return idx
}

// quantile is the q-quantile of sorted xs (nearest rank), 0 for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// Suggest places up to k new points covering the far households: greedily, the
// candidate covering most uncovered households within limitM is taken, then the
// next. Candidates are the centroids of the far households of each H3 resolution-8
// cell (about 0.7 km²) and of each ring of cells around it; ties go to the lower
// cell, so the answer is deterministic.
func Suggest(far []orb.Point, limitM float64, k int) []Suggestion {
	if len(far) == 0 || k <= 0 {
		return []Suggestion{}
	}
	type cell struct {
		id  geo.Cell
		sum orb.Point
		n   int
	}
	cells := map[geo.Cell]*cell{}
	for _, p := range far {
		c, err := geo.CellOf(p, 8)
		if err != nil {
			continue
		}
		x := cells[c]
		if x == nil {
			x = &cell{id: c}
			cells[c] = x
		}
		x.sum[0] += p[0]
		x.sum[1] += p[1]
		x.n++
	}
	var cands []orb.Point
	ids := make([]geo.Cell, 0, len(cells))
	for id := range cells {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		x := cells[id]
		cands = append(cands, orb.Point{x.sum[0] / float64(x.n), x.sum[1] / float64(x.n)})
	}
	covered := make([]bool, len(far))
	out := []Suggestion{}
	for len(out) < k {
		best, bestN := -1, 0
		for ci, c := range cands {
			n := 0
			for i, p := range far {
				if !covered[i] && geo.DistanceM(c, p) <= limitM {
					n++
				}
			}
			if n > bestN {
				best, bestN = ci, n
			}
		}
		if best < 0 {
			break
		}
		for i, p := range far {
			if !covered[i] && geo.DistanceM(cands[best], p) <= limitM {
				covered[i] = true
			}
		}
		out = append(out, Suggestion{Loc: cands[best], Covers: bestN})
	}
	return out
}
