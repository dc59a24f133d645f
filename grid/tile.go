package grid

import (
	"context"
	"math"
	"strconv"
)

// TileLayer names a layer of the vector tiles served at /tiles/{layer}/{z}/{x}/{y}.mvt.
type TileLayer string

// The tile layers. Each tile holds one MVT layer of the same name.
const (
	// HouseholdTiles: one point per household with id, area_id, persons (residents)
	// and vulnerable (residents with a vulnerability flag); never names or addresses.
	// At HouseholdClusterZoom households come clustered; below it not at all.
	HouseholdTiles TileLayer = "households"
	// AreaTiles: district, street, community and grid polygons with id, level and
	// name, simplified to about a pixel at the tile's zoom.
	AreaTiles TileLayer = "areas"
	// CaseTiles: one point per case with id, kind and reported_at (RFC 3339, UTC).
	CaseTiles TileLayer = "cases"
)

// TileLayers lists every tile layer.
var TileLayers = []TileLayer{HouseholdTiles, AreaTiles, CaseTiles}

// ParseTileLayer checks a layer name; an unknown one is Invalid on field "layer".
func ParseTileLayer(s string) (TileLayer, error) {
	for _, l := range TileLayers {
		if string(l) == s {
			return l, nil
		}
	}
	return "", Errorf(Invalid, "layer", "%q is not one of households, areas, cases", s)
}

// MaxTileZoom is the deepest zoom served; MapLibre overzooms beyond it.
const MaxTileZoom = 22

// Household tiles change shape with zoom. From z13 (a tile ~4 km across at
// Shanghai's latitude) households come one by one. A z12 tile spans ~8 km and holds
// up to tens of thousands of households, so they come clustered on a 16×16 grid of
// cells per tile, each cluster counting its households. Below z12 a tile would cover
// most of a city and each request would scan a large share of all households: those
// zooms get no household features, and the map shows the H3 heat layer instead.
const (
	// HouseholdPointZoom is the first zoom with one feature per household.
	HouseholdPointZoom = 13
	// HouseholdClusterZoom is the first zoom with household features at all.
	HouseholdClusterZoom = 12
)

const (
	// tileExtent is the MVT coordinate range of a tile (the MapLibre default).
	tileExtent = 4096
	// tileBuffer is how far, in extent units, features reach past the tile edge, so
	// circles and lines near the edge are not cut by it.
	tileBuffer = 64
	// clusterCell is the side of a household cluster cell in extent units: 16×16
	// cells per tile, 32 px on a 512 px tile.
	clusterCell = 256
)

// TileID addresses a tile of the Web Mercator (EPSG:3857) XYZ pyramid: x grows
// eastwards and y southwards from 0 to 2^z-1.
type TileID struct {
	Z, X, Y int
}

// ParseTileID reads z, x and y from path segments and validates them; a bad value is
// Invalid on field "z", "x" or "y".
func ParseTileID(z, x, y string) (TileID, error) {
	var t TileID
	var err error
	if t.Z, err = strconv.Atoi(z); err != nil {
		return t, Errorf(Invalid, "z", "%q is not an integer", z)
	}
	if t.X, err = strconv.Atoi(x); err != nil {
		return t, Errorf(Invalid, "x", "%q is not an integer", x)
	}
	if t.Y, err = strconv.Atoi(y); err != nil {
		return t, Errorf(Invalid, "y", "%q is not an integer", y)
	}
	return t, t.Validate()
}

// Validate checks 0 ≤ z ≤ MaxTileZoom and 0 ≤ x, y < 2^z (Invalid on the field).
func (t TileID) Validate() error {
	if t.Z < 0 || t.Z > MaxTileZoom {
		return Errorf(Invalid, "z", "must be between 0 and %d, not %d", MaxTileZoom, t.Z)
	}
	n := 1 << t.Z
	if t.X < 0 || t.X >= n {
		return Errorf(Invalid, "x", "must be between 0 and %d at zoom %d, not %d", n-1, t.Z, t.X)
	}
	if t.Y < 0 || t.Y >= n {
		return Errorf(Invalid, "y", "must be between 0 and %d at zoom %d, not %d", n-1, t.Z, t.Y)
	}
	return nil
}

// pixelDeg is the width of one pixel of a 512 px tile at zoom z in degrees of
// longitude: the simplification tolerance. (A degree of latitude spans ~1.2 times as
// many pixels at Shanghai's latitude, still about a pixel.)
func (t TileID) pixelDeg() float64 {
	return 360 / float64(uint64(1)<<t.Z) / 512
}

// areaLevelsAt lists the area levels drawn at zoom z: further out than z10 a
// community, and than z12 a grid, is a few pixels across, and there are thousands.
func areaLevelsAt(z int) []string {
	levels := []string{string(District), string(Street)}
	if z >= 10 {
		levels = append(levels, string(Community))
	}
	if z >= 12 {
		levels = append(levels, string(GridLevel))
	}
	return levels
}

// Each tile is ONE statement: PostGIS clips, transforms and encodes, Go only copies
// the bytes. The row filter transforms the tile envelope (with the buffer margin) to
// 4326 once, so the GiST index on geom serves it; transforming every row's geom to
// 3857 instead would rule the index out. A Mercator rectangle stays a lon/lat
// rectangle, so the transformed envelope is exact. Jurisdiction follows access.go: a
// row is visible when its area has one of the caller's areas among its ancestors,
// tested as "area_id IN (visible areas)", which PostgreSQL runs as a hashed subplan
// (a join to areas here got a generic plan 10-50× slower once pgx's cached statement
// went generic); admin sees everything, rows without an area included.
// $1..$3 are z, x, y; $4 the caller's area ids; $5 whether the caller sees all; $6
// the tile buffer as a fraction of the tile (ST_TileEnvelope's margin), or for
// clusters the cell side. ST_AsMVTGeom's 4096 and 64 are tileExtent and tileBuffer.
// Parameters are cast where PostgreSQL would otherwise infer their type from the
// expression: "2 * $6" alone types $6 as integer and silently makes the margin 0.
const (
	householdPointTileSQL = `
WITH q AS (
  SELECT h.id, h.area_id, p.persons, p.vulnerable,
         ST_AsMVTGeom(ST_Transform(h.geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64) AS geom
  FROM households h
  CROSS JOIN LATERAL (
    SELECT count(*)::int AS persons,
           count(*) FILTER (WHERE pe.vulnerability <> '{}')::int AS vulnerable
    FROM persons pe WHERE pe.household_id = h.id) p
  WHERE h.geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => $6), 4326)
    AND ($5::boolean OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $4::bigint[]))
)
SELECT COALESCE(ST_AsMVT(q, 'households', 4096, 'geom'), '') FROM q`

	// Clusters count each household once: no buffer, so a household near an edge
	// is in exactly one tile. A cluster sits at the mean position of its
	// households (tile coordinates, which ST_AsMVT takes as they are). vulnerable
	// counts households with at least one vulnerable resident, through the partial
	// index persons_vulnerable_idx. $6 is the cell side in extent units.
	householdClusterTileSQL = householdPtsSQL + `
         ST_Point(round(avg(ST_X(g))), round(avg(ST_Y(g)))) AS geom
  FROM pts WHERE g IS NOT NULL
  GROUP BY floor(ST_X(g) / $6::float8), floor(ST_Y(g) / $6::float8)
)
SELECT COALESCE(ST_AsMVT(q, 'households', 4096, 'geom'), '') FROM q`

	// householdPtsSQL starts both household cluster layers: each visible household's
	// point in tile units and whether a resident is vulnerable, then the counts of q.
	householdPtsSQL = `
WITH pts AS (
  SELECT ST_AsMVTGeom(ST_Transform(h.geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 0) AS g,
         EXISTS (SELECT 1 FROM persons pe WHERE pe.household_id = h.id AND pe.vulnerability <> '{}') AS vulnerable
  FROM households h
  WHERE h.geom && ST_Transform(ST_TileEnvelope($1, $2, $3), 4326)
    AND ($5::boolean OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $4::bigint[]))
), q AS (
  SELECT count(*)::int AS households, count(*) FILTER (WHERE vulnerable)::int AS vulnerable,`

	// anonCellsSQL ends the q of the restricted layers below after their counts:
	// one point at the centre of each cluster cell ($6, in tile units), withheld
	// under $7 rows, so households and cases are anonymised by the one rule.
	anonCellsSQL = `
         ST_Point((floor(ST_X(g) / $6::float8) + 0.5) * $6::float8, (floor(ST_Y(g) / $6::float8) + 0.5) * $6::float8) AS geom
  FROM pts WHERE g IS NOT NULL
  GROUP BY floor(ST_X(g) / $6::float8), floor(ST_Y(g) / $6::float8)
  HAVING count(*) >= $7::int
)`

	// Restricted roles (LocationPrivacy) get households as clusters at every zoom
	// from HouseholdClusterZoom, each placed at the centre of its cluster cell (not
	// the mean of its households, which one odd household would pull) and withheld
	// under $7 households. The cell is never finer than at HouseholdPointZoom's
	// ($6 grows with zoom), so a deep zoom does not shrink it to one building.
	householdAnonTileSQL = householdPtsSQL + anonCellsSQL + `
SELECT COALESCE(ST_AsMVT(q, 'households', 4096, 'geom'), '') FROM q`

	// Restricted roles get cases the same way: counts per cluster cell, no id, no
	// time, withheld under $7 cases.
	caseAnonTileSQL = `
WITH pts AS (
  SELECT ST_AsMVTGeom(ST_Transform(c.geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 0) AS g
  FROM cases c
  WHERE c.geom && ST_Transform(ST_TileEnvelope($1, $2, $3), 4326)
    AND ($5::boolean OR c.area_id IN (SELECT id FROM areas WHERE ancestors && $4::bigint[]))
), q AS (
  SELECT count(*)::int AS cases,` + anonCellsSQL + `
SELECT COALESCE(ST_AsMVT(q, 'cases', 4096, 'geom'), '') FROM q`

	// Areas are clipped to the tile (with twice the buffer, so the cut lies outside
	// what is drawn) before simplifying and transforming: a 3,000-vertex street
	// then costs a few vertices at z16, not 3,000. ST_Simplify (keeping collapsed
	// rings) is ~15× faster than ST_SimplifyPreserveTopology on Shanghai's streets;
	// ST_AsMVTGeom makes its output valid anyway. The areas above the caller's
	// (their "context", access.go) come too: the tile carries outlines and names
	// only. $7 is the tolerance in degrees, $8 the levels drawn at this zoom.
	areaTileSQL = `
WITH q AS (
  SELECT a.id, a.level, a.name,
         ST_AsMVTGeom(ST_Transform(ST_Simplify(
             ST_ClipByBox2D(a.geom, ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 2 * $6::float8), 4326)),
             $7::float8, true), 3857), ST_TileEnvelope($1, $2, $3), 4096, 64) AS geom
  FROM areas a
  WHERE a.geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => $6), 4326)
    AND a.level = ANY($8::text[])
    AND ($5::boolean OR a.ancestors && $4::bigint[]
         OR a.id IN (SELECT unnest(x.ancestors) FROM areas x WHERE x.id = ANY($4::bigint[])))
)
SELECT COALESCE(ST_AsMVT(q, 'areas', 4096, 'geom'), '') FROM q WHERE geom IS NOT NULL`

	caseTileSQL = `
WITH q AS (
  SELECT c.id, c.kind, to_char(c.reported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS reported_at,
         ST_AsMVTGeom(ST_Transform(c.geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64) AS geom
  FROM cases c
  WHERE c.geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => $6), 4326)
    AND ($5::boolean OR c.area_id IN (SELECT id FROM areas WHERE ancestors && $4::bigint[]))
)
SELECT COALESCE(ST_AsMVT(q, 'cases', 4096, 'geom'), '') FROM q`
)

// Tile encodes one Mapbox Vector Tile (spec 2, extent 4096) of layer for u: only
// features in u's jurisdiction (plus the outlines of the areas above it), never
// personal data. A restricted role (see LocationPrivacy) gets households and cases
// as clusters of at least MinHouseholds, never one point per household or case. An empty tile is a valid zero-length answer. A bad layer or tile id
// is Invalid; a dead database is Unavailable.
func (s *Store) Tile(ctx context.Context, u User, layer TileLayer, t TileID) ([]byte, error) {
	if _, err := ParseTileLayer(string(layer)); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if len(u.AreaIDs) == 0 && !seesAll(u) {
		// No jurisdiction, nothing to see.
		return []byte{}, nil
	}
	margin := float64(tileBuffer) / tileExtent
	var sql string
	args := []any{t.Z, t.X, t.Y, userAreas(u), seesAll(u), margin}
	restricted := Restricted(u)
	if restricted && layer != AreaTiles {
		if layer == HouseholdTiles && t.Z < HouseholdClusterZoom {
			return []byte{}, nil
		}
		// The cluster cell keeps its z13 ground size at deeper zooms, up to a whole tile.
		cell := float64(clusterCell)
		if t.Z > HouseholdPointZoom {
			cell = math.Min(cell*math.Exp2(float64(t.Z-HouseholdPointZoom)), tileExtent)
		}
		args[5] = cell
		args = append(args, s.LocationPrivacy().MinHouseholds)
		sql = householdAnonTileSQL
		if layer == CaseTiles {
			sql = caseAnonTileSQL
		}
	}
	switch {
	case sql != "":
	case layer == HouseholdTiles:
		switch {
		case t.Z >= HouseholdPointZoom:
			sql = householdPointTileSQL
		case t.Z >= HouseholdClusterZoom:
			sql = householdClusterTileSQL
			args[5] = float64(clusterCell)
		default:
			return []byte{}, nil
		}
	case layer == AreaTiles:
		sql = areaTileSQL
		args = append(args, t.pixelDeg(), areaLevelsAt(t.Z))
	case layer == CaseTiles:
		sql = caseTileSQL
	}
	var mvt []byte
	if err := s.pool.QueryRow(ctx, sql, args...).Scan(&mvt); err != nil {
		return nil, dbError("tile "+string(layer), err)
	}
	return mvt, nil
}
