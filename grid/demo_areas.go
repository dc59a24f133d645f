package grid

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
)

// Synthetic sub-areas. Real community and grid boundaries are not public, so the
// demo divides each street into Voronoi cells of random points clipped by the street
// (communities), and each community likewise (grids). The sizes follow issue 2:
// roughly one community per 1.5 km² (2–40 per street; central streets of 2–4 km²
// get 2–3, large towns 40) and one grid per 0.3 km² (3–8 per community).
const (
	communityKm2   = 1.5
	minCommunities = 2
	maxCommunities = 40
	gridKm2        = 0.3
	minGrids       = 3
	maxGrids       = 8
)

// subAreaLock serialises GenerateSubAreas across processes: two demos started at
// once would otherwise both find a street without communities and one would fail
// on the unique code.
const subAreaLock = 7714101

// GenerateSubAreas divides every street that has no child area yet into synthetic
// communities, and every community without child yet into synthetic grids, in one
// transaction, and returns how many of each it created. Cells are numbered from
// north to south (by a point on their surface), so codes are stable: "<street code>/社区01" and
// "<street code>/社区01/网格03"; names are "<street>社区01" and "<street>社区01网格03".
// The random points come from ST_GeneratePoints seeded with a hash of seed and the
// parent's code, so the same seed gives the same areas on every database. A street
// that already has communities (from an earlier run or a real import) is left
// alone, which makes a re-run a no-op. props holds {"synthetic": true, "seed": seed}.
// One row goes to the change feed when anything was created.
func (s *Store) GenerateSubAreas(ctx context.Context, seed int) (communities, grids int, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, subAreaLock); err != nil {
			return dbError("generate sub-areas: lock", err)
		}
		// The planner prices the Voronoi statements in millions (it cannot see that
		// ST_GeneratePoints is cheap) and JIT-compiles them: 1.3–3 s per statement,
		// even when no row qualifies, for no gain on a few thousand rows.
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return dbError("generate sub-areas: jit", err)
		}
		var cbox, gbox []float64
		var err error
		if communities, cbox, err = splitAreas(ctx, tx, seed, Street, Community, "社区", communityKm2, minCommunities, maxCommunities); err != nil {
			return err
		}
		if grids, gbox, err = splitAreas(ctx, tx, seed, Community, GridLevel, "网格", gridKm2, minGrids, maxGrids); err != nil {
			return err
		}
		if communities+grids == 0 {
			return nil
		}
		// Fresh statistics: the table grew from a few hundred rows to tens of
		// thousands, and the loads that follow join points against it.
		if _, err := tx.Exec(ctx, `ANALYZE areas`); err != nil {
			return dbError("generate sub-areas: analyze", err)
		}
		return recordBulkChange(ctx, tx, "generate", "areas", unionBBox(cbox, gbox), map[string]any{
			"communities": communities, "grids": grids, "seed": seed,
		})
	})
	if err != nil {
		return 0, 0, err
	}
	return communities, grids, nil
}

// unionBBox is the smallest [west, south, east, north] box holding a and b (either
// may be nil).
func unionBBox(a, b []float64) []float64 {
	if len(a) != 4 {
		return b
	}
	if len(b) != 4 {
		return a
	}
	return []float64{min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])}
}

// splitAreas creates children of level child inside every area of level parent that
// has none: n = clamp(round(km² / perKm2), lo, hi) points generated in the parent,
// their Voronoi cells clipped by it. Each child's ancestors are its parent's plus
// its own id, taken from the sequence up front so one INSERT does it all. It
// returns how many it created and their bounding box.
func splitAreas(ctx context.Context, tx pgx.Tx, seed int, parent, child Level, word string, perKm2 float64, lo, hi int) (int, []float64, error) {
	// The seed of ST_GeneratePoints must be positive: md5 gives 28 stable bits, plus
	// one. ST_GeneratePoints shares n among a multi-part parent's parts rounding
	// down, so it may return a point or two fewer (measured on Shanghai: 2 of 214
	// streets, 1 of 3,750 communities): asking once more for the shortfall on top
	// keeps n, capped at hi. ST_VoronoiPolygons' extend_to makes the cells cover the
	// whole parent; ST_CollectionExtract(…, 3) keeps the polygonal part of the
	// intersection (it may hold stray lines where a cell touches the parent's edge).
	// MATERIALIZED keeps PostgreSQL from inlining the CTEs, which would compute
	// each point set and each intersection once per later reference (5× slower).
	var n int
	var bbox []float64
	err := tx.QueryRow(ctx, `
WITH p AS (
  SELECT a.id, a.code, a.name, a.ancestors, a.geom,
         LEAST($5::int, GREATEST($4::int, round(ST_Area(a.geom::geography) / ($3::float8 * 1e6))))::int AS n
  FROM areas a
  WHERE a.level = $1 AND NOT EXISTS (SELECT 1 FROM areas c WHERE c.parent_id = a.id)
), seeded AS (
  SELECT p.*, ('x' || substr(md5($6::int::text || '/' || p.code), 1, 7))::bit(28)::int + 1 AS seed
  FROM p
), pts AS MATERIALIZED (
  SELECT s.*, ST_GeneratePoints(s.geom, s.n, s.seed) AS pts FROM seeded s
), pts2 AS (
  SELECT p.id, p.code, p.name, p.ancestors, p.geom,
         CASE WHEN ST_NumGeometries(p.pts) < p.n
              THEN ST_GeneratePoints(p.geom, LEAST($5::int, 2 * p.n - ST_NumGeometries(p.pts)), p.seed)
              ELSE p.pts END AS pts
  FROM pts p
), cell AS MATERIALIZED (
  SELECT p.id, p.code, p.name, p.ancestors,
         ST_Multi(ST_CollectionExtract(ST_Intersection(p.geom, v.geom), 3)) AS geom
  FROM pts2 p, LATERAL ST_Dump(ST_VoronoiPolygons(p.pts, 0, p.geom)) v
), kept AS (
  SELECT c.*, ST_PointOnSurface(c.geom) AS label FROM cell c
  WHERE NOT ST_IsEmpty(c.geom) AND ST_Area(c.geom) > 0
), numbered AS (
  SELECT k.*, nextval(pg_get_serial_sequence('areas', 'id')) AS new_id,
         lpad((row_number() OVER (PARTITION BY k.id ORDER BY ST_Y(k.label) DESC, ST_X(k.label)))::text, 2, '0') AS num
  FROM kept k
), ins AS (
  INSERT INTO areas (id, parent_id, level, name, code, ancestors, props, geom)
  SELECT new_id, id, $2, name || $7 || num, code || '/' || $7 || num, ancestors || new_id,
         jsonb_build_object('synthetic', true, 'seed', $6::int), geom
  FROM numbered ORDER BY id, num
  RETURNING geom
)
SELECT count(*), `+bboxSQL("ST_Extent(geom)")+` FROM ins`,
		string(parent), string(child), perKm2, lo, hi, seed, word).Scan(&n, &bbox)
	if err != nil {
		return 0, nil, dbError(fmt.Sprintf("generate %s areas", child), err)
	}
	return n, bbox, nil
}

// StreetLayout is a street with its district and the finest areas inside it, for
// placing synthetic households.
type StreetLayout struct {
	ID       int64
	Code     string
	Name     string
	District string  // the district's name
	AreaKm2  float64 // on the spheroid
	// Cells are the street's grids, or the street itself when it has none.
	Cells []Area
}

// StreetLayouts lists every street, ordered by code, with its grids (ordered by
// code), geometry included. Loading all of Shanghai (214 streets, ~20,000 grids)
// takes a few seconds; it is meant for the demo loader, not for requests.
func (s *Store) StreetLayouts(ctx context.Context) ([]StreetLayout, error) {
	var out []StreetLayout
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
SELECT st.id, st.parent_id, st.level, st.name, st.code, st.ancestors, ST_AsBinary(st.geom),
       coalesce(d.name, ''), ST_Area(st.geom::geography) / 1e6
FROM areas st LEFT JOIN areas d ON d.id = st.parent_id
WHERE st.level = 'street' ORDER BY st.code`)
		if err != nil {
			return dbError("list streets", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StreetLayout, error) {
			var l StreetLayout
			var geom []byte
			a, err := scanPlainArea(r, &geom, &l.District, &l.AreaKm2)
			if err != nil {
				return l, err
			}
			l.ID, l.Code, l.Name = a.ID, a.Code, a.Name
			l.Cells = []Area{a} // replaced by the grids, if any
			return l, nil
		})
		if err != nil {
			return dbError("list streets", err)
		}
		index := make(map[int64]int, len(out))
		for i, l := range out {
			index[l.ID] = i
		}
		rows, err = tx.Query(ctx, `
SELECT g.id, g.parent_id, g.level, g.name, g.code, g.ancestors, ST_AsBinary(g.geom), c.parent_id
FROM areas g JOIN areas c ON c.id = g.parent_id AND c.level = 'community'
WHERE g.level = 'grid' ORDER BY c.parent_id, g.code`)
		if err != nil {
			return dbError("list street grids", err)
		}
		grids := map[int64][]Area{}
		_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
			var geom []byte
			var street int64
			a, err := scanPlainArea(r, &geom, &street)
			if err == nil {
				grids[street] = append(grids[street], a)
			}
			return struct{}{}, err
		})
		if err != nil {
			return dbError("list street grids", err)
		}
		for street, gs := range grids {
			if i, ok := index[street]; ok {
				out[i].Cells = gs
			}
		}
		return nil
	})
	return out, err
}

// scanPlainArea scans id, parent_id, level, name, code, ancestors and the WKB
// geometry (into geom), then extra columns into more.
func scanPlainArea(r pgx.Row, geom *[]byte, more ...any) (Area, error) {
	var a Area
	var parent *int64
	var level string
	if err := r.Scan(append([]any{&a.ID, &parent, &level, &a.Name, &a.Code, &a.Ancestors, geom}, more...)...); err != nil {
		return a, err
	}
	if parent != nil {
		a.ParentID = *parent
	}
	a.Level = Level(level)
	g, err := wkb.Unmarshal(*geom)
	if err != nil {
		return a, fmt.Errorf("decode area %d geometry: %w", a.ID, err)
	}
	mp, ok := g.(orb.MultiPolygon)
	if !ok {
		return a, fmt.Errorf("area %d geometry is %s, not MultiPolygon", a.ID, g.GeoJSONType())
	}
	a.Geom = mp
	return a, nil
}

// BusiestArea is the area of the level holding the most households (ties: the
// lowest code), or the area of lowest code when none holds any; NotFound when the
// level has no area. The demo gives the grid worker this community, so their
// household list is not empty.
func (s *Store) BusiestArea(ctx context.Context, level Level) (Area, error) {
	if _, err := ParseLevel(string(level)); err != nil {
		return Area{}, err
	}
	var a Area
	var parent *int64
	err := s.pool.QueryRow(ctx, `
WITH per_area AS (
  SELECT area_id, count(*) AS n FROM households WHERE area_id IS NOT NULL GROUP BY area_id
), per_level AS (
  -- Unnesting the ancestors joins by primary key; "x.id = ANY(f.ancestors)" let
  -- the planner test every area against every array (100 s on a fresh demo).
  SELECT x.id, sum(pa.n) AS n
  FROM per_area pa JOIN areas f ON f.id = pa.area_id
  CROSS JOIN LATERAL unnest(f.ancestors) AS anc(id)
  JOIN areas x ON x.id = anc.id AND x.level = $1
  GROUP BY x.id
)
SELECT a.id, a.parent_id, a.name, a.code, a.ancestors
FROM areas a LEFT JOIN per_level c ON c.id = a.id
WHERE a.level = $1
ORDER BY coalesce(c.n, 0) DESC, a.code LIMIT 1`, string(level)).Scan(&a.ID, &parent, &a.Name, &a.Code, &a.Ancestors)
	if errors.Is(err, pgx.ErrNoRows) {
		return Area{}, Errorf(NotFound, "level", "no %s exists", level)
	}
	if err != nil {
		return Area{}, dbError("busiest area", err)
	}
	if parent != nil {
		a.ParentID = *parent
	}
	a.Level = level
	return a, nil
}

// AreaIDs lists the ids of every area of the level, ordered by code.
func (s *Store) AreaIDs(ctx context.Context, level Level) ([]int64, error) {
	if _, err := ParseLevel(string(level)); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM areas WHERE level = $1 ORDER BY code`, string(level))
	if err != nil {
		return nil, dbError("list area ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, dbError("list area ids", err)
	}
	return ids, nil
}
