package zoning

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// Kind is a zone kind. A household is in at most one kind: the strongest whose
// footprint covers its cell.
type Kind string

// The kinds of DOMAIN.md, from the strongest to the weakest.
const (
	Sealed     Kind = "sealed"     // 封控区: residents stay at home
	Control    Kind = "control"    // 管控区: people stay in the zone
	Precaution Kind = "precaution" // 防范区: social distancing
)

// Kinds lists the kinds from the strongest to the weakest.
func Kinds() []Kind { return []Kind{Sealed, Control, Precaution} }

// rank orders kinds: 3 sealed, 2 control, 1 precaution, 0 none.
func (k Kind) rank() uint8 {
	switch k {
	case Sealed:
		return 3
	case Control:
		return 2
	case Precaution:
		return 1
	}
	return 0
}

// kindOfRank is rank's inverse.
func kindOfRank(r uint8) Kind {
	switch r {
	case 3:
		return Sealed
	case 2:
		return Control
	case 1:
		return Precaution
	}
	return ""
}

// Mode says how a rule turns a case into cells.
type Mode string

// The modes of a rule.
const (
	// Ring is the H3 disk of RingK steps around the cell containing the case (RingK 0
	// is the case's cell alone).
	Ring Mode = "ring"
	// Metres is every cell whose centre lies within DistanceM metres (great circle) of
	// the case point.
	Metres Mode = "metres"
	// Area is every cell whose centre lies inside the area (Input.Areas) containing
	// the case; a case in no area falls back to the rule's RingK. Precaution only.
	Area Mode = "area"
)

// Rule is the footprint of one zone kind around a case.
type Rule struct {
	Mode      Mode
	RingK     int     // Ring (and Area's fallback): steps of the H3 disk
	DistanceM float64 // Metres: radius in metres
}

// Escalation is the epidemic situation a zone's cases show (DOMAIN.md, "Escalation in
// a community"), strongest last.
type Escalation string

// The escalation levels.
const (
	// EpidemicPoint: a case, or cases below the cluster threshold: seal the point.
	EpidemicPoint Escalation = "epidemic_point"
	// Cluster: ClusterMinCases or more cases with one key (family, site or building
	// unit): seal the point, manage contacts strictly.
	Cluster Escalation = "cluster"
	// CommunityTransmission: CommunityMinCases or more cases of unknown source within
	// CommunityWindow: stop gatherings, close venues.
	CommunityTransmission Escalation = "community_transmission"
)

// Policy is what Propose needs of the zone policy (grid.ZonePolicy holds the
// documented, stored version).
type Policy struct {
	Res        int // H3 resolution of every zone cell, 0–15
	Sealed     Rule
	Control    Rule
	Precaution Rule
	// SealMinCases is how many cases one key (epidemic point) needs before its cases
	// seal their cells; cases of smaller groups still get control and precaution.
	SealMinCases int
	// ClusterMinCases is how many cases with one key make a cluster.
	ClusterMinCases int
	// CommunityMinCases cases of unknown source within CommunityWindow make
	// community transmission.
	CommunityMinCases int
	CommunityWindow   time.Duration
	// MaxCells bounds the cells of one proposal (memory is about 60 bytes a cell);
	// 0 means DefaultMaxCells.
	MaxCells int
}

// DefaultMaxCells is the cell budget of a proposal when Policy.MaxCells is 0: all
// 3,658 located Shanghai cases of 2022-04-04 under the default policy need about
// 1.05 million cells.
const DefaultMaxCells = 3_000_000

// LimitError says a proposal would need more cells than Policy.MaxCells.
type LimitError struct {
	Max int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the proposal needs more than %d H3 cells: select fewer cases or a smaller footprint", e.Max)
}

// Case is one case as the proposal sees it.
type Case struct {
	ID    int64
	Point orb.Point // [lng, lat]
	At    time.Time // when it was reported
	// Key groups cases of one family, work site or building unit (a household, an
	// address); "" is a key of its own.
	Key string
	// SourceKnown marks a case traced to a known source; the others count towards
	// community transmission.
	SourceKnown bool
}

// AreaShape is an area a precaution rule in Area mode may use.
type AreaShape struct {
	ID   int64
	Geom orb.MultiPolygon
}

// Input is what zones are proposed from.
type Input struct {
	Cases []Case
	Areas []AreaShape // for Area mode; ignored otherwise
}

// Zone is one proposed zone: one connected component of the cells of one kind.
type Zone struct {
	Kind Kind
	// Geom is the outline of Cells: a counter-clockwise shell and clockwise holes
	// (RFC 7946), holes where a stronger zone or no zone lies.
	Geom       orb.Polygon
	Cells      []geo.Cell // sorted
	CaseIDs    []int64    // the cases whose footprint of this kind reaches the zone, sorted
	Escalation Escalation
	Reason     string // why the escalation level, in words
}

// Result is a proposal: the zones and the kind of every cell in them.
type Result struct {
	Res   int
	Zones []Zone // sealed first, then control, then precaution
	cells map[geo.Cell]cellInfo
}

type cellInfo struct {
	rank uint8
	zone int32 // index into Zones, -1 until components are found
}

// KindOfCell is the kind of zone c is in, "" when none. c must be at Result.Res.
func (r *Result) KindOfCell(c geo.Cell) Kind { return kindOfRank(r.cells[c].rank) }

// Classify is the kind of zone p is in and the index of that zone in Zones; ok is
// false when p is in no zone. It looks up p's cell: every point is in at most one
// kind.
func (r *Result) Classify(p orb.Point) (kind Kind, zone int, ok bool) {
	c, err := geo.CellOf(p, r.Res)
	if err != nil {
		return "", 0, false
	}
	info, ok := r.cells[c]
	if !ok {
		return "", 0, false
	}
	return kindOfRank(info.rank), int(info.zone), true
}

// CellCount is the number of cells in all zones.
func (r *Result) CellCount() int { return len(r.cells) }

// Validate checks p; errors name the field (res, sealed.ring_k, ...), as the JSON
// form of grid.ZonePolicy spells them.
func (p Policy) Validate() error {
	if p.Res < 0 || p.Res > geo.MaxRes {
		return &FieldError{Field: "res", Reason: fmt.Sprintf("must be 0–%d", geo.MaxRes)}
	}
	for _, r := range []struct {
		kind Kind
		rule Rule
	}{{Sealed, p.Sealed}, {Control, p.Control}, {Precaution, p.Precaution}} {
		name := string(r.kind)
		switch r.rule.Mode {
		case Ring, Area:
			if r.rule.Mode == Area && r.kind != Precaution {
				return &FieldError{Field: name + ".mode", Reason: "area mode is for precaution only"}
			}
			if r.rule.RingK < 0 {
				return &FieldError{Field: name + ".ring_k", Reason: "must not be negative"}
			}
		case Metres:
			if !(r.rule.DistanceM > 0) || math.IsInf(r.rule.DistanceM, 0) {
				return &FieldError{Field: name + ".distance_m", Reason: "must be a positive number of metres"}
			}
		default:
			return &FieldError{Field: name + ".mode", Reason: fmt.Sprintf("%q is not ring, metres or area", r.rule.Mode)}
		}
	}
	if p.SealMinCases < 1 {
		return &FieldError{Field: "escalation.seal_min_cases", Reason: "must be at least 1"}
	}
	if p.ClusterMinCases < 2 {
		return &FieldError{Field: "escalation.cluster_min_cases", Reason: "must be at least 2"}
	}
	if p.CommunityMinCases < 2 {
		return &FieldError{Field: "escalation.community_min_cases", Reason: "must be at least 2"}
	}
	if p.CommunityWindow <= 0 {
		return &FieldError{Field: "escalation.community_window_days", Reason: "must be positive"}
	}
	if p.MaxCells < 0 {
		return &FieldError{Field: "max_cells", Reason: "must not be negative"}
	}
	return nil
}

// FieldError is an invalid policy or input value; Field names it.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Propose computes the zones of in under p: per kind the union of the cases'
// footprints, each stronger kind cut out of the weaker ones, one zone per connected
// component with its outline and the cases that caused it. The result does not
// depend on the order of in.Cases. Errors: *FieldError for a bad policy or case
// point, *LimitError when the cells exceed p.MaxCells.
func Propose(in Input, p Policy) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	maxCells := p.MaxCells
	if maxCells == 0 {
		maxCells = DefaultMaxCells
	}
	cases := slices.Clone(in.Cases)
	slices.SortFunc(cases, func(a, b Case) int { return cmp.Compare(a.ID, b.ID) })
	origins := make([]geo.Cell, len(cases))
	for i, c := range cases {
		o, err := geo.CellOf(c.Point, p.Res)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("case %d", c.ID), Reason: err.Error()}
		}
		origins[i] = o
	}
	pr := &proposer{p: p, cases: cases, origins: origins, areas: in.Areas}
	res := &Result{Res: p.Res, cells: map[geo.Cell]cellInfo{}}

	// The footprints of every kind, strongest last so that it wins each cell.
	groups := map[Kind][]group{}
	for _, k := range []Kind{Precaution, Control, Sealed} {
		gs, err := pr.groups(k)
		if err != nil {
			return nil, err
		}
		groups[k] = gs
		rank := k.rank()
		for _, g := range gs {
			for _, c := range g.cells {
				if info, ok := res.cells[c]; !ok || info.rank < rank {
					res.cells[c] = cellInfo{rank: rank, zone: -1}
				}
			}
			if len(res.cells) > maxCells {
				return nil, &LimitError{Max: maxCells}
			}
		}
	}

	for _, k := range Kinds() {
		if err := res.components(k); err != nil {
			return nil, err
		}
	}

	// The cases of each zone: those whose footprint of the zone's kind reaches it.
	caseSets := make([][]int, len(res.Zones))
	for _, k := range Kinds() {
		rank := k.rank()
		for _, g := range groups[k] {
			seen := map[int32]bool{}
			for _, c := range g.cells {
				info := res.cells[c]
				if info.rank != rank || seen[info.zone] {
					continue
				}
				seen[info.zone] = true
				caseSets[info.zone] = append(caseSets[info.zone], g.cases...)
			}
		}
	}
	for i := range res.Zones {
		idx := caseSets[i]
		slices.Sort(idx)
		idx = slices.Compact(idx)
		z := &res.Zones[i]
		z.CaseIDs = make([]int64, len(idx))
		zc := make([]Case, len(idx))
		for j, ci := range idx {
			z.CaseIDs[j] = cases[ci].ID
			zc[j] = cases[ci]
		}
		z.Escalation, z.Reason = escalate(zc, p)
	}
	return res, nil
}

// group is a set of cases sharing one footprint of one kind.
type group struct {
	cells []geo.Cell
	cases []int // indices into proposer.cases
}

type proposer struct {
	p       Policy
	cases   []Case // sorted by id
	origins []geo.Cell
	areas   []AreaShape
}

// groups is the footprint of kind k of every case, cases with one footprint (one
// origin cell in ring mode, one area in area mode) grouped so that each footprint is
// computed once.
func (pr *proposer) groups(k Kind) ([]group, error) {
	rule := map[Kind]Rule{Sealed: pr.p.Sealed, Control: pr.p.Control, Precaution: pr.p.Precaution}[k]
	eligible := func(int) bool { return true }
	if k == Sealed && pr.p.SealMinCases > 1 {
		counts := map[string]int{}
		for _, c := range pr.cases {
			if c.Key != "" {
				counts[c.Key]++
			}
		}
		eligible = func(i int) bool {
			n := 1
			if key := pr.cases[i].Key; key != "" {
				n = counts[key]
			}
			return n >= pr.p.SealMinCases
		}
	}
	var out []group
	switch rule.Mode {
	case Metres:
		for i, c := range pr.cases {
			if !eligible(i) {
				continue
			}
			cells, err := withinMetres(c.Point, pr.origins[i], rule.DistanceM)
			if err != nil {
				return nil, err
			}
			out = append(out, group{cells: cells, cases: []int{i}})
		}
		return out, nil
	case Area:
		return pr.areaGroups(rule, eligible)
	}
	return pr.ringGroups(rule.RingK, eligible, func(int) bool { return true })
}

// ringGroups is the disk of k steps around the origin of every eligible case for
// which use is true, one group per origin cell, in the order of first appearance.
func (pr *proposer) ringGroups(k int, eligible, use func(int) bool) ([]group, error) {
	at := map[geo.Cell]int{}
	var out []group
	for i := range pr.cases {
		if !eligible(i) || !use(i) {
			continue
		}
		o := pr.origins[i]
		if g, ok := at[o]; ok {
			out[g].cases = append(out[g].cases, i)
			continue
		}
		cells, err := o.Disk(k)
		if err != nil {
			return nil, err
		}
		at[o] = len(out)
		out = append(out, group{cells: cells, cases: []int{i}})
	}
	return out, nil
}

// areaGroups is, per area containing cases, the cells whose centres lie inside it;
// cases in no area get the ring of rule.RingK.
func (pr *proposer) areaGroups(rule Rule, eligible func(int) bool) ([]group, error) {
	items := make([]geo.IndexedPolygon, len(pr.areas))
	for i, a := range pr.areas {
		items[i] = geo.IndexedPolygon{ID: int64(i), Geom: a.Geom}
	}
	ix := geo.NewPolygonIndex(items)
	areaOf := make([]int, len(pr.cases))
	at := map[int]int{}
	var out []group
	for i, c := range pr.cases {
		areaOf[i] = -1
		if !eligible(i) {
			continue
		}
		a, ok := ix.Find(c.Point)
		if !ok {
			continue
		}
		areaOf[i] = int(a)
		if g, ok := at[int(a)]; ok {
			out[g].cases = append(out[g].cases, i)
			continue
		}
		cells, err := geo.PolygonCells(pr.areas[a].Geom, pr.p.Res)
		if err != nil {
			return nil, err
		}
		// The case's own cell belongs to the footprint even when its centre lies
		// just outside the area, so the zone always covers its cases.
		cells = append(cells, pr.origins[i])
		at[int(a)] = len(out)
		out = append(out, group{cells: cells, cases: []int{i}})
	}
	for gi := range out {
		for _, i := range out[gi].cases[1:] {
			out[gi].cells = append(out[gi].cells, pr.origins[i])
		}
	}
	rest, err := pr.ringGroups(rule.RingK, eligible, func(i int) bool { return areaOf[i] < 0 })
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// withinMetres lists the cells whose centres lie within d metres of p, whose cell is
// origin.
func withinMetres(p orb.Point, origin geo.Cell, d float64) ([]geo.Cell, error) {
	// The spacing s of neighbouring centres here bounds the disk to search: a centre
	// within d of p is within d + s of origin's centre, and ring k of a hexagonal
	// grid lies at least k·s·√3/2 from its centre; 0.8 leaves room for H3's
	// distortion.
	ring, err := origin.Disk(1)
	if err != nil {
		return nil, err
	}
	oc, err := origin.Center()
	if err != nil {
		return nil, err
	}
	s := math.Inf(1)
	for _, n := range ring {
		if n == origin {
			continue
		}
		nc, err := n.Center()
		if err != nil {
			return nil, err
		}
		s = math.Min(s, geo.DistanceM(oc, nc))
	}
	k := int(math.Ceil((d+s)/(0.8*s))) + 1
	disk, err := origin.Disk(k)
	if err != nil {
		return nil, err
	}
	out := disk[:0]
	for _, c := range disk {
		cc, err := c.Center()
		if err != nil {
			return nil, err
		}
		if geo.DistanceM(cc, p) <= d {
			out = append(out, c)
		}
	}
	return out, nil
}

// escalate is the escalation level of a zone's cases under p and the reason.
func escalate(cs []Case, p Policy) (Escalation, string) {
	var unknown []time.Time
	for _, c := range cs {
		if !c.SourceKnown {
			unknown = append(unknown, c.At)
		}
	}
	slices.SortFunc(unknown, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	for i, j := 0, 0; j < len(unknown); j++ {
		for unknown[j].Sub(unknown[i]) > p.CommunityWindow {
			i++
		}
		best = max(best, j-i+1)
	}
	days := int(p.CommunityWindow.Hours() / 24)
	if best >= p.CommunityMinCases {
		return CommunityTransmission, fmt.Sprintf("%d cases of unknown source within %d days", best, days)
	}
	counts := map[string]int{}
	topKey, top := "", 0
	for _, c := range cs {
		if c.Key == "" {
			continue
		}
		counts[c.Key]++
		if n := counts[c.Key]; n > top || n == top && c.Key < topKey {
			topKey, top = c.Key, n
		}
	}
	if top >= p.ClusterMinCases {
		return Cluster, fmt.Sprintf("%d cases at %s", top, topKey)
	}
	if len(cs) == 1 {
		return EpidemicPoint, "1 case"
	}
	return EpidemicPoint, fmt.Sprintf("%d cases, none clustered", len(cs))
}
