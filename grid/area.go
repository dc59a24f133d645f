package grid

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
)

// AreaView is an area as a user may see it. Context areas lie above the user's
// jurisdiction: only ID, ParentID, Level, Name and Geom are filled.
type AreaView struct {
	Area
	Context bool
}

// AreaFilter selects areas; zero fields do not filter.
type AreaFilter struct {
	Level  Level
	Parent int64      // direct children of this area
	BBox   *orb.Bound // areas intersecting the box
	Page   Page
}

// AreaPage is one page of areas and the number matching the filter.
type AreaPage struct {
	Areas []AreaView
	Total int
	Page  Page
}

// DefaultAreaLimit is the page size of area lists: large enough that a map layer of
// one level (Shanghai's 214 streets, a district's grids) comes in one answer.
const DefaultAreaLimit = MaxLimit

// ListAreas lists the areas visible to u, with the context areas above u's
// jurisdiction, ordered by id. A Parent outside both is NotFound.
func (s *Store) ListAreas(ctx context.Context, u User, f AreaFilter) (AreaPage, error) {
	page, err := f.Page.normalize(DefaultAreaLimit)
	if err != nil {
		return AreaPage{}, err
	}
	if f.Level != "" {
		if _, err := ParseLevel(string(f.Level)); err != nil {
			return AreaPage{}, err
		}
	}
	if f.Parent != 0 {
		if _, err := s.GetArea(ctx, u, f.Parent); err != nil {
			if KindOf(err) == NotFound {
				err = Errorf(NotFound, "parent", "area %d not found", f.Parent)
			}
			return AreaPage{}, err
		}
	}
	var w where
	ctxCol := w.areaVisibility(u)
	if f.Level != "" {
		w.add("a.level = ?", string(f.Level))
	}
	if f.Parent != 0 {
		w.add("a.parent_id = ?", f.Parent)
	}
	if f.BBox != nil {
		w.inBBox("a.geom", *f.BBox)
	}
	q := `SELECT a.id, COALESCE(a.parent_id, 0), a.level, a.name, a.code, a.ancestors, a.props, ST_AsBinary(a.geom), ` +
		ctxCol + `, COUNT(*) OVER() FROM areas a` + w.sql() + ` ORDER BY a.id` + page.sql()
	rows, err := s.pool.Query(ctx, q, w.args...)
	if err != nil {
		return AreaPage{}, dbError("list areas", err)
	}
	defer rows.Close()
	out := AreaPage{Areas: []AreaView{}, Page: page}
	for rows.Next() {
		v, total, err := scanArea(rows)
		if err != nil {
			return AreaPage{}, err
		}
		out.Areas = append(out.Areas, v)
		out.Total = total
	}
	if err := rows.Err(); err != nil {
		return AreaPage{}, dbError("list areas", err)
	}
	if len(out.Areas) == 0 && page.Offset > 0 {
		if out.Total, err = s.recount(ctx, "areas a", &w); err != nil {
			return AreaPage{}, err
		}
	}
	return out, nil
}

// GetArea returns one area visible to u (or a context area above u's jurisdiction);
// any other id is NotFound, so areas outside the jurisdiction cannot be probed.
func (s *Store) GetArea(ctx context.Context, u User, id int64) (AreaView, error) {
	var w where
	ctxCol := w.areaVisibility(u)
	w.add("a.id = ?", id)
	q := `SELECT a.id, COALESCE(a.parent_id, 0), a.level, a.name, a.code, a.ancestors, a.props, ST_AsBinary(a.geom), ` +
		ctxCol + `, 1 FROM areas a` + w.sql()
	v, _, err := scanArea(s.pool.QueryRow(ctx, q, w.args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return AreaView{}, Errorf(NotFound, "id", "area %d not found", id)
	}
	return v, err
}

// areaVisibility adds the condition that area "a" is visible to u or a context area
// above u's jurisdiction, and returns the SQL expression telling the two apart.
func (w *where) areaVisibility(u User) string {
	if seesAll(u) {
		return "false"
	}
	ua := w.arg(userAreas(u))
	w.conds = append(w.conds, fmt.Sprintf(
		"(a.ancestors && %[1]s::bigint[] OR a.id IN (SELECT unnest(x.ancestors) FROM areas x WHERE x.id = ANY(%[1]s::bigint[])))", ua))
	return fmt.Sprintf("NOT (a.ancestors && %s::bigint[])", ua)
}

func scanArea(row pgx.Row) (AreaView, int, error) {
	var v AreaView
	var level string
	var geom []byte
	var total int
	if err := row.Scan(&v.ID, &v.ParentID, &level, &v.Name, &v.Code, &v.Ancestors, &v.Props, &geom, &v.Context, &total); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return AreaView{}, 0, err
		}
		return AreaView{}, 0, dbError("scan area", err)
	}
	v.Level = Level(level)
	g, err := wkb.Unmarshal(geom)
	if err != nil {
		return AreaView{}, 0, fmt.Errorf("decode area %d geometry: %w", v.ID, err)
	}
	mp, ok := g.(orb.MultiPolygon)
	if !ok {
		return AreaView{}, 0, fmt.Errorf("area %d geometry is %s, not MultiPolygon", v.ID, g.GeoJSONType())
	}
	v.Geom = mp
	if v.Context {
		// Context areas show where the jurisdiction sits, nothing more.
		v.Code, v.Props, v.Ancestors = "", nil, nil
	}
	return v, total, nil
}

// areaForPoint is the finest area containing p (grid before community before street
// before district; the lowest id among equals, so the answer is stable), 0 when none
// does, and whether u may write there.
func areaForPoint(ctx context.Context, tx pgx.Tx, u User, p orb.Point) (int64, bool, error) {
	levels := make([]string, len(Levels))
	for i, l := range Levels {
		levels[i] = string(l)
	}
	var id int64
	var inside bool
	err := tx.QueryRow(ctx, `
		SELECT id, ancestors && $4::bigint[] FROM areas
		WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
		ORDER BY array_position($3::text[], level) DESC, id LIMIT 1`,
		p[0], p[1], levels, userAreas(u)).Scan(&id, &inside)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, seesAll(u), nil
	}
	if err != nil {
		return 0, false, dbError("find area of point", err)
	}
	return id, inside || seesAll(u), nil
}
