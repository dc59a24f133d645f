package grid_test

import (
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// tileFixture is two districts side by side near People's Square, Shanghai, each
// with one street, a community and a grid; households, residents and cases in both.
type tileFixture struct {
	store                  *grid.Store
	distA, streetA, gridA  int64
	distB, streetB         int64
	hhA1, hhA2, hhB, caseA int64
}

// center lies in street A; street B is 0.01° east of it, in the same z14 tile.
var center = orb.Point{121.4705, 31.2305}

func newTileFixture(t *testing.T) tileFixture {
	t.Helper()
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	f := tileFixture{store: grid.NewStore(pool)}
	area := func(parent int64, level, code, wkt string) int64 {
		t.Helper()
		var id int64
		err := pool.QueryRow(ctx, `
			INSERT INTO areas (parent_id, level, name, code, geom)
			VALUES (NULLIF($1, 0), $2, $3, $3, ST_Multi(ST_GeomFromText($4, 4326))) RETURNING id`,
			parent, level, code, wkt).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pool.Exec(ctx, `UPDATE areas SET ancestors = COALESCE((SELECT ancestors FROM areas WHERE id = $2), '{}') || id WHERE id = $1`, id, parent)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	f.distA = area(0, "district", "A", "POLYGON((121.46 31.22, 121.475 31.22, 121.475 31.24, 121.46 31.24, 121.46 31.22))")
	f.streetA = area(f.distA, "street", "A/s", "POLYGON((121.46 31.22, 121.475 31.22, 121.475 31.24, 121.46 31.24, 121.46 31.22))")
	comm := area(f.streetA, "community", "A/s/c", "POLYGON((121.465 31.225, 121.474 31.225, 121.474 31.235, 121.465 31.235, 121.465 31.225))")
	f.gridA = area(comm, "grid", "A/s/c/g", "POLYGON((121.468 31.228, 121.472 31.228, 121.472 31.232, 121.468 31.232, 121.468 31.228))")
	f.distB = area(0, "district", "B", "POLYGON((121.475 31.22, 121.49 31.22, 121.49 31.24, 121.475 31.24, 121.475 31.22))")
	f.streetB = area(f.distB, "street", "B/s", "POLYGON((121.475 31.22, 121.49 31.22, 121.49 31.24, 121.475 31.24, 121.475 31.22))")

	household := func(areaID int64, p orb.Point) int64 {
		t.Helper()
		var id int64
		if err := pool.QueryRow(ctx, `
			INSERT INTO households (area_id, address, geom, h3_r8, h3_r12)
			VALUES ($1, 'Secret Road 1', ST_SetSRID(ST_MakePoint($2, $3), 4326), 0, 0) RETURNING id`,
			areaID, p[0], p[1]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	f.hhA1 = household(f.gridA, center)
	f.hhA2 = household(f.gridA, orb.Point{center[0] + 0.0005, center[1]})
	f.hhB = household(f.streetB, orb.Point{center[0] + 0.01, center[1]})
	if _, err := pool.Exec(ctx, `
		INSERT INTO persons (household_id, name, phone, vulnerability) VALUES
		  ($1, 'Zhang San', '13800000000', '{elderly_alone}'),
		  ($1, 'Li Si', '13800000001', '{}'),
		  ($2, 'Wang Wu', '13800000002', '{}'),
		  ($3, 'Zhao Liu', '13800000003', '{disabled}')`, f.hhA1, f.hhA2, f.hhB); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `
		INSERT INTO cases (kind, reported_at, area_id, address, geom, h3_r8, h3_r12)
		VALUES ('confirmed', '2022-04-04 10:00:00+08', $1, 'Secret Road 1', ST_SetSRID(ST_MakePoint($2, $3), 4326), 0, 0)
		RETURNING id`, f.gridA, center[0], center[1]).Scan(&f.caseA); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO cases (kind, reported_at, area_id, geom, h3_r8, h3_r12)
		VALUES ('asymptomatic', now(), $1, ST_SetSRID(ST_MakePoint($2, $3), 4326), 0, 0)`,
		f.streetB, center[0]+0.01, center[1]); err != nil {
		t.Fatal(err)
	}
	return f
}

// fetch decodes a tile of layer at center's position and zoom z.
func (f tileFixture) fetch(t *testing.T, u grid.User, layer grid.TileLayer, z int) []*geojson.Feature {
	t.Helper()
	mt := maptile.At(center, maptile.Zoom(z))
	b, err := f.store.Tile(context.Background(), u, layer, grid.TileID{Z: z, X: int(mt.X), Y: int(mt.Y)})
	if err != nil {
		t.Fatalf("tile %s z%d: %v", layer, z, err)
	}
	if len(b) == 0 {
		return nil
	}
	layers, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("decode %s z%d: %v", layer, z, err)
	}
	if len(layers) != 1 || layers[0].Name != string(layer) || layers[0].Extent != 4096 {
		t.Fatalf("tile %s z%d: want one layer %q with extent 4096, got %+v", layer, z, layer, layers)
	}
	layers.ProjectToWGS84(mt)
	return layers[0].Features
}

func num(f *geojson.Feature, key string) int64 {
	v, _ := f.Properties[key].(float64)
	return int64(v)
}

func keys(f *geojson.Feature) string {
	var ks []string
	for k := range f.Properties {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestTileHouseholds(t *testing.T) {
	f := newTileFixture(t)
	onlyA := grid.User{Role: grid.GridWorker, AreaIDs: []int64{f.distA}}
	// The z14 tile holds all three households; district A sees its own two.
	feats := f.fetch(t, onlyA, grid.HouseholdTiles, 14)
	if len(feats) != 2 {
		t.Fatalf("district A sees %d households at z14, want its 2", len(feats))
	}
	byID := map[int64]*geojson.Feature{}
	for _, ft := range feats {
		// Residents are counted, never named: the tile carries no personal data.
		if got := keys(ft); got != "area_id,id,persons,vulnerable" {
			t.Fatalf("household properties %s", got)
		}
		byID[num(ft, "id")] = ft
	}
	a1 := byID[f.hhA1]
	if a1 == nil || num(a1, "persons") != 2 || num(a1, "vulnerable") != 1 || num(a1, "area_id") != f.gridA {
		t.Fatalf("household A1: %+v", a1)
	}
	if p := a1.Geometry.(orb.Point); math.Abs(p[0]-center[0]) > 1e-4 || math.Abs(p[1]-center[1]) > 1e-4 {
		t.Fatalf("household A1 drawn at %v, lives at %v", p, center)
	}
	if a2 := byID[f.hhA2]; a2 == nil || num(a2, "persons") != 1 || num(a2, "vulnerable") != 0 {
		t.Fatalf("household A2: %+v", a2)
	}

	both := grid.User{Role: grid.Commander, AreaIDs: []int64{f.distA, f.streetB}}
	if n := len(f.fetch(t, both, grid.HouseholdTiles, 14)); n != 3 {
		t.Fatalf("both districts see %d households at z14, want 3", n)
	}
	if n := len(f.fetch(t, grid.User{Role: grid.Viewer}, grid.HouseholdTiles, 14)); n != 0 {
		t.Fatalf("a user without jurisdiction sees %d households", n)
	}
	// Admin sees everything, households outside every area included.
	if _, err := f.store.Pool().Exec(context.Background(), `UPDATE households SET area_id = NULL WHERE id = $1`, f.hhB); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fetch(t, grid.User{Role: grid.Admin}, grid.HouseholdTiles, 14)); n != 3 {
		t.Fatalf("admin sees %d households at z14, want 3", n)
	}
	if n := len(f.fetch(t, both, grid.HouseholdTiles, 14)); n != 2 {
		t.Fatalf("without an area household B is admin's only; both districts see %d", n)
	}
	if _, err := f.store.Pool().Exec(context.Background(), `UPDATE households SET area_id = $2 WHERE id = $1`, f.hhB, f.streetB); err != nil {
		t.Fatal(err)
	}

	// At z12 households come as clusters, each household counted once.
	clusters := f.fetch(t, both, grid.HouseholdTiles, grid.HouseholdClusterZoom)
	var total, vulnerable int64
	for _, c := range clusters {
		if got := keys(c); got != "households,vulnerable" {
			t.Fatalf("cluster properties %s", got)
		}
		total += num(c, "households")
		vulnerable += num(c, "vulnerable")
	}
	if total != 3 || vulnerable != 2 {
		t.Fatalf("z12 clusters count %d households, %d vulnerable; want 3 and 2", total, vulnerable)
	}
	// Further out the H3 heat layer stands in for households.
	if n := len(f.fetch(t, both, grid.HouseholdTiles, grid.HouseholdClusterZoom-1)); n != 0 {
		t.Fatalf("z11 has %d household features, want none", n)
	}
}

func TestTileAreasAndCases(t *testing.T) {
	f := newTileFixture(t)
	onlyA := grid.User{Role: grid.Commander, AreaIDs: []int64{f.distA}}
	levels := func(feats []*geojson.Feature) string {
		var ls []string
		for _, ft := range feats {
			if got := keys(ft); got != "id,level,name" {
				t.Fatalf("area properties %s", got)
			}
			ls = append(ls, ft.Properties["level"].(string))
		}
		sort.Strings(ls)
		return strings.Join(ls, ",")
	}
	if got := levels(f.fetch(t, onlyA, grid.AreaTiles, 14)); got != "community,district,grid,street" {
		t.Fatalf("z14 areas of district A: %s", got)
	}
	// Grids and communities are left out where they would be specks.
	if got := levels(f.fetch(t, onlyA, grid.AreaTiles, 9)); got != "district,street" {
		t.Fatalf("z9 areas of district A: %s", got)
	}
	// A grid worker sees the outlines of the areas above their grid, nothing beside it.
	if got := levels(f.fetch(t, grid.User{Role: grid.GridWorker, AreaIDs: []int64{f.gridA}}, grid.AreaTiles, 14)); got != "community,district,grid,street" {
		t.Fatalf("z14 areas of grid A's worker: %s", got)
	}
	if got := levels(f.fetch(t, grid.User{Role: grid.Viewer, AreaIDs: []int64{f.streetB}}, grid.AreaTiles, 14)); got != "district,street" {
		t.Fatalf("z14 areas of street B: %s", got)
	}
	if got := levels(f.fetch(t, grid.User{Role: grid.Admin}, grid.AreaTiles, 14)); got != "community,district,district,grid,street,street" {
		t.Fatalf("z14 areas for admin: %s", got)
	}

	// Polygons are cut at the tile buffer, never at the tile edge, where the line
	// layers would draw the cut as a boundary. District A covers this z16 tile.
	mt := maptile.At(orb.Point{121.467, 31.23}, 16)
	b, err := f.store.Tile(context.Background(), onlyA, grid.AreaTiles, grid.TileID{Z: 16, X: int(mt.X), Y: int(mt.Y)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mvt.Unmarshal(b)
	if err != nil || len(raw) != 1 {
		t.Fatalf("z16 areas: %v %v", err, raw)
	}
	for _, ft := range raw[0].Features {
		if ft.Properties["level"] != "district" {
			continue
		}
		if got, want := ft.Geometry.Bound(), (orb.Bound{Min: orb.Point{-64, -64}, Max: orb.Point{4160, 4160}}); got != want {
			t.Fatalf("district A in a tile it covers spans %v in tile units, want the buffered tile %v", got, want)
		}
	}

	cases := f.fetch(t, onlyA, grid.CaseTiles, 10)
	if len(cases) != 1 || num(cases[0], "id") != f.caseA || cases[0].Properties["kind"] != "confirmed" ||
		cases[0].Properties["reported_at"] != "2022-04-04T02:00:00Z" || keys(cases[0]) != "id,kind,reported_at" {
		t.Fatalf("cases of district A: %+v", cases)
	}
}

func TestTileInvalid(t *testing.T) {
	for _, tc := range []struct {
		z, x, y, field string
	}{
		{"-1", "0", "0", "z"},
		{"23", "0", "0", "z"},
		{"a", "0", "0", "z"},
		{"2", "4", "0", "x"},
		{"2", "-1", "0", "x"},
		{"2", "0", "4", "y"},
		{"2", "0", "1.5", "y"},
	} {
		_, err := grid.ParseTileID(tc.z, tc.x, tc.y)
		var e *grid.Error
		if !errors.As(err, &e) || e.Kind != grid.Invalid || e.Field != tc.field {
			t.Errorf("ParseTileID(%s,%s,%s) = %v, want Invalid on %s", tc.z, tc.x, tc.y, err, tc.field)
		}
	}
	if id, err := grid.ParseTileID("22", "4194303", "0"); err != nil || id != (grid.TileID{Z: 22, X: 4194303}) {
		t.Errorf("deepest tile: %v %v", id, err)
	}
	if _, err := grid.ParseTileLayer("persons"); grid.KindOf(err) != grid.Invalid {
		t.Errorf("layer persons: %v", err)
	}
}
