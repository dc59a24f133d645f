package grid

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/geo"
)

// AreaImportOptions says how to read the features of an area GeoJSON file.
type AreaImportOptions struct {
	// Level is the level of every feature (e.g. Street for Shanghai's streets.geojson).
	Level Level
	// NameField is the property holding the area's name (e.g. "STREET"); required.
	NameField string
	// ParentField is the property holding the parent's code (for a street: its
	// district's name, e.g. "AREA"). A missing district is derived: created with the
	// union of its streets as geometry. Empty: the parent is the area of the level
	// above containing the feature's ST_PointOnSurface (none for a district).
	ParentField string
}

// maxRepairAreaChange is the relative change of area up to which an invalid polygon
// is repaired with ST_MakeValid rather than refused: a self-touching or slightly
// self-intersecting digitised boundary keeps its area (Shanghai's 徐行镇 changes by
// 1e-15), while a bow-tie or a ring traced the wrong way changes by tens of percent,
// and guessing which part the author meant would silently move households.
const maxRepairAreaChange = 0.01

// ImportAreas loads the polygons of fc at opt.Level in one transaction. An area's
// code, its stable key, is its name under the parent's code ("浦东新区/万祥镇"; a
// district's is its name), so importing the same file again changes nothing: an area
// whose code exists is updated when its geometry, name, parent or properties
// differ, skipped otherwise. Every feature is checked first (Polygon or MultiPolygon,
// closed rings, coordinates in range, name present, a valid geometry or one that
// ST_MakeValid repairs without changing its area by more than 1%); if any is bad the
// error is Invalid, nothing is written and the report's Rejected names each bad
// feature by its index ("features[12].properties.STREET: is missing"). parent_id and
// ancestors are filled, and derived parents re-computed as the union of all their
// children.
func (s *Store) ImportAreas(ctx context.Context, fc *geojson.FeatureCollection, opt AreaImportOptions) (LoadReport, error) {
	var rep LoadReport
	if err := opt.check(); err != nil {
		return rep, err
	}
	if fc == nil || len(fc.Features) == 0 {
		return rep, Errorf(Invalid, "features", "the file has no features")
	}
	if err := checkCRS(fc); err != nil {
		return rep, err
	}
	rows, bad := opt.stageRows(fc)
	if len(bad) > 0 {
		var rj rejects
		rj.add(sortByFeature(bad)...)
		rep.Rejected = rj.sorted()
		return rep, rj.err("import areas")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		imp := &areaImport{opt: opt, tx: tx, rep: &rep, fc: fc}
		return imp.run(ctx, rows)
	})
	return rep, err
}

func (o AreaImportOptions) check() error {
	if o.Level.Depth() < 0 {
		return Errorf(Invalid, "level", "%q is not one of district, street, community, grid", o.Level)
	}
	if strings.TrimSpace(o.NameField) == "" {
		return Errorf(Invalid, "name_field", "is required (the property holding each area's name)")
	}
	if o.Level == District && o.ParentField != "" {
		return Errorf(Invalid, "parent_field", "a district has no parent")
	}
	return nil
}

// checkCRS refuses a file that declares a CRS other than WGS84 longitude/latitude
// (GeoJSON's only CRS since RFC 7946; older files still carry the member).
func checkCRS(fc *geojson.FeatureCollection) error {
	crs, ok := fc.ExtraMembers["crs"].(map[string]any)
	if !ok {
		return nil
	}
	props, _ := crs["properties"].(map[string]any)
	name, _ := props["name"].(string)
	switch {
	case name == "", strings.HasSuffix(name, "CRS84"), strings.HasSuffix(name, ":4326"), strings.HasSuffix(name, "::4326"):
		return nil
	}
	return Errorf(Invalid, "crs", "%q is not WGS84 longitude/latitude (EPSG:4326 / CRS84); reproject the file first", name)
}

// areaRow is a feature ready for the staging table.
type areaRow struct {
	idx        int
	name       string
	code       string // empty when the parent is found spatially
	parentCode string
	props      map[string]any
	wkb        []byte
}

// stageRows checks every feature in Go, before SQL (PostGIS reports a bad ring or a
// NaN only as the generic XX000).
func (o AreaImportOptions) stageRows(fc *geojson.FeatureCollection) ([]areaRow, []featureError) {
	var rows []areaRow
	var bad []featureError
	for i, f := range fc.Features {
		at := func(field, reason string) {
			bad = append(bad, featureError{i, RowError{Field: fmt.Sprintf("features[%d].%s", i, field), Reason: reason}})
		}
		if f == nil {
			at("type", "is not a feature")
			continue
		}
		mp, err := geo.CheckPolygonal(f.Geometry)
		var ce *geo.CoordError
		switch {
		case err == nil:
		case errors.As(err, &ce) && ce.Field == "geometry":
			at("geometry", ce.Reason)
		case ce != nil:
			at("geometry."+ce.Field, ce.Reason)
		default:
			at("geometry", err.Error())
		}
		name, ok := propString(f.Properties, o.NameField)
		if !ok {
			at("properties."+o.NameField, "is missing (the name field)")
		}
		var parent string
		if o.ParentField != "" {
			if parent, ok = propString(f.Properties, o.ParentField); !ok {
				at("properties."+o.ParentField, "is missing (the parent field)")
			}
		}
		if len(bad) > 0 && bad[len(bad)-1].idx == i {
			continue
		}
		b, err := wkb.Marshal(mp)
		if err != nil {
			at("geometry", "cannot be encoded: "+err.Error())
			continue
		}
		r := areaRow{idx: i, name: name, parentCode: parent, props: f.Properties, wkb: b}
		switch {
		case o.Level == District:
			r.code = name
		case parent != "":
			r.code = parent + "/" + name
		}
		if r.props == nil {
			r.props = map[string]any{}
		}
		rows = append(rows, r)
	}
	return rows, bad
}

// propString reads a non-blank name from a property; numbers are accepted (a grid
// numbered 12) and written without a fraction.
func propString(p geojson.Properties, key string) (string, bool) {
	switch v := p[key].(type) {
	case string:
		v = strings.TrimSpace(v)
		return v, v != ""
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", false
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// featureError is a bad feature with its index, for ordering.
type featureError struct {
	idx int
	RowError
}

func sortByFeature(fe []featureError) []RowError {
	sort.SliceStable(fe, func(i, j int) bool { return fe[i].idx < fe[j].idx })
	out := make([]RowError, len(fe))
	for i, e := range fe {
		out[i] = e.RowError
	}
	return out
}

// areaImport is one ImportAreas transaction.
type areaImport struct {
	opt AreaImportOptions
	tx  pgx.Tx
	rep *LoadReport
	fc  *geojson.FeatureCollection
	bad []featureError
}

func (a *areaImport) fail(idx int, field, reason string) {
	a.bad = append(a.bad, featureError{idx, RowError{Field: fmt.Sprintf("features[%d].%s", idx, field), Reason: reason}})
}

// The steps below run on a staging table so that PostGIS checks, repairs and
// compares every geometry in a few set-wise statements rather than one per feature.
func (a *areaImport) run(ctx context.Context, rows []areaRow) error {
	if _, err := a.tx.Exec(ctx, `
CREATE TEMP TABLE gt_stage_areas (
  idx         int PRIMARY KEY,
  name        text NOT NULL,
  code        text,
  parent_code text,
  parent_id   bigint,
  props       jsonb NOT NULL,
  wkb         bytea NOT NULL,
  geom        geometry,
  invalid     text
) ON COMMIT DROP`); err != nil {
		return dbError("import areas: stage", err)
	}
	_, err := a.tx.CopyFrom(ctx, pgx.Identifier{"gt_stage_areas"},
		[]string{"idx", "name", "code", "parent_code", "props", "wkb"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{r.idx, r.name, nullIfEmpty(r.code), nullIfEmpty(r.parentCode), r.props, r.wkb}, nil
		}))
	if err != nil {
		return dbError("import areas: copy", err)
	}
	if _, err := a.tx.Exec(ctx, `UPDATE gt_stage_areas SET geom = ST_Multi(ST_GeomFromWKB(wkb, 4326))`); err != nil {
		return dbError("import areas: decode", err)
	}
	for _, step := range []func(context.Context) error{a.repair, a.resolveParents, a.checkCodes} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if len(a.bad) > 0 {
		var rj rejects
		rj.add(sortByFeature(a.bad)...)
		a.rep.Rejected = rj.sorted()
		return rj.err("import areas")
	}
	created, err := a.deriveMissingParents(ctx)
	if err != nil {
		return err
	}
	touched, err := a.upsert(ctx)
	if err != nil {
		return err
	}
	if err := a.recomputeDerived(ctx, touched, created); err != nil {
		return err
	}
	if err := refreshAncestors(ctx, a.tx); err != nil {
		return err
	}
	if a.rep.Inserted+a.rep.Updated+a.rep.Derived == 0 {
		return nil
	}
	var bbox []float64
	if err := a.tx.QueryRow(ctx, `SELECT `+bboxSQL("e")+` FROM (SELECT ST_Extent(geom) AS e FROM gt_stage_areas) x`).Scan(&bbox); err != nil {
		return dbError("import areas: extent", err)
	}
	return recordBulkChange(ctx, a.tx, "import", "areas", bbox, map[string]any{
		"level": a.opt.Level, "inserted": a.rep.Inserted, "updated": a.rep.Updated, "derived": a.rep.Derived,
	})
}

// repair finds invalid geometries with GEOS and repairs those whose area
// ST_MakeValid keeps (within maxRepairAreaChange); the others are bad features.
func (a *areaImport) repair(ctx context.Context) error {
	if _, err := a.tx.Exec(ctx, `UPDATE gt_stage_areas SET invalid = ST_IsValidReason(geom) WHERE NOT ST_IsValid(geom)`); err != nil {
		return dbError("import areas: validity", err)
	}
	rows, err := a.tx.Query(ctx, `
SELECT idx, invalid, ST_Area(geom), ST_Area(fixed), ST_IsEmpty(fixed)
FROM (SELECT idx, invalid, geom, ST_CollectionExtract(ST_MakeValid(geom), 3) AS fixed
      FROM gt_stage_areas WHERE invalid IS NOT NULL) x ORDER BY idx`)
	if err != nil {
		return dbError("import areas: make valid", err)
	}
	var fix []int
	for rows.Next() {
		var idx int
		var reason string
		var before, after float64
		var empty bool
		if err := rows.Scan(&idx, &reason, &before, &after, &empty); err != nil {
			rows.Close()
			return dbError("import areas: make valid", err)
		}
		switch {
		case empty || before <= 0:
			a.fail(idx, "geometry", fmt.Sprintf("is invalid (%s) and encloses no area as drawn; fix it at the source", reason))
			continue
		case math.Abs(after-before)/before > maxRepairAreaChange:
			a.fail(idx, "geometry", fmt.Sprintf("is invalid (%s) and ST_MakeValid would change its area by %.1f%%; fix it at the source",
				reason, 100*math.Abs(after-before)/before))
			continue
		}
		fix = append(fix, idx)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError("import areas: make valid", err)
	}
	if len(fix) > 0 {
		if _, err := a.tx.Exec(ctx, `
UPDATE gt_stage_areas SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(geom), 3))
WHERE idx = ANY($1)`, fix); err != nil {
			return dbError("import areas: repair", err)
		}
	}
	a.rep.Repaired = len(fix)
	return nil
}

// parentLevel is the level above the imported one.
func (a *areaImport) parentLevel() Level { return Levels[a.opt.Level.Depth()-1] }

// resolveParents sets parent_id (and, for spatial parents, code) of every staged row.
func (a *areaImport) resolveParents(ctx context.Context) error {
	if a.opt.Level == District {
		return nil
	}
	pl := a.parentLevel()
	if a.opt.ParentField == "" {
		// The parent is the area one level up containing a point surely inside the
		// feature (a centroid may fall outside a crescent-shaped street).
		if _, err := a.tx.Exec(ctx, `
UPDATE gt_stage_areas s SET parent_id = (
  SELECT a.id FROM areas a
  WHERE a.level = $1 AND ST_Intersects(a.geom, ST_PointOnSurface(s.geom))
  ORDER BY a.id LIMIT 1)`, string(pl)); err != nil {
			return dbError("import areas: spatial parents", err)
		}
		if _, err := a.tx.Exec(ctx, `UPDATE gt_stage_areas s SET code = a.code || '/' || s.name FROM areas a WHERE a.id = s.parent_id`); err != nil {
			return dbError("import areas: spatial parents", err)
		}
		rows, err := a.tx.Query(ctx, `SELECT idx FROM gt_stage_areas WHERE parent_id IS NULL ORDER BY idx`)
		if err != nil {
			return dbError("import areas: spatial parents", err)
		}
		idxs, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return dbError("import areas: spatial parents", err)
		}
		for _, i := range idxs {
			a.fail(i, "geometry", fmt.Sprintf("lies in no %s (import that level first, or name the parent with a parent field)", pl))
		}
		return nil
	}
	if _, err := a.tx.Exec(ctx, `UPDATE gt_stage_areas s SET parent_id = a.id FROM areas a WHERE a.code = s.parent_code AND a.level = $1`, string(pl)); err != nil {
		return dbError("import areas: parents", err)
	}
	// A parent code that exists at another level is a mistake in the file or options;
	// a missing one is derived only for districts (a street without its district
	// could not be placed in the hierarchy).
	rows, err := a.tx.Query(ctx, `
SELECT s.idx, s.parent_code, a.level
FROM gt_stage_areas s LEFT JOIN areas a ON a.code = s.parent_code
WHERE s.parent_id IS NULL ORDER BY s.idx`)
	if err != nil {
		return dbError("import areas: parents", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int
		var code string
		var level *string
		if err := rows.Scan(&idx, &code, &level); err != nil {
			return dbError("import areas: parents", err)
		}
		switch {
		case level != nil:
			a.fail(idx, "properties."+a.opt.ParentField, fmt.Sprintf("%q is a %s, not a %s", code, *level, pl))
		case pl != District:
			a.fail(idx, "properties."+a.opt.ParentField, fmt.Sprintf("no %s has code %q (import that level first)", pl, code))
		}
	}
	if err := rows.Err(); err != nil {
		return dbError("import areas: parents", err)
	}
	return nil
}

// checkCodes refuses two features with one code, and a code that exists at another
// level (it would silently turn a street into a community).
func (a *areaImport) checkCodes(ctx context.Context) error {
	rows, err := a.tx.Query(ctx, `
SELECT s.idx, s.code, a.level, d.first
FROM gt_stage_areas s
LEFT JOIN areas a ON a.code = s.code AND a.level <> $1
LEFT JOIN LATERAL (SELECT min(o.idx) AS first FROM gt_stage_areas o WHERE o.code = s.code AND o.idx < s.idx) d ON true
WHERE s.code IS NOT NULL AND (a.id IS NOT NULL OR d.first IS NOT NULL)
ORDER BY s.idx`, string(a.opt.Level))
	if err != nil {
		return dbError("import areas: codes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int
		var code string
		var level *string
		var first *int
		if err := rows.Scan(&idx, &code, &level, &first); err != nil {
			return dbError("import areas: codes", err)
		}
		if first != nil {
			a.fail(idx, "properties."+a.opt.NameField, fmt.Sprintf("code %q is also features[%d]'s", code, *first))
		}
		if level != nil {
			a.fail(idx, "properties."+a.opt.NameField, fmt.Sprintf("code %q already exists as a %s", code, *level))
		}
	}
	if err := rows.Err(); err != nil {
		return dbError("import areas: codes", err)
	}
	return nil
}

// deriveMissingParents creates the missing districts named by the parent field, with
// the union of their staged children as a first geometry, and returns their ids.
func (a *areaImport) deriveMissingParents(ctx context.Context) ([]int64, error) {
	if a.opt.ParentField == "" || a.opt.Level == District {
		return nil, nil
	}
	rows, err := a.tx.Query(ctx, `
INSERT INTO areas (level, name, code, props, geom)
SELECT 'district', parent_code, parent_code, '{"derived": true}'::jsonb,
       ST_Multi(ST_CollectionExtract(ST_Union(geom ORDER BY code), 3))
FROM gt_stage_areas WHERE parent_id IS NULL
GROUP BY parent_code ORDER BY parent_code
RETURNING id`)
	if err != nil {
		return nil, dbError("import areas: derive parents", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, dbError("import areas: derive parents", err)
	}
	if _, err := a.tx.Exec(ctx, `UPDATE gt_stage_areas s SET parent_id = a.id FROM areas a WHERE s.parent_id IS NULL AND a.code = s.parent_code`); err != nil {
		return nil, dbError("import areas: derive parents", err)
	}
	a.rep.Derived += len(ids)
	return ids, nil
}

// upsert writes the staged areas and returns the parents whose children changed.
func (a *areaImport) upsert(ctx context.Context) ([]int64, error) {
	// An area that moves leaves its old parent, which must be re-derived too.
	prev, err := a.tx.Query(ctx, `SELECT DISTINCT a.parent_id FROM areas a JOIN gt_stage_areas s ON s.code = a.code WHERE a.parent_id IS NOT NULL`)
	if err != nil {
		return nil, dbError("import areas: old parents", err)
	}
	old, err := pgx.CollectRows(prev, pgx.RowTo[int64])
	if err != nil {
		return nil, dbError("import areas: old parents", err)
	}
	seen := map[int64]bool{}
	var touched []int64
	for _, id := range old {
		seen[id] = true
		touched = append(touched, id)
	}
	// ST_OrderingEquals is exact (same vertices in the same order), so an unchanged
	// re-import is skipped and only a real edit counts as an update.
	rows, err := a.tx.Query(ctx, `
INSERT INTO areas AS t (parent_id, level, name, code, props, geom)
SELECT parent_id, $1, name, code, props, geom FROM gt_stage_areas ORDER BY idx
ON CONFLICT (code) DO UPDATE
  SET parent_id = EXCLUDED.parent_id, name = EXCLUDED.name, props = EXCLUDED.props, geom = EXCLUDED.geom
  WHERE t.parent_id IS DISTINCT FROM EXCLUDED.parent_id OR t.name <> EXCLUDED.name
     OR t.props <> EXCLUDED.props OR NOT ST_OrderingEquals(t.geom, EXCLUDED.geom)
RETURNING xmax = 0, parent_id`, string(a.opt.Level))
	if err != nil {
		return nil, dbError("import areas: upsert", err)
	}
	defer rows.Close()
	for rows.Next() {
		var inserted bool
		var parent *int64
		if err := rows.Scan(&inserted, &parent); err != nil {
			return nil, dbError("import areas: upsert", err)
		}
		if inserted {
			a.rep.Inserted++
		} else {
			a.rep.Updated++
		}
		if parent != nil && !seen[*parent] {
			seen[*parent] = true
			touched = append(touched, *parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("import areas: upsert", err)
	}
	a.rep.Skipped = len(a.fc.Features) - a.rep.Inserted - a.rep.Updated
	return touched, nil
}

// recomputeDerived sets the geometry of every derived parent whose children changed
// to the union of all its children (not only this file's), created ones excepted.
func (a *areaImport) recomputeDerived(ctx context.Context, touched, created []int64) error {
	if len(touched) == 0 {
		return nil
	}
	tag, err := a.tx.Exec(ctx, `
UPDATE areas p SET geom = u.geom
FROM (SELECT c.parent_id, ST_Multi(ST_CollectionExtract(ST_Union(c.geom ORDER BY c.code), 3)) AS geom
      FROM areas c WHERE c.parent_id = ANY($1) AND NOT (c.parent_id = ANY($2))
      GROUP BY c.parent_id) u
WHERE p.id = u.parent_id AND p.props @> '{"derived": true}' AND NOT ST_OrderingEquals(p.geom, u.geom)`,
		// A nil slice would be NULL, and NOT (x = ANY(NULL)) is NULL: pass an empty one.
		touched, append([]int64{}, created...))
	if err != nil {
		return dbError("import areas: re-derive parents", err)
	}
	a.rep.Derived += int(tag.RowsAffected())
	return nil
}

// refreshAncestors rewrites areas.ancestors (ids from the district down to the area
// itself) wherever the tree says otherwise; the hierarchy is a few thousand rows, so
// one recursive pass over all of it is simpler than tracking moved subtrees.
func refreshAncestors(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
WITH RECURSIVE t AS (
  SELECT id, ARRAY[id] AS anc FROM areas WHERE parent_id IS NULL
  UNION ALL
  SELECT a.id, t.anc || a.id FROM areas a JOIN t ON a.parent_id = t.id
)
UPDATE areas a SET ancestors = t.anc FROM t WHERE a.id = t.id AND a.ancestors IS DISTINCT FROM t.anc`)
	if err != nil {
		return dbError("import areas: ancestors", err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
