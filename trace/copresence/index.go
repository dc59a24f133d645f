package copresence

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/track"
)

// ErrUnknownPerson is returned (wrapped, with the id) when a query names a person the
// index does not hold.
var ErrUnknownPerson = errors.New("unknown person")

// ErrNoPings is returned (wrapped, with the id and window) when the case has no ping
// inside the query window.
var ErrNoPings = errors.New("no pings")

// Index holds everyone's pings hashed for one rule, ready for any number of queries.
// It is immutable once built and safe for concurrent use. It shares the callers'
// ping slices (do not change them afterwards) and adds about 48 bytes per ping (a
// hashed copy, its time in nanoseconds and its cell) plus a map entry per distinct
// cell: 1.1 GB of resident memory for 10,000,000 pings, trajectories included.
type Index struct {
	match   matcher
	persons []string
	byID    map[string]int32
	pings   [][]track.Ping
	ns      [][]int64         // ping times as Unix nanoseconds, per person
	cells   [][]geo.Cell      // ping cells at match.res, per person
	entries []entry           // every ping, grouped by cell, by time within a cell
	spans   map[geo.Cell]span // where each cell's group sits in entries
}

// matcher is what makes two pings co-present under one rule.
type matcher struct {
	res       int     // H3 resolution of the hash
	neighbour bool    // probe the k=1 disk (distance rule) or the cell alone (companion)
	maxDistM  float64 // greatest distance of a pair; +Inf for the companion rule
	tolNs     int64   // greatest time gap of a pair
	minNs     int64   // exposed minutes × 1 min must reach this ...
	strict    bool    // ... or exceed it (companion)
	rule      string  // Rule.String, recorded on contacts
}

type span struct{ lo, hi int32 }

// entry is one hashed ping.
type entry struct {
	t      int64 // Unix ns
	p      orb.Point
	person int32
}

const minuteNs = int64(time.Minute)

// Times are kept as Unix nanoseconds; bounding them to 1700-01-01 ≤ t < 2200-01-01
// (in Unix seconds) and the tolerance to MaxTolerance keeps every t ± τ inside int64.
const (
	minUnix = -8520336000
	maxUnix = 7258118400
)

// NewIndex hashes trajectories for the close-contact rule. Each trajectory's pings
// must be ordered by time and person ids must be unique. Errors: an invalid rule, a
// duplicate person, pings out of order, a coordinate out of range, or a time outside
// the years 1700–2199.
func NewIndex(trajs []track.Trajectory, r Rule) (*Index, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	res, err := resolutionFor(r.DistanceM)
	if err != nil {
		return nil, err
	}
	return build(trajs, matcher{
		res:       res,
		neighbour: true,
		maxDistM:  r.DistanceM,
		tolNs:     int64(r.Tolerance),
		minNs:     int64(r.MinDuration),
		rule:      r.String(),
	})
}

// NewCompanionIndex hashes trajectories for the companion rule; see NewIndex.
func NewCompanionIndex(trajs []track.Trajectory, r CompanionRule) (*Index, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return build(trajs, matcher{
		res:      r.Res,
		maxDistM: math.Inf(1),
		tolNs:    int64(r.Tolerance),
		minNs:    int64(r.MinDuration),
		strict:   true,
		rule:     r.String(),
	})
}

// Resolution is the H3 resolution the index hashes pings at.
func (ix *Index) Resolution() int { return ix.match.res }

// Persons lists the indexed person ids in the order given to NewIndex.
func (ix *Index) Persons() []string { return append([]string(nil), ix.persons...) }

func build(trajs []track.Trajectory, m matcher) (*Index, error) {
	ix := &Index{
		match:   m,
		persons: make([]string, len(trajs)),
		byID:    make(map[string]int32, len(trajs)),
		pings:   make([][]track.Ping, len(trajs)),
		ns:      make([][]int64, len(trajs)),
		cells:   make([][]geo.Cell, len(trajs)),
	}
	total := 0
	for i, tr := range trajs {
		if _, dup := ix.byID[tr.Person]; dup {
			return nil, fmt.Errorf("person %q appears twice", tr.Person)
		}
		if err := track.CheckOrder(tr.Pings); err != nil {
			return nil, fmt.Errorf("person %q: %w", tr.Person, err)
		}
		ix.byID[tr.Person] = int32(i)
		ix.persons[i] = tr.Person
		ix.pings[i] = tr.Pings
		total += len(tr.Pings)
	}
	if total > math.MaxInt32 {
		return nil, fmt.Errorf("%d pings: at most %d per index", total, math.MaxInt32)
	}
	// Two passes: count the pings of each cell, then place them, so each cell's group
	// is contiguous; then order each group by time (stable: equal times keep input
	// order, so the index is the same on every run).
	slot := make(map[geo.Cell]int32)
	var counts []int32
	keys := make([]int32, 0, total)
	for i, tr := range trajs {
		ns := make([]int64, len(tr.Pings))
		cells := make([]geo.Cell, len(tr.Pings))
		for j, p := range tr.Pings {
			if sec := p.Time.Unix(); sec < minUnix || sec >= maxUnix {
				return nil, fmt.Errorf("person %q ping %d: time %s outside the years 1700–2199", tr.Person, j, p.Time.Format(time.RFC3339))
			}
			c, err := geo.CellOf(p.Point, m.res)
			if err != nil {
				return nil, fmt.Errorf("person %q ping %d: %w", tr.Person, j, err)
			}
			ns[j], cells[j] = p.Time.UnixNano(), c
			s, ok := slot[c]
			if !ok {
				s = int32(len(counts))
				slot[c] = s
				counts = append(counts, 0)
			}
			counts[s]++
			keys = append(keys, s)
		}
		ix.ns[i], ix.cells[i] = ns, cells
	}
	starts := make([]int32, len(counts)+1)
	for s, n := range counts {
		starts[s+1] = starts[s] + n
	}
	ix.entries = make([]entry, total)
	next := slices.Clone(starts[:len(counts)]) // each group's fill cursor
	n := 0
	for i, tr := range trajs {
		for j, p := range tr.Pings {
			s := keys[n]
			ix.entries[next[s]] = entry{t: ix.ns[i][j], p: p.Point, person: int32(i)}
			next[s]++
			n++
		}
	}
	ix.spans = make(map[geo.Cell]span, len(slot))
	for c, s := range slot {
		sp := span{starts[s], starts[s+1]}
		ix.spans[c] = sp
		slices.SortStableFunc(ix.entries[sp.lo:sp.hi], func(a, b entry) int { return cmp.Compare(a.t, b.t) })
	}
	return ix, nil
}

// floorDiv is ⌊a / b⌋ for b > 0, also for negative a (times before 1970).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
