package geo

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// ValidatePolygon checks a user-drawn zone or an imported area before it reaches SQL
// (PostGIS reports bad geometry only as the generic XX000, and answers wrongly for
// self-intersecting shapes). It accepts an orb.Polygon or orb.MultiPolygon in
// [lng, lat] degrees whose
//   - coordinates are finite, longitudes in [-180, 180] and latitudes in [-90, 90];
//   - rings are closed (first point == last) with at least 4 points, at least 3 of
//     them distinct, and enclose a non-zero area (repeated consecutive points are
//     allowed and ignored, as PostGIS does);
//   - rings neither cross nor touch themselves, and rings of one polygon or of
//     different polygons neither cross nor run along each other (touching at a
//     point is allowed, as in OGC validity);
//   - holes lie inside their shell and not inside another hole, and rings touch
//     nowhere in a closed loop (a hole touching the shell twice cuts the interior
//     apart);
//   - polygons of a MultiPolygon do not overlap (an island inside another part's
//     hole is fine).
//
// Ring orientation is not checked: GeoJSON (RFC 7946) asks parsers not to reject
// either winding, and PostGIS does not care. The rules are OGC's, as PostGIS's
// ST_IsValid applies them (grid's tests hold the two to agreement). Predicates use
// float64 arithmetic, so a vertex within about 1e-15 degrees of another ring's edge
// may be judged either way.
//
// The error is a *CoordError whose Field is a GeoJSON path: coordinates[r][i] for a
// Polygon, coordinates[p][r][i] for a MultiPolygon (p polygon, r ring, i point),
// shortened to the ring or polygon at fault (coordinates[r], coordinates[p],
// coordinates), or "type"; its Reason says what is wrong in words a user can act on, for example
// "edges 2–3 and 7–8 cross at (121.4737000, 31.2304000)" (vertex numbers are
// indices into the ring as given). Edge intersections are found with a sweep over
// edges sorted by longitude, O(n log n) for the rings of streets and zones (a ring
// of long, x-overlapping edges can approach O(n²)).
func ValidatePolygon(g orb.Geometry) error {
	var polys []orb.Polygon
	multi := false
	switch v := g.(type) {
	case nil:
		return &CoordError{Field: "type", Reason: "geometry is missing"}
	case orb.Polygon:
		polys = []orb.Polygon{v}
	case orb.MultiPolygon:
		if len(v) == 0 {
			return &CoordError{Field: "coordinates", Reason: "MultiPolygon has no polygons"}
		}
		polys, multi = v, true
	default:
		return &CoordError{Field: "type", Reason: fmt.Sprintf("must be Polygon or MultiPolygon, not %s", g.GeoJSONType())}
	}
	v := validator{multi: multi}
	for pi, poly := range polys {
		if len(poly) == 0 {
			return &CoordError{Field: v.polyPath(pi), Reason: "polygon has no rings"}
		}
		first := len(v.rings)
		for ri, ring := range poly {
			if err := v.addRing(pi, ri, ring); err != nil {
				return err
			}
		}
		v.polys = append(v.polys, vpoly{first: first, end: len(v.rings)})
	}
	if err := v.sweep(); err != nil {
		return err
	}
	if err := v.checkNesting(); err != nil {
		return err
	}
	return v.checkConnected()
}

// validator holds the rings and edges of one geometry under validation.
type validator struct {
	multi   bool
	rings   []vring
	polys   []vpoly // polygon p's rings are rings[first:end], the shell first
	edges   []vedge
	touches map[ringTouch]bool // where rings of one polygon touch each other
}

// ringTouch is a ring passing through a point where another ring of its polygon
// touches it.
type ringTouch struct {
	ring int
	at   orb.Point
}

type vpoly struct{ first, end int }

// vring is one ring: its points as given and the indices of its distinct vertices
// (consecutive repeats and the closing point dropped), which define its edges.
type vring struct {
	poly, ring int
	pts        orb.Ring
	idx        []int
	bound      box
}

// vedge is edge k of a ring, from distinct vertex k to distinct vertex k+1 (mod n).
type vedge struct {
	ring       int // index into validator.rings
	k          int
	a, b       orb.Point
	minX, maxX float64
	minY, maxY float64
}

func (v *validator) polyPath(pi int) string {
	if v.multi {
		return fmt.Sprintf("coordinates[%d]", pi)
	}
	return "coordinates"
}

func (v *validator) ringPath(pi, ri int) string {
	if v.multi {
		return fmt.Sprintf("coordinates[%d][%d]", pi, ri)
	}
	return fmt.Sprintf("coordinates[%d]", ri)
}

// addRing checks one ring on its own (points, closure, size, area) and records its
// edges for the sweep.
func (v *validator) addRing(pi, ri int, ring orb.Ring) error {
	path := v.ringPath(pi, ri)
	for i, p := range ring {
		if err := ValidLngLat(p[0], p[1]); err != nil {
			ce := err.(*CoordError)
			return &CoordError{Field: fmt.Sprintf("%s[%d]", path, i), Reason: ce.Field + " " + ce.Reason}
		}
	}
	if len(ring) < 4 {
		return &CoordError{Field: path, Reason: fmt.Sprintf("ring has %d points; a closed ring needs at least 4 (3 corners and the first again)", len(ring))}
	}
	if ring[0] != ring[len(ring)-1] {
		return &CoordError{Field: path, Reason: fmt.Sprintf("ring not closed: first point %s differs from last %s", fmtPoint(ring[0]), fmtPoint(ring[len(ring)-1]))}
	}
	r := vring{poly: pi, ring: ri, pts: ring, bound: emptyBox()}
	for i := 0; i < len(ring)-1; i++ {
		if i == 0 || ring[i] != ring[r.idx[len(r.idx)-1]] {
			r.idx = append(r.idx, i)
		}
		r.bound.extend(ring[i][0], ring[i][1])
	}
	if len(r.idx) > 1 && ring[r.idx[len(r.idx)-1]] == ring[0] {
		r.idx = r.idx[:len(r.idx)-1] // repeats of the first point just before the closing one
	}
	if len(r.idx) < 3 {
		return &CoordError{Field: path, Reason: fmt.Sprintf("ring has only %d distinct points; it needs at least 3", len(r.idx))}
	}
	if collinear(ring, r.idx) {
		return &CoordError{Field: path, Reason: "ring has zero area (all its points are on one line)"}
	}
	id := len(v.rings)
	v.rings = append(v.rings, r)
	n := len(r.idx)
	for k := range n {
		a, b := ring[r.idx[k]], ring[r.idx[(k+1)%n]]
		v.edges = append(v.edges, vedge{
			ring: id, k: k, a: a, b: b,
			minX: math.Min(a[0], b[0]), maxX: math.Max(a[0], b[0]),
			minY: math.Min(a[1], b[1]), maxY: math.Max(a[1], b[1]),
		})
	}
	return nil
}

// sweep finds the first pair of edges that meet where they must not: edges sorted by
// their west end; an active list holds the edges whose x-range still reaches the
// current one, and only pairs whose x- and y-ranges overlap are tested.
func (v *validator) sweep() error {
	slices.SortFunc(v.edges, func(e, f vedge) int {
		return cmp.Or(cmp.Compare(e.minX, f.minX), cmp.Compare(e.ring, f.ring), cmp.Compare(e.k, f.k))
	})
	var active []int
	for i := range v.edges {
		e := &v.edges[i]
		keep := active[:0]
		for _, j := range active {
			if v.edges[j].maxX >= e.minX {
				keep = append(keep, j)
			}
		}
		active = keep
		for _, j := range active {
			f := &v.edges[j]
			if f.maxY < e.minY || e.maxY < f.minY {
				continue
			}
			if err := v.checkPair(f, e); err != nil {
				return err
			}
		}
		active = append(active, i)
	}
	return nil
}

// checkPair applies the rules for two edges that may meet.
func (v *validator) checkPair(e, f *vedge) error {
	kind, at := intersectSegments(e.a, e.b, f.a, f.b)
	if kind == meetNone {
		return nil
	}
	if e.ring > f.ring || e.ring == f.ring && e.k > f.k {
		e, f = f, e // name the earlier ring and edge first
	}
	re, rf := &v.rings[e.ring], &v.rings[f.ring]
	if e.ring == f.ring {
		n := len(re.idx)
		adjacent := (e.k+1)%n == f.k || (f.k+1)%n == e.k
		if adjacent && kind == meetTouch {
			return nil // consecutive edges share their vertex
		}
		verb := map[meet]string{meetCross: "cross at", meetTouch: "touch at", meetOverlap: "overlap from"}[kind]
		return &CoordError{Field: v.ringPath(re.poly, re.ring), Reason: fmt.Sprintf(
			"self-intersection: edges %s and %s %s %s", re.edgeName(e.k), re.edgeName(f.k), verb, fmtPoint(at))}
	}
	switch kind {
	case meetTouch:
		// Rings may touch at a point, but not pass through each other there.
		a1, a2 := re.around(e, at)
		b1, b2 := rf.around(f, at)
		if !passesThrough(at, b1, b2, a1, a2) {
			if re.poly == rf.poly {
				if v.touches == nil {
					v.touches = map[ringTouch]bool{}
				}
				v.touches[ringTouch{e.ring, at}] = true
				v.touches[ringTouch{f.ring, at}] = true
			}
			return nil
		}
		return &CoordError{Field: v.ringPath(rf.poly, rf.ring), Reason: fmt.Sprintf(
			"edge %s crosses %s at its vertex %s", rf.edgeName(f.k), v.ringPath(re.poly, re.ring), fmtPoint(at))}
	case meetCross:
		return &CoordError{Field: v.ringPath(rf.poly, rf.ring), Reason: fmt.Sprintf(
			"edge %s crosses edge %s of %s at %s", rf.edgeName(f.k), re.edgeName(e.k), v.ringPath(re.poly, re.ring), fmtPoint(at))}
	default:
		return &CoordError{Field: v.ringPath(rf.poly, rf.ring), Reason: fmt.Sprintf(
			"edge %s runs along edge %s of %s from %s", rf.edgeName(f.k), re.edgeName(e.k), v.ringPath(re.poly, re.ring), fmtPoint(at))}
	}
}

// edgeName is "i–j" with the point indices of edge k in the ring as given.
func (r *vring) edgeName(k int) string {
	j := len(r.pts) - 1 // the closing point ends the last edge
	if k+1 < len(r.idx) {
		j = r.idx[k+1]
	}
	return fmt.Sprintf("%d–%d", r.idx[k], j)
}

// around returns the ring's neighbours of point p, which lies on edge e: the ring's
// previous and next distinct vertex when p is a vertex, else the edge's ends.
func (r *vring) around(e *vedge, p orb.Point) (orb.Point, orb.Point) {
	n := len(r.idx)
	switch p {
	case e.a:
		return r.pts[r.idx[(e.k+n-1)%n]], e.b
	case e.b:
		return e.a, r.pts[r.idx[(e.k+2)%n]]
	}
	return e.a, e.b
}

// checkNesting runs once no two rings cross: each ring then lies wholly on one side
// of every other, so one point of it, off the other's boundary, tells which.
func (v *validator) checkNesting() error {
	for pi, p := range v.polys {
		shell := &v.rings[p.first]
		for h := p.first + 1; h < p.end; h++ {
			hole := &v.rings[h]
			in, ok := v.sideOf(hole, shell)
			if !ok {
				return &CoordError{Field: v.ringPath(pi, hole.ring), Reason: "hole lies on its shell's boundary"}
			}
			if !in {
				return &CoordError{Field: v.ringPath(pi, hole.ring), Reason: fmt.Sprintf("hole is not inside its shell %s", v.ringPath(pi, 0))}
			}
			for o := p.first + 1; o < h; o++ {
				other := &v.rings[o]
				if !overlaps(hole.bound, other.bound) {
					continue
				}
				if in, ok := v.sideOf(hole, other); !ok || in {
					return &CoordError{Field: v.ringPath(pi, hole.ring), Reason: fmt.Sprintf("hole lies inside hole %s", v.ringPath(pi, other.ring))}
				}
				if in, ok := v.sideOf(other, hole); !ok || in {
					return &CoordError{Field: v.ringPath(pi, hole.ring), Reason: fmt.Sprintf("hole contains hole %s", v.ringPath(pi, other.ring))}
				}
			}
		}
	}
	for j := range v.polys {
		for i := range j {
			if v.polysOverlap(i, j) || v.polysOverlap(j, i) {
				return &CoordError{Field: v.polyPath(j), Reason: fmt.Sprintf("polygon overlaps polygon %s", v.polyPath(i))}
			}
		}
	}
	return nil
}

// checkConnected rejects a polygon whose rings touch in a closed loop, cutting its
// interior apart: a hole touching the shell twice, two holes touching each other
// twice, or a chain shell–hole–hole–shell. With rings and touch points as the nodes of
// a graph and "ring passes through point" as its edges, such a loop is a cycle (JTS's
// PolygonTopologyAnalyzer uses the same test); union–find spots the edge closing it.
func (v *validator) checkConnected() error {
	if len(v.touches) == 0 {
		return nil
	}
	// Sorted for a deterministic report when several loops exist.
	ts := make([]ringTouch, 0, len(v.touches))
	for t := range v.touches {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b ringTouch) int {
		return cmp.Or(cmp.Compare(a.ring, b.ring), cmp.Compare(a.at[0], b.at[0]), cmp.Compare(a.at[1], b.at[1]))
	})
	parent := make([]int, len(v.rings), len(v.rings)+len(ts))
	for i := range parent {
		parent[i] = i
	}
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	type polyPoint struct {
		poly int
		at   orb.Point
	}
	points := map[polyPoint]int{} // touch point → its node, per polygon
	for _, t := range ts {
		key := polyPoint{v.rings[t.ring].poly, t.at}
		node, ok := points[key]
		if !ok {
			node = len(parent)
			parent = append(parent, node)
			points[key] = node
		}
		a, b := find(t.ring), find(node)
		if a == b {
			r := &v.rings[t.ring]
			return &CoordError{Field: v.polyPath(r.poly), Reason: fmt.Sprintf(
				"interior is cut apart: %s closes a loop of touching rings at %s", v.ringPath(r.poly, r.ring), fmtPoint(t.at))}
		}
		parent[a] = b
	}
	return nil
}

// polysOverlap reports whether polygon j's shell lies inside polygon i's area (in its
// shell and not in one of its holes).
func (v *validator) polysOverlap(i, j int) bool {
	pi, pj := v.polys[i], v.polys[j]
	shellI, shellJ := &v.rings[pi.first], &v.rings[pj.first]
	if !overlaps(shellI.bound, shellJ.bound) {
		return false
	}
	q, ok := shellJ.offBoundaryOf(v.rings[pi.first:pi.end]...)
	if !ok {
		return true // every point of j on i's boundary: the same ring again
	}
	if in, _ := ringLocate(shellI.pts, q); !in {
		return false
	}
	for h := pi.first + 1; h < pi.end; h++ {
		if in, _ := ringLocate(v.rings[h].pts, q); in {
			return false // an island in i's hole
		}
	}
	return true
}

// sideOf tells whether ring r lies inside ring o, judged by a point of r off o's
// boundary; ok is false when r has no such point.
func (v *validator) sideOf(r, o *vring) (inside, ok bool) {
	q, ok := r.offBoundaryOf(*o)
	if !ok {
		return false, false
	}
	in, _ := ringLocate(o.pts, q)
	return in, true
}

// offBoundaryOf returns a vertex of r, or failing that an edge midpoint, on no edge
// of the rings others.
func (r *vring) offBoundaryOf(others ...vring) (orb.Point, bool) {
	off := func(q orb.Point) bool {
		for i := range others {
			if _, on := ringLocate(others[i].pts, q); on {
				return false
			}
		}
		return true
	}
	for _, i := range r.idx {
		if off(r.pts[i]) {
			return r.pts[i], true
		}
	}
	n := len(r.idx)
	for k := range n {
		a, b := r.pts[r.idx[k]], r.pts[r.idx[(k+1)%n]]
		if m := (orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}); off(m) {
			return m, true
		}
	}
	return orb.Point{}, false
}

// meet is how two segments meet.
type meet int

const (
	meetNone    meet = iota
	meetTouch        // in one point, an end of at least one of them
	meetCross        // in one point inside both
	meetOverlap      // along a stretch: collinear and overlapping
)

// intersectSegments classifies how segments ab and cd meet and returns a point where
// they do: the crossing, the touching endpoint (exactly one of a, b, c, d), or the
// start of the shared stretch.
func intersectSegments(a, b, c, d orb.Point) (meet, orb.Point) {
	d1, d2 := orient(a, b, c), orient(a, b, d)
	if d1 > 0 && d2 > 0 || d1 < 0 && d2 < 0 {
		return meetNone, orb.Point{}
	}
	d3, d4 := orient(c, d, a), orient(c, d, b)
	if d3 > 0 && d4 > 0 || d3 < 0 && d4 < 0 {
		return meetNone, orb.Point{}
	}
	if d1 == 0 && d2 == 0 || d3 == 0 && d4 == 0 {
		return collinearMeet(a, b, c, d)
	}
	if d1 != 0 && d2 != 0 && d3 != 0 && d4 != 0 {
		// a and b lie on opposite sides of cd at signed distances ∝ d3, d4.
		t := d3 / (d3 - d4)
		return meetCross, orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
	}
	switch {
	case d1 == 0 && inBox(a, b, c):
		return meetTouch, c
	case d2 == 0 && inBox(a, b, d):
		return meetTouch, d
	case d3 == 0 && inBox(c, d, a):
		return meetTouch, a
	case d4 == 0 && inBox(c, d, b):
		return meetTouch, b
	}
	return meetNone, orb.Point{}
}

// collinearMeet compares two segments on one line by their projection on the axis
// along which ab is longer.
func collinearMeet(a, b, c, d orb.Point) (meet, orb.Point) {
	ax := 0
	if math.Abs(b[1]-a[1]) > math.Abs(b[0]-a[0]) {
		ax = 1
	}
	lo := math.Max(math.Min(a[ax], b[ax]), math.Min(c[ax], d[ax]))
	hi := math.Min(math.Max(a[ax], b[ax]), math.Max(c[ax], d[ax]))
	if lo > hi {
		return meetNone, orb.Point{}
	}
	at := a
	for _, p := range []orb.Point{a, b, c, d} {
		if p[ax] == lo {
			at = p
			break
		}
	}
	if lo == hi {
		return meetTouch, at
	}
	return meetOverlap, at
}

// passesThrough reports whether a ring coming from a1, through p, on to a2 crosses
// the ring going b1, p, b2 there, rather than touching it: a1 and a2 lie in different
// sectors of the two cut by b's arms. An arm of a along an arm of b is a shared
// stretch, reported as such elsewhere, so it is not a crossing here.
func passesThrough(p, b1, b2, a1, a2 orb.Point) bool {
	u, w := sub(b1, p), sub(b2, p)
	x1, x2 := sub(a1, p), sub(a2, p)
	if alongArm(u, x1) || alongArm(w, x1) || alongArm(u, x2) || alongArm(w, x2) {
		return false
	}
	return inSector(u, w, x1) != inSector(u, w, x2)
}

func alongArm(u, x orb.Point) bool { return cross(u, x) == 0 && u[0]*x[0]+u[1]*x[1] > 0 }

// inSector reports whether direction x lies strictly inside the sector swept
// counter-clockwise from direction u to direction w.
func inSector(u, w, x orb.Point) bool {
	switch c := cross(u, w); {
	case c > 0: // less than a half turn
		return cross(u, x) > 0 && cross(x, w) > 0
	case c < 0: // more than a half turn: outside the closed sector from w to u
		return !(cross(w, x) >= 0 && cross(x, u) >= 0)
	case u[0]*w[0]+u[1]*w[1] > 0: // u and w the same direction: a spike, no sector
		return false
	default: // opposite directions: the half-plane left of u
		return cross(u, x) > 0
	}
}

// ringLocate tells whether p is inside ring r by the even–odd rule, and whether it is
// exactly on one of r's edges (then inside is false).
func ringLocate(r orb.Ring, p orb.Point) (inside, on bool) {
	x, y := p[0], p[1]
	n := len(r)
	for i := range n {
		a, b := r[i], r[(i+1)%n]
		if onSegment(a, b, p) {
			return false, true
		}
		if (a[1] > y) != (b[1] > y) {
			c := (b[0]-a[0])*(y-a[1]) - (x-a[0])*(b[1]-a[1])
			if (c > 0) == (b[1] > a[1]) {
				inside = !inside
			}
		}
	}
	return inside, false
}

// onSegment reports whether p lies exactly on segment ab.
func onSegment(a, b, p orb.Point) bool { return orient(a, b, p) == 0 && inBox(a, b, p) }

// inBox reports whether p lies in the bounding box of a and b, edges included.
func inBox(a, b, p orb.Point) bool {
	return p[0] >= math.Min(a[0], b[0]) && p[0] <= math.Max(a[0], b[0]) &&
		p[1] >= math.Min(a[1], b[1]) && p[1] <= math.Max(a[1], b[1])
}

// orient is twice the signed area of triangle abc: > 0 when c is left of a→b.
func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func cross(u, w orb.Point) float64 { return u[0]*w[1] - u[1]*w[0] }

func sub(a, b orb.Point) orb.Point { return orb.Point{a[0] - b[0], a[1] - b[1]} }

// collinear reports whether all the ring's distinct vertices lie on one line, the
// ring then enclosing no area. (A zero signed area is not enough: a symmetric bow-tie
// has one too, and is better reported as the crossing it is.)
func collinear(r orb.Ring, idx []int) bool {
	a, b := r[idx[0]], r[idx[1]]
	for _, i := range idx[2:] {
		if orient(a, b, r[i]) != 0 {
			return false
		}
	}
	return true
}

func overlaps(a, b box) bool {
	return a.minX <= b.maxX && b.minX <= a.maxX && a.minY <= b.maxY && b.minY <= a.maxY
}

// fmtPoint prints [lng, lat] to 7 decimals (about 1 cm), the precision a user can
// find on a map.
func fmtPoint(p orb.Point) string { return fmt.Sprintf("(%.7f, %.7f)", p[0], p[1]) }
