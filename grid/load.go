package grid

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// This file holds what the bulk loads of areas, households and cases share: the bad
// row list, the area-assignment seam and the change-feed row.

// Error formats the row as "line N: field: reason" (or "field: reason" when the row
// does not come from a file, its Field then naming the input, e.g. "households[3].lat").
func (e RowError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// maxRejects bounds the bad rows a load keeps (a million-row file of garbage must not
// hold a million errors); it goes on counting them.
const maxRejects = 100

// shownRejects is how many bad rows the error message itself lists.
const shownRejects = 10

// rejects collects the bad rows of a load.
type rejects struct {
	list  []RowError
	total int
}

func (r *rejects) add(es ...RowError) {
	for _, e := range es {
		r.total++
		if len(r.list) < maxRejects {
			r.list = append(r.list, e)
		}
	}
}

// sorted returns the kept rows in file order (a reader reports syntax errors as it
// meets them, the store its checks batch by batch, so they interleave).
func (r *rejects) sorted() []RowError {
	sort.SliceStable(r.list, func(i, j int) bool { return r.list[i].Line < r.list[j].Line })
	return r.list
}

// err is the Invalid error of a load refused for its bad rows, listing the first few.
func (r *rejects) err(what string) error {
	list := r.sorted()
	var b strings.Builder
	if r.total == 1 {
		fmt.Fprintf(&b, "%s: 1 bad row, nothing written: ", what)
	} else {
		fmt.Fprintf(&b, "%s: %d bad rows, nothing written: ", what, r.total)
	}
	for i, e := range list {
		if i == shownRejects {
			fmt.Fprintf(&b, "; … %d more", r.total-shownRejects)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return &Error{Kind: Invalid, Message: b.String()}
}

// rowError turns an error yielded by a load's source into a bad row when it is one.
func rowError(err error) (RowError, bool) {
	var re RowError
	if errors.As(err, &re) {
		return re, true
	}
	var pre *RowError
	if errors.As(err, &pre) && pre != nil {
		return *pre, true
	}
	return RowError{}, false
}

// levelNames is the hierarchy coarsest first, as SQL sees it: the finest area holding
// a point is the one with the highest array_position in it.
func levelNames() []string {
	out := make([]string, len(Levels))
	for i, l := range Levels {
		out[i] = string(l)
	}
	return out
}

// finestAreaSQL selects (key, area_id): for every row of the relation src (columns
// key and geom) the deepest of the areas matching where whose polygon covers the
// point, ties broken by the lowest id so a point on a shared border always lands in
// the same area. $1 is levelNames(). The join is written areas-first so that, with a
// GiST index on src.geom, PostGIS tests each polygon against a run of points and
// reuses its cached prepared geometry: measured here 10× faster than probing the
// areas per point, which detoasts a 1,000-vertex polygon for every household.
func finestAreaSQL(src, key, where string) string {
	return fmt.Sprintf(`
SELECT DISTINCT ON (p.%[2]s) p.%[2]s AS key, a.id AS area_id
FROM areas a JOIN %[1]s p ON ST_Intersects(a.geom, p.geom)
WHERE %[3]s
ORDER BY p.%[2]s, array_position($1::text[], a.level) DESC, a.id`, src, key, where)
}

// leafArea and innerArea split the hierarchy: areas without children, where nearly
// every point ends, and the others.
const (
	leafArea  = `NOT EXISTS (SELECT 1 FROM areas c WHERE c.parent_id = a.id)`
	innerArea = `EXISTS (SELECT 1 FROM areas c WHERE c.parent_id = a.id)`
)

// assignStagedAreas is the seam between the point loads and the point-in-polygon
// strategy: it creates the temporary table dst (key bigint, area_id bigint) holding,
// for every point of the table src (columns key and geom, GiST-indexed and
// analysed), its finest area: a leaf area (one without children) containing it, else
// the deepest area containing it; points in no area get no row. Where children lie
// inside their parents, as imports and the demo make them, that is the deepest area
// containing the point (a point exactly on the border between a leaf and another
// area's child may differ). This one asks PostGIS in the caller's transaction; an
// in-Go edge index (geo/pip.go) is being measured against it and would fill dst by
// COPY instead.
//
// Two passes rather than one join over every level: testing districts and streets
// for points that a grid already holds doubles the work (1M households: 21 s → 11 s).
func assignStagedAreas(ctx context.Context, tx pgx.Tx, src, key, dst string) error {
	rest := dst + "_rest"
	for _, q := range []string{
		fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS %s`, dst, finestAreaSQL(src, key, leafArea)),
		fmt.Sprintf(`CREATE UNIQUE INDEX ON %s (key)`, dst),
		fmt.Sprintf(`ANALYZE %s`, dst),
		fmt.Sprintf(`CREATE TEMP TABLE %[1]s ON COMMIT DROP AS
SELECT p.%[3]s, p.geom FROM %[2]s p WHERE NOT EXISTS (SELECT 1 FROM %[4]s d WHERE d.key = p.%[3]s)`, rest, src, key, dst),
		fmt.Sprintf(`CREATE INDEX ON %s USING gist (geom)`, rest),
		fmt.Sprintf(`ANALYZE %s`, rest),
		fmt.Sprintf(`INSERT INTO %s %s`, dst, finestAreaSQL(rest, key, innerArea)),
		fmt.Sprintf(`DROP TABLE %s`, rest),
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{levelNames()}
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return dbError("assign areas", err)
		}
	}
	return nil
}

// bboxSQL is the [west, south, east, north] array of a box2d expression, NULL for none.
func bboxSQL(box string) string {
	return fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN NULL ELSE ARRAY[ST_XMin(%[1]s), ST_YMin(%[1]s), ST_XMax(%[1]s), ST_YMax(%[1]s)] END`, box)
}

// recordBulkChange appends one row to the change feed for a bulk write, in its
// transaction (through AppendChange): one row per load rather than per household, so
// a million-row import does not flood the feed; bbox ([west, south, east, north],
// nil when unknown) tells the maps which tiles to refresh.
func recordBulkChange(ctx context.Context, tx pgx.Tx, kind, entity string, bbox []float64, payload map[string]any) error {
	c := ChangeInput{Kind: kind, Entity: entity, Payload: payload}
	if len(bbox) == 4 {
		c.BBox = &orb.Bound{Min: orb.Point{bbox[0], bbox[1]}, Max: orb.Point{bbox[2], bbox[3]}}
	}
	if _, err := AppendChange(ctx, tx, c); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return nil
}
