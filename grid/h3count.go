package grid

import (
	"context"
	"math"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// H3Metric is what an H3 heat map counts per cell.
type H3Metric string

// The metrics of GET /api/v1/h3.
const (
	MetricHouseholds H3Metric = "households"
	MetricPersons    H3Metric = "persons"
	MetricCases      H3Metric = "cases"
	MetricVulnerable H3Metric = "vulnerable" // persons with at least one vulnerability flag
)

// ParseH3Metric checks a metric name.
func ParseH3Metric(s string) (H3Metric, error) {
	switch m := H3Metric(s); m {
	case MetricHouseholds, MetricPersons, MetricCases, MetricVulnerable:
		return m, nil
	}
	return "", Errorf(Invalid, "metric", "%q is not one of households, persons, cases, vulnerable", s)
}

// Bounds of an H3 count query.
const (
	// MinH3Res is the coarsest resolution served: below it (cells over ~250 km²) a
	// city is one or two cells, no longer a heat map.
	MinH3Res = 5
	// MaxH3Res is the finest: households and cases store their resolution-12 cell,
	// and every coarser one is h3_parent of it.
	MaxH3Res = 12
	// FineH3Res and MaxFineSpanDeg bound fine maps: a resolution-10 cell is about
	// 0.015 km², so a 1°×1° box at Shanghai's latitude (~10,500 km²) already spans
	// ~700,000 cells, more polygons than a browser draws; a wider view asks for a
	// coarser resolution.
	FineH3Res      = 10
	MaxFineSpanDeg = 1.0
	// MaxH3Cells caps one answer (each cell is a 7-point polygon, ~250 bytes of
	// GeoJSON): beyond it the client must zoom in or coarsen.
	MaxH3Cells = 100000
)

// H3Query asks for counts per H3 cell inside a box.
type H3Query struct {
	Res    int
	BBox   orb.Bound
	Metric H3Metric
	From   *time.Time // cases reported at or after (metric cases only)
	To     *time.Time // cases reported before (metric cases only)
}

// H3Count is the number of things of a metric in one cell.
type H3Count struct {
	Cell  geo.Cell
	Count int
}

// Validate checks the query; errors are Invalid and name the query parameter.
func (q H3Query) Validate() error {
	if q.Res < MinH3Res || q.Res > MaxH3Res {
		return Errorf(Invalid, "res", "must be between %d and %d", MinH3Res, MaxH3Res)
	}
	if _, err := ParseH3Metric(string(q.Metric)); err != nil {
		return err
	}
	if q.Res >= FineH3Res && (q.BBox.Max[0]-q.BBox.Min[0] > MaxFineSpanDeg || q.BBox.Max[1]-q.BBox.Min[1] > MaxFineSpanDeg) {
		return Errorf(Invalid, "bbox", "at res %d or finer the box may span at most %g° each way; zoom in or use a coarser res", FineH3Res, MaxFineSpanDeg)
	}
	if q.Metric != MetricCases && (q.From != nil || q.To != nil) {
		field := "from"
		if q.From == nil {
			field = "to"
		}
		return Errorf(Invalid, field, "applies to metric=cases only")
	}
	if q.From != nil && q.To != nil && !q.From.Before(*q.To) {
		return Errorf(Invalid, "to", "must be after from")
	}
	return nil
}

// H3Answer is the answer of H3Counts: the resolution served (coarser than asked
// for a role without personal access, see LocationPrivacy), the cells ordered by
// cell, and how many cells were withheld for holding too few households.
type H3Answer struct {
	Res        int
	Cells      []H3Count
	Suppressed int
}

// H3Counts counts, per H3 cell at q.Res, the households, persons, vulnerable persons
// or cases inside q.BBox and inside u's jurisdiction, ordered by cell. A thing counts
// in the res-q.Res ancestor of its resolution-12 cell; a cell on the edge of the box
// counts only its points inside the box. Errors: Invalid (query, or more than
// MaxH3Cells cells).
//
// Location privacy: a role without personal access (Restricted) gets the counts of
// s's LocationPrivacy: no finer than MaxRes, whole cells (an edge cell counts all
// its points, so moving the box cannot single one out by difference), and only cells
// holding at least MinHouseholds households of the jurisdiction.
func (s *Store) H3Counts(ctx context.Context, u User, q H3Query) (H3Answer, error) {
	if err := q.Validate(); err != nil {
		return H3Answer{}, err
	}
	if !Restricted(u) {
		cells, err := s.countCells(ctx, u, q)
		return H3Answer{Res: q.Res, Cells: cells}, err
	}
	priv := s.LocationPrivacy()
	if q.Res > priv.MaxRes {
		q.Res = priv.MaxRes
	}
	touched, err := s.countCells(ctx, u, q)
	if err != nil {
		return H3Answer{}, err
	}
	if len(touched) == 0 {
		return H3Answer{Res: q.Res, Cells: touched}, nil
	}
	// Whole cells: count again in the box grown by more than a cell's width, which
	// holds every cell touching the box entirely.
	wide := q
	wide.BBox = growBound(q.BBox, 4*h3EdgeKm[q.Res])
	whole, err := s.countCells(ctx, u, wide)
	if err != nil {
		return H3Answer{}, err
	}
	households := whole
	if q.Metric != MetricHouseholds {
		hq := wide
		hq.Metric, hq.From, hq.To = MetricHouseholds, nil, nil
		if households, err = s.countCells(ctx, u, hq); err != nil {
			return H3Answer{}, err
		}
	}
	count := cellMap(whole)
	hh := cellMap(households)
	out := H3Answer{Res: q.Res, Cells: []H3Count{}}
	for _, c := range touched {
		if hh[c.Cell] < priv.MinHouseholds {
			out.Suppressed++
			continue
		}
		out.Cells = append(out.Cells, H3Count{Cell: c.Cell, Count: count[c.Cell]})
	}
	return out, nil
}

func cellMap(cs []H3Count) map[geo.Cell]int {
	m := make(map[geo.Cell]int, len(cs))
	for _, c := range cs {
		m[c.Cell] = c.Count
	}
	return m
}

// h3EdgeKm is the average edge length of an H3 hexagon per resolution, in km
// (H3's published table); no cell at r is wider than 4 edges of it.
var h3EdgeKm = [...]float64{1107.71, 418.68, 158.24, 59.81, 22.61, 8.544, 3.229, 1.221, 0.4614, 0.1744, 0.06590, 0.02491, 0.009415}

// growBound widens b by km on every side (degrees of longitude scaled at the
// latitude farthest from the equator, so the margin is at least km everywhere).
func growBound(b orb.Bound, km float64) orb.Bound {
	dLat := km / 111.0
	lat := math.Max(math.Abs(b.Min[1]), math.Abs(b.Max[1])) + dLat
	cos := math.Cos(math.Min(lat, 89) * math.Pi / 180)
	dLon := km / (111.32 * cos)
	return orb.Bound{
		Min: orb.Point{math.Max(b.Min[0]-dLon, -180), math.Max(b.Min[1]-dLat, -90)},
		Max: orb.Point{math.Min(b.Max[0]+dLon, 180), math.Min(b.Max[1]+dLat, 90)},
	}
}

// countCells is the plain count per cell of q for u, inside u's jurisdiction.
func (s *Store) countCells(ctx context.Context, u User, q H3Query) ([]H3Count, error) {
	var w where
	// Every resolution groups by the ancestor of the stored resolution-12 cell
	// (h3_parent: bit arithmetic, as no h3 extension is available), resolution 8
	// included rather than the stored h3_r8. H3 children do not tile their parent
	// exactly: for ~6% of Shanghai's case points the res-R cell containing the point
	// differs from its res-12 cell's ancestor. Ancestors make the counts nest exactly
	// (a cell's count is the sum of its children's), so zooming never changes a total.
	cell := "h3_parent(x.h3_r12, " + w.arg(q.Res) + ")"
	from := "households x"
	switch q.Metric {
	case MetricPersons:
		from = "households x JOIN persons p ON p.household_id = x.id"
	case MetricVulnerable:
		from = "households x JOIN persons p ON p.household_id = x.id"
		w.add("p.vulnerability <> '{}'")
	case MetricCases:
		from = "cases x"
		if q.From != nil {
			w.add("x.reported_at >= ?", *q.From)
		}
		if q.To != nil {
			w.add("x.reported_at < ?", *q.To)
		}
	}
	w.visibleAreaCol(u, "x.area_id")
	w.inBBox("x.geom", q.BBox)
	rows, err := s.pool.Query(ctx, `SELECT `+cell+`, count(*) FROM `+from+w.sql()+
		` GROUP BY 1 ORDER BY 1 LIMIT `+w.arg(MaxH3Cells+1), w.args...)
	if err != nil {
		return nil, dbError("count per h3 cell", err)
	}
	defer rows.Close()
	out := []H3Count{}
	for rows.Next() {
		var c int64
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, dbError("scan h3 count", err)
		}
		out = append(out, H3Count{Cell: geo.Cell(c), Count: n})
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("count per h3 cell", err)
	}
	if len(out) > MaxH3Cells {
		return nil, Errorf(Invalid, "bbox", "more than %d cells; zoom in or use a coarser res", MaxH3Cells)
	}
	return out, nil
}
