package route

import (
	"math/rand/v2"
	"time"
)

// engine is the improvement machinery shared by SolveTSP and the team routes: an
// array tour (tour[position] = node, pos[node] = position) with sequential 2-/3-opt
// and Or-opt moves over k-nearest candidate lists, a work queue standing in for
// don't-look bits, and an undo journal so an iterated-local-search step that made
// things worse is rolled back in time proportional to what it changed rather than
// to n.
//
// Every move is applied by applyMove, which rewrites all segments but the longest:
// the reading direction of the array may flip as a result (a 2-opt move reverses the
// shorter side), so moves never assume it and re-derive succ/pred from the arrays.
// Arrays beat linked or two-level lists up to a few thousand nodes, where a move
// rewrites at most n/2 entries of memory that fits in cache.
type engine struct {
	n    int
	c    *costs
	nb   [][]int32
	tour []int32
	pos  []int32

	// queue holds the nodes whose neighbourhood may still hold an improving move;
	// a node leaves it once no move from it improves (its don't-look bit is set).
	queue []int32
	qhead int
	qlen  int
	inQ   []bool

	logging bool
	journal []jentry
	buf     []int32 // kick scratch

	// eps is the least gain worth taking: float noise must not make moves cycle.
	eps float64
}

// jentry records that tour[at] held node before a write.
type jentry struct{ at, node int32 }

func newEngine(c *costs, nb [][]int32, order []int32) *engine {
	n := c.n
	e := &engine{
		n: n, c: c, nb: nb,
		tour:  make([]int32, n),
		pos:   make([]int32, n),
		queue: make([]int32, n),
		inQ:   make([]bool, n),
	}
	copy(e.tour, order)
	for i, v := range e.tour {
		e.pos[v] = int32(i)
	}
	// Scale the threshold to the instance: a millionth of a mean candidate edge.
	var sum float64
	var cnt int
	for i := range nb {
		for _, j := range nb[i] {
			sum += c.d(int32(i), j)
			cnt++
		}
	}
	e.eps = 1e-12
	if cnt > 0 && sum > 0 {
		e.eps = max(e.eps, 1e-9*sum/float64(cnt))
	}
	return e
}

func (e *engine) succ(a int32) int32 {
	p := e.pos[a] + 1
	if int(p) == e.n {
		p = 0
	}
	return e.tour[p]
}

func (e *engine) pred(a int32) int32 {
	p := e.pos[a] - 1
	if p < 0 {
		p = int32(e.n - 1)
	}
	return e.tour[p]
}

// next is succ for dir 0 and pred for dir 1.
func (e *engine) next(a int32, dir int) int32 {
	if dir == 0 {
		return e.succ(a)
	}
	return e.pred(a)
}

func (e *engine) length() float64 {
	var s float64
	for i := 1; i < e.n; i++ {
		s += e.c.d(e.tour[i-1], e.tour[i])
	}
	return s + e.c.d(e.tour[e.n-1], e.tour[0])
}

func (e *engine) push(a int32) {
	if e.inQ[a] {
		return
	}
	e.inQ[a] = true
	t := e.qhead + e.qlen
	if t >= e.n {
		t -= e.n
	}
	e.queue[t] = a
	e.qlen++
}

func (e *engine) pop() int32 {
	a := e.queue[e.qhead]
	e.qhead++
	if e.qhead == e.n {
		e.qhead = 0
	}
	e.qlen--
	e.inQ[a] = false
	return a
}

func (e *engine) set(i int, v int32) {
	if e.logging {
		e.journal = append(e.journal, jentry{int32(i), e.tour[i]})
	}
	e.tour[i] = v
	e.pos[v] = int32(i)
}

// undo rolls the arrays back to the state when the journal was last cleared.
func (e *engine) undo() {
	for k := len(e.journal) - 1; k >= 0; k-- {
		j := e.journal[k]
		e.tour[j.at] = j.node
		e.pos[j.node] = j.at
	}
	e.journal = e.journal[:0]
}

// applyMove replaces the removed edges (2–4 edges of the current tour, given as node
// pairs) by the added ones, which must reconnect the segments between them into one
// cycle. The longest segment stays where it is; the others are written, in their new
// order and orientation, into the positions after it. That is how a 2-opt reversal
// of the shorter side generalises: the cost is the length of the segments that move.
func (e *engine) applyMove(rem, add [][2]int32) {
	n := e.n
	k := len(rem)
	var cu, cv [4]int32 // cut i is the edge (cu[i], cv[i]) with cv[i] = succ(cu[i])
	for i, r := range rem {
		u, v := r[0], r[1]
		if e.succ(u) != v {
			u, v = v, u
		}
		cu[i], cv[i] = u, v
		for j := i; j > 0 && e.pos[cu[j]] < e.pos[cu[j-1]]; j-- {
			cu[j], cu[j-1] = cu[j-1], cu[j]
			cv[j], cv[j-1] = cv[j-1], cv[j]
		}
	}
	// Segment i runs from head[i] = cv[i] forward to tail[i] = cu[i+1].
	var head, tail [4]int32
	var slen [4]int
	f := 0
	for i := 0; i < k; i++ {
		head[i], tail[i] = cv[i], cu[(i+1)%k]
		l := int(e.pos[tail[i]] - e.pos[head[i]])
		if l < 0 {
			l += n
		}
		slen[i] = l + 1
		if slen[i] > slen[f] {
			f = i
		}
	}
	// Slots 2i and 2i+1 are segment i's head and tail; link pairs the slots the added
	// edges join. A one-node segment has both slots on the same node: either order.
	var link [8]int
	for i := range link {
		link[i] = -1
	}
	slot := func(x int32) int {
		for i := 0; i < k; i++ {
			if head[i] == x && link[2*i] < 0 {
				return 2 * i
			}
			if tail[i] == x && link[2*i+1] < 0 {
				return 2*i + 1
			}
		}
		panic("route: added edge does not end at a cut")
	}
	for _, a := range add {
		sa := slot(a[0])
		link[sa] = 99 // reserved while looking up the other end
		sb := slot(a[1])
		link[sa], link[sb] = sb, sa
	}
	buf := e.buf[:0]
	for at := 2*f + 1; ; {
		o := link[at]
		j := o / 2
		if j == f {
			break
		}
		if o%2 == 0 {
			for p, c := int(e.pos[head[j]]), 0; c < slen[j]; c++ {
				buf = append(buf, e.tour[p])
				if p++; p == n {
					p = 0
				}
			}
			at = 2*j + 1
		} else {
			for p, c := int(e.pos[tail[j]]), 0; c < slen[j]; c++ {
				buf = append(buf, e.tour[p])
				if p--; p < 0 {
					p = n - 1
				}
			}
			at = 2 * j
		}
	}
	w := int(e.pos[tail[f]])
	for _, v := range buf {
		if w++; w == n {
			w = 0
		}
		if e.tour[w] != v {
			e.set(w, v)
		}
	}
	e.buf = buf
}

// inSeg reports whether node v lies in the l nodes starting at s and going dir.
func (e *engine) inSeg(v, s int32, dir, l int) bool {
	off := int(e.pos[v] - e.pos[s])
	if dir == 1 {
		off = -off
	}
	if off < 0 {
		off += e.n
	}
	return off < l
}

// off is how many steps v lies after a when reading the tour in direction dir.
func (e *engine) off(a, v int32, dir int) int {
	o := int(e.pos[v] - e.pos[a])
	if dir == 1 {
		o = -o
	}
	if o < 0 {
		o += e.n
	}
	return o
}

// try3opt looks for an improving sequential 2-opt or 3-opt move that starts by
// breaking an edge at t1 (Lin–Kernighan to depth 3 with full breadth over the
// candidate lists, the partial gain kept positive at every step). It applies the
// first one found and returns its gain (0 if none).
//
// Notation as in Lin & Kernighan (1973): x_i = (t_{2i-1}, t_{2i}) leave the tour,
// y_i = (t_{2i}, t_{2i+1}) join it, and the move closes with (t_6, t1) (or (t4, t1)
// for 2-opt). Reading the tour in direction dir with t2 after t1:
//   - t4 before t3: closing with (t4, t1) is a 2-opt move; deeper, the tour after it
//     has the path t2…t4 reversed, which decides which neighbour of t5 is t6;
//   - t4 after t3: no 2-opt closes, but t2…t3 has become a cycle, so t5 must lie on
//     it and either of its neighbours there may be t6 (pure and reversing 3-opt).
func (e *engine) try3opt(t1 int32) float64 {
	d := e.c.d
	for dir := 0; dir < 2; dir++ {
		t2 := e.next(t1, dir)
		g0 := d(t1, t2)
		for _, t3 := range e.nb[t2] {
			g1 := g0 - d(t2, t3)
			if g1 <= e.eps {
				break
			}
			if t3 == t1 || t3 == e.next(t2, dir) {
				continue
			}
			for kind := 0; kind < 2; kind++ {
				t4 := e.next(t3, 1-dir) // kind 0: t4 before t3
				if kind == 1 {
					t4 = e.next(t3, dir)
				}
				if t4 == t2 || t4 == t1 && kind == 0 {
					continue
				}
				g1b := g1 + d(t3, t4)
				if kind == 0 {
					if g := g1b - d(t4, t1); g > e.eps {
						e.applyMove([][2]int32{{t1, t2}, {t3, t4}}, [][2]int32{{t2, t3}, {t4, t1}})
						e.pushAll(t1, t2, t3, t4)
						return g
					}
				}
				span := e.off(t2, t4, dir) // kind 0: t2…t4 is reversed by the 2-opt
				if kind == 1 {
					span = e.off(t2, t3, dir) // kind 1: t5 must lie on t2…t3
				}
				for _, t5 := range e.nb[t4] {
					g2 := g1b - d(t4, t5)
					if g2 <= e.eps {
						break
					}
					if t5 == t1 || t5 == t3 || t5 == e.next(t4, 0) || t5 == e.next(t4, 1) {
						continue
					}
					in := e.off(t2, t5, dir) <= span
					for side := 0; side < 2; side++ {
						var t6 int32
						if kind == 0 {
							if side == 1 {
								break // one way only keeps the tour whole
							}
							if in {
								t6 = e.next(t5, dir) // reversed: its old successor precedes it
							} else {
								t6 = e.next(t5, 1-dir)
							}
						} else {
							if !in {
								break
							}
							t6 = e.next(t5, side)
							if e.off(t2, t6, dir) > span || t5 == t2 && t6 == t1 {
								continue // (t5, t6) must be an edge of the cycle t2…t3
							}
						}
						if t6 == t1 || t6 == t4 || t6 == t2 && t5 == t3 {
							continue
						}
						if g := g2 + d(t5, t6) - d(t6, t1); g > e.eps {
							e.applyMove([][2]int32{{t1, t2}, {t3, t4}, {t5, t6}}, [][2]int32{{t2, t3}, {t4, t5}, {t6, t1}})
							e.pushAll(t1, t2, t3, t4, t5, t6)
							return g
						}
					}
				}
			}
		}
	}
	return 0
}

func (e *engine) pushAll(v ...int32) {
	for _, x := range v {
		e.push(x)
	}
}

// maxSeg is the longest segment Or-opt moves; 3 is the classic choice, longer ones
// are better reached by 2-opt plus the kicks.
const maxSeg = 3

// tryOrOpt applies the first improving Or-opt move of a segment of 1–3 nodes with a
// at one end, reinserted (either way round) next to a candidate neighbour of one of
// its ends, and returns its gain (0 if none).
func (e *engine) tryOrOpt(a int32) float64 {
	d := e.c.d
	for dir := 0; dir < 2; dir++ {
		p := e.next(a, 1-dir)
		s2 := a
		for l := 1; l <= maxSeg; l++ {
			if l > 1 {
				s2 = e.next(s2, dir)
			}
			if dir == 1 && l == 1 {
				continue // the single node was tried with dir 0
			}
			nn := e.next(s2, dir)
			g0 := d(p, a) + d(s2, nn) - d(p, nn)
			if g0 <= e.eps {
				continue
			}
			for end := 0; end < 2; end++ {
				x, y := a, s2
				if end == 1 {
					if l == 1 {
						break
					}
					x, y = s2, a
				}
				for _, c := range e.nb[x] {
					g1 := g0 - d(c, x)
					if g1 <= e.eps {
						break
					}
					if e.inSeg(c, a, dir, l) {
						continue
					}
					for side := 0; side < 2; side++ {
						f := e.next(c, side)
						if e.inSeg(f, a, dir, l) {
							continue
						}
						if g := g1 + d(c, f) - d(f, y); g > e.eps {
							e.applyMove([][2]int32{{p, a}, {s2, nn}, {c, f}}, [][2]int32{{p, nn}, {c, x}, {f, y}})
							e.pushAll(a, s2, p, nn, c, f)
							return g
						}
					}
				}
			}
		}
	}
	return 0
}

// localSearch runs 3-opt and Or-opt from the queued nodes until none improves, and
// returns the total gain.
func (e *engine) localSearch() float64 {
	var gain float64
	for e.qlen > 0 {
		a := e.pop()
		for {
			if g := e.try3opt(a); g > 0 {
				gain += g
				continue
			}
			if g := e.tryOrOpt(a); g > 0 {
				gain += g
				continue
			}
			break
		}
	}
	return gain
}

// kickMinSeg and kickMaxSeg bound the segments the double-bridge kick swaps: up to
// n/5 nodes each, but at least 10 and at most 50. Kicks local in the tour keep each
// iteration's work (and its undo) small however large n is; on 130–3000 nodes,
// longer segments made each kick dearer without finding better tours, shorter ones
// stalled on the structured instances (pcb442, pr1002).
const (
	kickMinSeg = 10
	kickMaxSeg = 50
)

// kick applies a segment-swap double bridge, A B C D → A C B D, where B and C are
// short consecutive segments at a random place, queues the six nodes at the changed
// edges and returns the length change. It changes three edges without reversing
// anything: 2-opt cannot undo that, and 3-opt only when every partial gain on the
// way back is positive, which is what makes it a useful perturbation.
func (e *engine) kick(r *rand.Rand) float64 {
	n := e.n
	m := min(max(kickMinSeg, n/5), kickMaxSeg, (n-2)/2)
	l1, l2 := 1+r.IntN(m), 1+r.IntN(m)
	i := r.IntN(n)
	at := func(k int) int32 { return e.tour[(i+k)%n] }
	a, b0, bEnd, c0, cEnd, d0 := at(0), at(1), at(l1), at(l1+1), at(l1+l2), at(l1+l2+1)
	d := e.c.d
	delta := d(a, c0) + d(cEnd, b0) + d(bEnd, d0) - d(a, b0) - d(bEnd, c0) - d(cEnd, d0)
	buf := e.buf[:0]
	for k := l1 + 1; k <= l1+l2; k++ {
		buf = append(buf, at(k))
	}
	for k := 1; k <= l1; k++ {
		buf = append(buf, at(k))
	}
	for k, v := range buf {
		e.set((i+1+k)%n, v)
	}
	e.buf = buf
	for _, v := range [...]int32{a, b0, bEnd, c0, cEnd, d0} {
		e.push(v)
	}
	return delta
}

// ils runs the iterated local search: local search to a local optimum, then kicks,
// each followed by local search, keeping the result when it is no longer than the
// current tour (equal tours are accepted so the search drifts along plateaus) and
// undoing it otherwise. It stops after maxKicks kicks (0: no cap) or at deadline
// (zero: none), whichever comes first, and returns the kicks made. With neither
// bound it stops at the first local optimum.
func (e *engine) ils(r *rand.Rand, maxKicks int, deadline time.Time) int {
	for i := 0; i < e.n; i++ {
		e.push(e.tour[i])
	}
	e.localSearch()
	if e.n < 8 || (maxKicks <= 0 && deadline.IsZero()) {
		return 0
	}
	cur := e.length()
	kicks := 0
	for ; maxKicks <= 0 || kicks < maxKicks; kicks++ {
		if !deadline.IsZero() && kicks%4 == 0 && !time.Now().Before(deadline) {
			break
		}
		e.journal = e.journal[:0]
		e.logging = true
		nl := cur + e.kick(r)
		nl -= e.localSearch()
		// No eps here: accepting "equal within eps" would let the length creep up.
		// Accepting slightly worse tours (a low annealing temperature) was tried and
		// made no consistent difference on 130–3000 nodes, so the current tour is
		// always the best one and needs no copy.
		if nl <= cur {
			cur = nl
		} else {
			e.undo()
		}
		e.logging = false
	}
	return kicks
}
