package copresence

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// Query asks for the contacts of one case.
type Query struct {
	// Case is the person id of the source.
	Case string
	// From and To bound the case's pings taken into account (inclusive); a zero value
	// leaves that side open. Other people's pings are not cut by the window: a pair
	// counts whenever the case's ping is inside it and the rule's tolerance holds.
	From, To time.Time
	// Depth is 1 for close contacts, 2 to add contacts of contacts; 0 means 1.
	Depth int
}

// Contact is a person exposed to the source, with the evidence.
type Contact struct {
	// Person is the contact's id.
	Person string
	// Degree is 1 for a contact of the case, 2 for a contact of a contact.
	Degree int
	// Via is, for degree 2, the degree-1 contact through whom the person was reached
	// (the source of Minutes and Encounters); empty for degree 1.
	Via string
	// Minutes is the number of distinct exposed minutes (the sum of the encounters').
	Minutes int
	// Encounters are the exposed minutes merged into runs, in time order.
	Encounters []Encounter
	// Rule is the rule and policy version that produced the contact (Rule.String).
	Rule string
}

// Encounter is a run of exposed minutes; see the package comment for the exact rule.
type Encounter struct {
	// Start is the start of the first exposed minute (UTC, a whole minute).
	Start time.Time
	// End is the start of the last exposed minute (UTC); End == Start for one minute.
	End time.Time
	// Minutes is the number of exposed minutes in the run (≤ (End−Start)/1 min + 1).
	Minutes int
	// MinDistanceM is the smallest distance in metres of a co-located pair whose source
	// ping falls in the run.
	MinDistanceM float64
	// Where is the source's position ([lng, lat]) in that closest pair.
	Where orb.Point
}

// Trace returns the contacts of q.Case under the index's rule, ordered by degree,
// then exposed minutes (most first), then person id. Errors: ErrUnknownPerson (wrapped)
// for a case the index does not hold; ErrNoPings (wrapped) when the case has no ping in
// the window; an error for a depth other than 0, 1 or 2 or a window ending before it
// starts.
func (ix *Index) Trace(q Query) ([]Contact, error) {
	depth := q.Depth
	if depth == 0 {
		depth = 1
	}
	if depth < 1 || depth > 2 {
		return nil, fmt.Errorf("depth %d: contacts are traced to depth 1 or 2", q.Depth)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return nil, fmt.Errorf("window ends (%s) before it starts (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	src, ok := ix.byID[q.Case]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPerson, q.Case)
	}
	lo, hi := ix.window(src, q.From, q.To)
	if lo == hi {
		return nil, fmt.Errorf("case %q: %w %s", q.Case, ErrNoPings, describeWindow(q.From, q.To))
	}
	exclude := make([]bool, len(ix.persons))
	first, err := ix.search(src, lo, hi, exclude)
	if err != nil {
		return nil, err
	}
	out := ix.contacts(first, 1, "")
	if depth == 2 {
		exclude[src] = true
		for _, c := range out {
			exclude[ix.byID[c.Person]] = true
		}
		best := map[string]Contact{}
		for _, c := range out {
			via := ix.byID[c.Person]
			lo, hi := ix.window(via, c.Encounters[0].Start, q.To)
			if lo == hi {
				continue
			}
			exp, err := ix.search(via, lo, hi, exclude)
			if err != nil {
				return nil, err
			}
			for _, c2 := range ix.contacts(exp, 2, c.Person) {
				if old, ok := best[c2.Person]; !ok || better(c2, old) {
					best[c2.Person] = c2
				}
			}
		}
		for _, c2 := range best {
			out = append(out, c2)
		}
	}
	slices.SortFunc(out, func(a, b Contact) int {
		return cmp.Or(cmp.Compare(a.Degree, b.Degree), cmp.Compare(b.Minutes, a.Minutes), cmp.Compare(a.Person, b.Person))
	})
	return out, nil
}

// better reports whether a is the degree-2 path to keep over b for the same person:
// more minutes, then the earlier first encounter, then the smaller contact id.
func better(a, b Contact) bool {
	if a.Minutes != b.Minutes {
		return a.Minutes > b.Minutes
	}
	if c := a.Encounters[0].Start.Compare(b.Encounters[0].Start); c != 0 {
		return c < 0
	}
	return a.Via < b.Via
}

func describeWindow(from, to time.Time) string {
	switch {
	case from.IsZero() && to.IsZero():
		return "at all"
	case from.IsZero():
		return "up to " + to.UTC().Format(time.RFC3339)
	case to.IsZero():
		return "from " + from.UTC().Format(time.RFC3339)
	}
	return "between " + from.UTC().Format(time.RFC3339) + " and " + to.UTC().Format(time.RFC3339)
}

// window is the index range [lo, hi) of person's pings with from ≤ t ≤ to.
func (ix *Index) window(person int32, from, to time.Time) (lo, hi int) {
	ns := ix.ns[person]
	lo, hi = 0, len(ns)
	if !from.IsZero() {
		lo, _ = slices.BinarySearch(ns, clampNs(from))
	}
	if !to.IsZero() {
		t := clampNs(to)
		hi, _ = slices.BinarySearchFunc(ns, t, func(x, t int64) int {
			if x > t {
				return 1
			}
			return -1
		})
	}
	return lo, max(lo, hi)
}

// clampNs is t in Unix nanoseconds, saturated at the representable range.
func clampNs(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, minInt64)):
		return minInt64
	case t.After(time.Unix(0, maxInt64)):
		return maxInt64
	}
	return t.UnixNano()
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// exposure is the exposed minutes of the source with one person, in order.
type exposure struct {
	person  int32
	minutes []exposedMinute
}

type exposedMinute struct {
	minute int64     // ⌊t / 60 s⌋ of the source's ping
	distM  float64   // smallest distance of the minute's co-located pairs
	where  orb.Point // the source's position in that pair
}

// search finds, for the source's pings lo..hi-1, every co-located ping of every other
// person not excluded, and returns the exposures in first-met order.
//
// The source's pings come in time order. While they stay in one cell, each probed
// cell keeps a cursor at its first entry not older than t − τ, which only moves
// forward (a merge of two time-ordered lists); entering a new cell looks up the
// neighbour cells and places the cursors by search.
func (ix *Index) search(src int32, lo, hi int, exclude []bool) ([]*exposure, error) {
	m := &ix.match
	ns, cells, pings := ix.ns[src], ix.cells[src], ix.pings[src]
	byPerson := map[int32]*exposure{}
	var order []*exposure
	type cursor struct{ cur, hi int32 }
	var probes [7]cursor // a pentagon has 6 cells in its disk, a hexagon 7
	nProbe := 0
	var probeOf geo.Cell
	// A great circle is never shorter than the pair's latitude difference (R·|Δφ|), so
	// a pair further apart than that in latitude is too far without the trigonometry.
	// The margin keeps the shortcut from deciding any pair the haversine might accept.
	latLimitDeg := (m.maxDistM*(1+1e-9) + 1e-6) / geo.EarthRadiusM * 180 / math.Pi
	for i := lo; i < hi; i++ {
		t, p, c := ns[i], pings[i].Point, cells[i]
		if i == lo || c != probeOf {
			probeOf, nProbe = c, 0
			disk := []geo.Cell{c}
			if m.neighbour {
				var err error
				if disk, err = c.Disk(1); err != nil {
					return nil, err
				}
			}
			for _, pc := range disk {
				if sp, ok := ix.spans[pc]; ok {
					probes[nProbe] = cursor{sp.lo, sp.hi}
					nProbe++
				}
			}
		}
		minute := floorDiv(t, minuteNs)
		for k := 0; k < nProbe; k++ {
			pr := &probes[k]
			pr.cur = ix.seek(pr.cur, pr.hi, t-m.tolNs)
			for j := pr.cur; j < pr.hi && ix.entries[j].t <= t+m.tolNs; j++ {
				e := &ix.entries[j]
				if e.person == src || exclude[e.person] {
					continue
				}
				if math.Abs(e.p[1]-p[1]) > latLimitDeg {
					continue
				}
				d := geo.DistanceM(p, e.p)
				if d > m.maxDistM {
					continue
				}
				x := byPerson[e.person]
				if x == nil {
					x = &exposure{person: e.person}
					byPerson[e.person] = x
					order = append(order, x)
				}
				// Source pings come in time order, so minutes arrive in order.
				if n := len(x.minutes); n > 0 && x.minutes[n-1].minute == minute {
					if d < x.minutes[n-1].distM {
						x.minutes[n-1].distM, x.minutes[n-1].where = d, p
					}
				} else {
					x.minutes = append(x.minutes, exposedMinute{minute, d, p})
				}
			}
		}
	}
	return order, nil
}

// seek returns the first index in [from, hi) whose entry time is ≥ t (hi if none),
// for a cell's time-ordered entries: it gallops forward from from, so a cursor that
// moves a little costs a little and a long jump costs a logarithm.
func (ix *Index) seek(from, hi int32, t int64) int32 {
	if from >= hi || ix.entries[from].t >= t {
		return from
	}
	// Invariant: entries[lo].t < t; find the first index at or beyond lo with time ≥ t.
	lo, step := from, int32(1)
	for lo+step < hi && ix.entries[lo+step].t < t {
		lo += step
		step *= 2
	}
	end := min(lo+step, hi)
	k, _ := slices.BinarySearchFunc(ix.entries[lo+1:end], t, func(e entry, t int64) int { return cmp.Compare(e.t, t) })
	return lo + 1 + int32(k)
}

// contacts turns exposures into the contacts that meet the rule's duration, with
// their encounters, in person order.
func (ix *Index) contacts(exps []*exposure, degree int, via string) []Contact {
	m := &ix.match
	var out []Contact
	// n exposed minutes reach MinDuration when n × 1 min ≥ M, that is n ≥ ⌈M / 1 min⌉,
	// and exceed it when n > ⌊M / 1 min⌋; in whole minutes nothing can overflow. Likewise
	// a gap of g minutes joins a run when g × 60 s ≤ τ, that is g ≤ ⌊τ / 1 min⌋.
	need := m.minNs / minuteNs
	if m.minNs%minuteNs != 0 {
		need++
	}
	if m.strict {
		need = m.minNs/minuteNs + 1
	}
	maxGap := m.tolNs / minuteNs
	for _, x := range exps {
		if int64(len(x.minutes)) < need {
			continue
		}
		c := Contact{Person: ix.persons[x.person], Degree: degree, Via: via, Minutes: len(x.minutes), Rule: m.rule}
		for i, em := range x.minutes {
			if i == 0 || em.minute-x.minutes[i-1].minute > maxGap {
				c.Encounters = append(c.Encounters, Encounter{Start: minuteTime(em.minute), MinDistanceM: em.distM, Where: em.where})
			}
			e := &c.Encounters[len(c.Encounters)-1]
			e.End = minuteTime(em.minute)
			e.Minutes++
			if em.distM < e.MinDistanceM {
				e.MinDistanceM, e.Where = em.distM, em.where
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Contact) int { return cmp.Compare(a.Person, b.Person) })
	return out
}

func minuteTime(minute int64) time.Time { return time.Unix(minute*60, 0).UTC() }
