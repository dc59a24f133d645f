package grid_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// streetsPath is the embedded demo copy of shared/data/shanghai/streets.geojson; the
// test reads the file, it does not import the command's package.
const streetsPath = "../cmd/gridtrace/demodata/streets.geojson.gz"

func gunzipFile(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func shanghaiStreets(t testing.TB) *geojson.FeatureCollection {
	t.Helper()
	fc, err := geojson.UnmarshalFeatureCollection(gunzipFile(t, streetsPath))
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

var streetOptions = grid.AreaImportOptions{Level: grid.Street, NameField: "STREET", ParentField: "AREA"}

// importStreets loads the real Shanghai streets into a fresh database.
func importStreets(t testing.TB) (*grid.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	rep, err := s.ImportAreas(context.Background(), shanghaiStreets(t), streetOptions)
	if err != nil {
		t.Fatalf("import streets: %v (%+v)", err, rep.Rejected)
	}
	return s, pool
}

func TestImportShanghaiStreets(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	ctx := context.Background()
	fc := shanghaiStreets(t)
	rep, err := s.ImportAreas(ctx, fc, streetOptions)
	if err != nil {
		t.Fatalf("import: %v (%+v)", err, rep.Rejected)
	}
	// 徐行镇 has a self-intersecting ring that ST_MakeValid repairs without changing its area.
	if rep.Inserted != 214 || rep.Updated != 0 || rep.Skipped != 0 || rep.Derived != 16 || rep.Repaired != 1 {
		t.Fatalf("first import: %+v", rep)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM areas WHERE level = 'street'`); n != 214 {
		t.Fatalf("%d streets", n)
	}
	if n := count(`SELECT count(*) FROM areas WHERE level = 'district' AND parent_id IS NULL`); n != 16 {
		t.Fatalf("%d districts", n)
	}
	// Every street's parent is the district named by its AREA property, and its code
	// and ancestors follow.
	if n := count(`
SELECT count(*) FROM areas s JOIN areas d ON d.id = s.parent_id
WHERE s.level = 'street' AND d.level = 'district' AND d.name = s.props->>'AREA'
  AND s.code = d.name || '/' || s.name AND s.ancestors = ARRAY[d.id, s.id] AND d.ancestors = ARRAY[d.id]`); n != 214 {
		t.Fatalf("%d streets with the right parent, code and ancestors", n)
	}
	if n := count(`SELECT count(*) FROM areas WHERE NOT ST_IsValid(geom)`); n != 0 {
		t.Fatalf("%d invalid geometries stored", n)
	}
	if n := count(`SELECT count(*) FROM areas WHERE code = '浦东新区/万祥镇' AND props->>'NAME' = 'Wanxiang Town'`); n != 1 {
		t.Fatal("props not stored")
	}
	// A district's geometry is the union of its streets.
	if n := count(`
SELECT count(*) FROM areas d
WHERE d.level = 'district' AND abs(ST_Area(d.geom) - (SELECT sum(ST_Area(s.geom)) FROM areas s WHERE s.parent_id = d.id)) > 1e-3 * ST_Area(d.geom)`); n != 0 {
		t.Fatalf("%d districts whose area differs from their streets'", n)
	}
	if n := count(`SELECT count(*) FROM changes WHERE entity = 'areas'`); n != 1 {
		t.Fatalf("%d change rows", n)
	}

	// Importing the same file again changes nothing.
	rep, err = s.ImportAreas(ctx, shanghaiStreets(t), streetOptions)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 0 || rep.Updated != 0 || rep.Skipped != 214 || rep.Derived != 0 {
		t.Fatalf("re-import: %+v", rep)
	}
	if n := count(`SELECT count(*) FROM areas`); n != 230 {
		t.Fatalf("%d areas after re-import", n)
	}
	if n := count(`SELECT count(*) FROM changes WHERE entity = 'areas'`); n != 1 {
		t.Fatalf("an unchanged re-import recorded a change (%d rows)", n)
	}

	// Editing one street updates it and re-derives its district only.
	one := geojson.NewFeatureCollection()
	for _, f := range shanghaiStreets(t).Features {
		if f.Properties["STREET"] == "万祥镇" {
			f.Properties["NAME"] = "Wanxiang"
			one.Append(f)
		}
	}
	rep, err = s.ImportAreas(ctx, one, streetOptions)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 0 || rep.Updated != 1 || rep.Skipped != 0 {
		t.Fatalf("edit: %+v", rep)
	}
}

func TestImportAreasRejectsBadFeatures(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	ctx := context.Background()
	square := orb.Ring{{121.4, 31.2}, {121.41, 31.2}, {121.41, 31.21}, {121.4, 31.21}, {121.4, 31.2}}
	bowTie := orb.Ring{{121.4, 31.2}, {121.41, 31.21}, {121.41, 31.2}, {121.4, 31.21}, {121.4, 31.2}}
	feature := func(g orb.Geometry, props geojson.Properties) *geojson.Feature {
		f := geojson.NewFeature(g)
		f.Properties = props
		return f
	}
	props := func(street string) geojson.Properties {
		return geojson.Properties{"STREET": street, "AREA": "测试区"}
	}
	tests := []struct {
		name string
		f    *geojson.Feature
		want string
	}{
		{"point", feature(orb.Point{121.4, 31.2}, props("a")), "features[1].geometry.type: is Point; want Polygon or MultiPolygon"},
		{"lat out of range", feature(orb.Polygon{{{121.4, 31.2}, {121.41, 95}, {121.41, 31.21}, {121.4, 31.2}}}, props("b")), "features[1].geometry.coordinates[0][1]: lat 95 is outside [-90, 90]"},
		{"no name", feature(orb.Polygon{square}, geojson.Properties{"AREA": "测试区"}), "features[1].properties.STREET: is missing"},
		{"no parent", feature(orb.Polygon{square}, geojson.Properties{"STREET": "c"}), "features[1].properties.AREA: is missing"},
		{"bow tie", feature(orb.Polygon{bowTie}, props("d")), "features[1].geometry: is invalid (Self-intersection"},
		{"lopsided bow tie", feature(orb.Polygon{{{121.40, 31.20}, {121.42, 31.22}, {121.42, 31.20}, {121.40, 31.21}, {121.40, 31.20}}}, props("e")),
			"features[1].geometry: is invalid (Self-intersection[121.406666666667 31.2066666666667]) and ST_MakeValid would change its area by 66.7%"},
		{"duplicate", feature(orb.Polygon{square}, props("good")), `features[1].properties.STREET: code "测试区/good" is also features[0]'s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := geojson.NewFeatureCollection()
			fc.Append(feature(orb.Polygon{square}, props("good")))
			fc.Append(tc.f)
			rep, err := s.ImportAreas(ctx, fc, streetOptions)
			if grid.KindOf(err) != grid.Invalid {
				t.Fatalf("error %v, want Invalid", err)
			}
			if len(rep.Rejected) != 1 || !strings.HasPrefix(rep.Rejected[0].Error(), tc.want) {
				t.Fatalf("rejected %v, want %q", rep.Rejected, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM areas`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d areas written (%v)", n, err)
			}
		})
	}

	// Options and the collection itself.
	fc := geojson.NewFeatureCollection()
	fc.Append(feature(orb.Polygon{square}, props("good")))
	for _, opt := range []grid.AreaImportOptions{
		{Level: "town", NameField: "STREET"},
		{Level: grid.Street},
		{Level: grid.District, NameField: "AREA", ParentField: "X"},
	} {
		if _, err := s.ImportAreas(ctx, fc, opt); grid.KindOf(err) != grid.Invalid {
			t.Errorf("options %+v: error %v, want Invalid", opt, err)
		}
	}
	if _, err := s.ImportAreas(ctx, geojson.NewFeatureCollection(), streetOptions); grid.KindOf(err) != grid.Invalid {
		t.Errorf("empty collection: %v", err)
	}
	fc.ExtraMembers = geojson.Properties{"crs": map[string]any{"type": "name", "properties": map[string]any{"name": "urn:ogc:def:crs:EPSG::3857"}}}
	var ge *grid.Error
	if _, err := s.ImportAreas(ctx, fc, streetOptions); !errors.As(err, &ge) || ge.Field != "crs" {
		t.Errorf("EPSG:3857 file: %v", err)
	}
}

func TestImportAreasSpatialParent(t *testing.T) {
	t.Parallel()
	s, pool := importStreets(t)
	ctx := context.Background()
	// Two communities drawn inside 万祥镇 without a parent field find it spatially;
	// one far out at sea has no street and is refused.
	var wx orb.Point
	if err := pool.QueryRow(ctx, `SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM areas WHERE code = '浦东新区/万祥镇') x`).Scan(&wx[0], &wx[1]); err != nil {
		t.Fatal(err)
	}
	box := func(c orb.Point, d float64) orb.Polygon {
		return orb.Polygon{{{c[0] - d, c[1] - d}, {c[0] + d, c[1] - d}, {c[0] + d, c[1] + d}, {c[0] - d, c[1] + d}, {c[0] - d, c[1] - d}}}
	}
	fc := geojson.NewFeatureCollection()
	for i, name := range []string{"一村", "二村"} {
		f := geojson.NewFeature(box(orb.Point{wx[0] + float64(i)*0.0004, wx[1]}, 0.0001))
		f.Properties = geojson.Properties{"name": name}
		fc.Append(f)
	}
	opt := grid.AreaImportOptions{Level: grid.Community, NameField: "name"}
	rep, err := s.ImportAreas(ctx, fc, opt)
	if err != nil || rep.Inserted != 2 {
		t.Fatalf("communities: %+v %v", rep, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `
SELECT count(*) FROM areas c JOIN areas s ON s.id = c.parent_id
WHERE c.level = 'community' AND s.code = '浦东新区/万祥镇' AND c.code = '浦东新区/万祥镇/' || c.name
  AND c.ancestors = s.ancestors || c.id`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d communities under 万祥镇 (%v)", n, err)
	}
	sea := geojson.NewFeatureCollection()
	f := geojson.NewFeature(box(orb.Point{123.5, 30.5}, 0.001))
	f.Properties = geojson.Properties{"name": "海上"}
	sea.Append(f)
	rep, err = s.ImportAreas(ctx, sea, opt)
	if grid.KindOf(err) != grid.Invalid || len(rep.Rejected) != 1 || !strings.Contains(rep.Rejected[0].Reason, "lies in no street") {
		t.Fatalf("community at sea: %+v %v", rep, err)
	}
}
