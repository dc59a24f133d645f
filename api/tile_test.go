package api_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
)

// huangpuCenter lies inside Huangpu district, between its ten streets.
var huangpuCenter = orb.Point{121.478, 31.222}

// loadHuangpu loads the ten real street boundaries of Huangpu district, Shanghai
// (testdata/huangpu-streets.geojson.gz), under one district made of their union,
// with perStreet households at seeded random points inside each street. It returns
// the district's id.
func loadHuangpu(t *testing.T, store *grid.Store, perStreet int) int64 {
	t.Helper()
	ctx := context.Background()
	fh, err := os.Open("testdata/huangpu-streets.geojson.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(raw)
	if err != nil {
		t.Fatal(err)
	}
	pool := store.Pool()
	var district int64
	if err := pool.QueryRow(ctx, `
		INSERT INTO areas (level, name, code, geom) VALUES ('district', '黄浦区', '黄浦区', 'SRID=4326;MULTIPOLYGON EMPTY')
		RETURNING id`).Scan(&district); err != nil {
		t.Fatal(err)
	}
	for _, f := range fc.Features {
		gj, err := geojson.NewGeometry(f.Geometry).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		name := f.Properties.MustString("STREET")
		if _, err := pool.Exec(ctx, `
			INSERT INTO areas (parent_id, level, name, code, ancestors, geom)
			VALUES ($1, 'street', $2, '黄浦区/' || $2, ARRAY[$1::bigint], ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($3), 4326)))`,
			district, name, string(gj)); err != nil {
			t.Fatal(err)
		}
	}
	for _, sql := range []string{
		`UPDATE areas SET ancestors = ancestors || id WHERE parent_id = $1`,
		`UPDATE areas SET ancestors = ARRAY[id], geom = (SELECT ST_Multi(ST_Union(geom)) FROM areas WHERE parent_id = $1) WHERE id = $1`,
	} {
		if _, err := pool.Exec(ctx, sql, district); err != nil {
			t.Fatal(err)
		}
	}
	if perStreet == 0 {
		return district
	}
	// Points come from PostGIS (seeded, so every run is alike); their H3 cells from
	// geo, as in production.
	rows, err := pool.Query(ctx, `
		SELECT a.id, ST_X(p.geom), ST_Y(p.geom)
		FROM areas a, ST_Dump(ST_GeneratePoints(a.geom, $2, 42)) p
		WHERE a.parent_id = $1 ORDER BY a.id`, district, perStreet)
	if err != nil {
		t.Fatal(err)
	}
	type hh struct {
		area    int64
		pt      orb.Point
		r8, r12 geo.Cell
	}
	var hhs []hh
	for rows.Next() {
		var h hh
		if err := rows.Scan(&h.area, &h.pt[0], &h.pt[1]); err != nil {
			t.Fatal(err)
		}
		if h.r8, err = geo.CellOf(h.pt, 8); err != nil {
			t.Fatal(err)
		}
		if h.r12, err = geo.CellOf(h.pt, 12); err != nil {
			t.Fatal(err)
		}
		hhs = append(hhs, h)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i, h := range hhs {
		if _, err := pool.Exec(ctx, `
			INSERT INTO households (area_id, address, geom, h3_r8, h3_r12)
			VALUES ($1, $2, ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6)`,
			h.area, fmt.Sprintf("Test Road %d", i+1), h.pt[0], h.pt[1], int64(h.r8), int64(h.r12)); err != nil {
			t.Fatal(err)
		}
	}
	return district
}

// getTile fetches a tile with a bearer token and returns the response and its body.
func getTile(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sendRequest(t, req, token)
}

func tilePath(layer string, p orb.Point, z int) string {
	mt := maptile.At(p, maptile.Zoom(z))
	return fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", layer, z, mt.X, mt.Y)
}

func TestTiles(t *testing.T) {
	ts, store := testServer(t)
	district := loadHuangpu(t, store, 20)
	mustUser(t, store, "commander", grid.Commander, []int64{district})
	mustUser(t, store, "viewer", grid.Viewer, nil)
	tok := login(t, ts.URL, "commander")

	var e apiError
	if code := do(t, "GET", ts.URL+tilePath("households", huangpuCenter, 14), "", "", &e); code != http.StatusUnauthorized {
		t.Fatalf("tile without session: %d %+v", code, e)
	}
	for _, tc := range []struct{ path, field string }{
		{"/tiles/persons/14/13720/6694.mvt", "layer"},
		{"/tiles/households/23/0/0.mvt", "z"},
		{"/tiles/households/x/0/0.mvt", "z"},
		{"/tiles/households/2/4/0.mvt", "x"},
		{"/tiles/households/2/0/-1.mvt", "y"},
		{"/tiles/households/2/0/0.pbf", "y"},
		{"/tiles/households/2/0/0", "y"},
	} {
		e = apiError{}
		if code := do(t, "GET", ts.URL+tc.path, tok, "", &e); code != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("%s: %d %+v, want 400 on %s", tc.path, code, e, tc.field)
		}
	}

	decode := func(path, token, layer string) []*geojson.Feature {
		t.Helper()
		resp, body := getTile(t, ts.URL+path, token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.mapbox-vector-tile" {
			t.Fatalf("%s: Content-Type %q", path, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "private") || !strings.Contains(cc, "max-age=") {
			t.Fatalf("%s: Cache-Control %q", path, cc)
		}
		if len(body) == 0 {
			return nil
		}
		layers, err := mvt.Unmarshal(body)
		if err != nil || len(layers) != 1 || layers[0].Name != layer {
			t.Fatalf("%s: %v %+v", path, err, layers)
		}
		return layers[0].Features
	}
	if n := len(decode(tilePath("households", huangpuCenter, 14), tok, "households")); n == 0 {
		t.Fatalf("no households in the z14 tile over Huangpu")
	}
	streets := 0
	for _, f := range decode(tilePath("areas", huangpuCenter, 12), tok, "areas") {
		if f.Properties["level"] == "street" {
			streets++
		}
	}
	if streets < 5 {
		t.Fatalf("%d streets in the z12 tile over Huangpu, want most of its 10", streets)
	}
	// A user without jurisdiction gets valid, empty tiles.
	if n := len(decode(tilePath("households", huangpuCenter, 14), login(t, ts.URL, "viewer"), "households")); n != 0 {
		t.Fatalf("viewer without areas sees %d households", n)
	}
}
