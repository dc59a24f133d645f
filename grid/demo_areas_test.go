package grid_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

func TestGenerateSubAreasShanghai(t *testing.T) {
	t.Parallel()
	s, pool := importStreets(t)
	ctx := context.Background()
	start := time.Now()
	communities, grids, err := s.GenerateSubAreas(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d communities and %d grids for 214 streets in %v", communities, grids, time.Since(start).Round(time.Millisecond))
	if communities < 214*2 || grids < communities*3 {
		t.Fatalf("%d communities, %d grids", communities, grids)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	checks := []struct {
		name string
		q    string
	}{
		{"a street with fewer than 2 or more than 40 communities", `
			SELECT count(*) FROM (SELECT s.id, count(c.id) AS n FROM areas s LEFT JOIN areas c ON c.parent_id = s.id
			WHERE s.level = 'street' GROUP BY s.id) x WHERE n < 2 OR n > 40`},
		{"a community with fewer than 3 or more than 8 grids", `
			SELECT count(*) FROM (SELECT c.id, count(g.id) AS n FROM areas c LEFT JOIN areas g ON g.parent_id = c.id
			WHERE c.level = 'community' GROUP BY c.id) x WHERE n < 3 OR n > 8`},
		{"a child whose parent is not one level up", `
			SELECT count(*) FROM areas c JOIN areas p ON p.id = c.parent_id
			WHERE (c.level = 'community' AND p.level <> 'street') OR (c.level = 'grid' AND p.level <> 'community')`},
		{"an area whose ancestors are not its parent's plus itself", `
			SELECT count(*) FROM areas c JOIN areas p ON p.id = c.parent_id
			WHERE c.level IN ('community', 'grid') AND c.ancestors <> p.ancestors || c.id`},
		{"a child reaching outside its parent", `
			SELECT count(*) FROM areas c JOIN areas p ON p.id = c.parent_id
			WHERE c.level IN ('community', 'grid')
			  AND ST_Area(ST_Difference(c.geom, p.geom)::geography) > 1`},
		{"a code not under its parent's", `
			SELECT count(*) FROM areas c JOIN areas p ON p.id = c.parent_id
			WHERE c.level IN ('community', 'grid') AND c.code NOT LIKE p.code || '/%'`},
		{"an invalid or empty geometry", `
			SELECT count(*) FROM areas WHERE level IN ('community', 'grid') AND (NOT ST_IsValid(geom) OR ST_IsEmpty(geom))`},
		{"two siblings overlapping by more than 1 m²", `
			SELECT count(*) FROM areas a JOIN areas b ON a.parent_id = b.parent_id AND a.id < b.id
			WHERE a.level = 'grid' AND ST_Intersects(a.geom, b.geom)
			  AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 1`},
	}
	for _, c := range checks {
		if n := count(c.q); n != 0 {
			t.Errorf("%s: %d", c.name, n)
		}
	}
	// The children tile their parent: the communities' area is the street's.
	var worst float64
	if err := pool.QueryRow(ctx, `
		SELECT max(abs(1 - kids / ST_Area(s.geom))) FROM areas s
		JOIN (SELECT parent_id, sum(ST_Area(geom)) AS kids FROM areas WHERE level = 'community' GROUP BY parent_id) c
		  ON c.parent_id = s.id`).Scan(&worst); err != nil {
		t.Fatal(err)
	}
	if worst > 1e-6 {
		t.Errorf("communities cover their street only to within %.2g", worst)
	}
	var code, name string
	if err := pool.QueryRow(ctx, `SELECT code, name FROM areas WHERE level = 'grid' ORDER BY code LIMIT 1`).Scan(&code, &name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(code, "/社区01/网格01") || !strings.HasSuffix(name, "社区01网格01") {
		t.Errorf("first grid: code %q name %q", code, name)
	}
	if n := count(`SELECT count(*) FROM changes WHERE kind = 'generate' AND entity = 'areas'`); n != 1 {
		t.Errorf("%d change rows, want 1", n)
	}

	// A re-run finds every street divided and does nothing.
	before := count(`SELECT count(*) FROM areas`)
	c2, g2, err := s.GenerateSubAreas(ctx, 1)
	if err != nil || c2 != 0 || g2 != 0 {
		t.Fatalf("re-run: %d communities, %d grids, %v", c2, g2, err)
	}
	if after := count(`SELECT count(*) FROM areas`); after != before {
		t.Fatalf("re-run: %d areas, then %d", before, after)
	}

	// Layouts give every street its grids.
	ls, err := s.StreetLayouts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, l := range ls {
		if l.District == "" || l.AreaKm2 <= 0 || len(l.Cells) < 6 {
			t.Fatalf("street %s: district %q, %.2f km², %d cells", l.Code, l.District, l.AreaKm2, len(l.Cells))
		}
		for _, c := range l.Cells {
			if c.Level != grid.GridLevel || !strings.HasPrefix(c.Code, l.Code+"/") || len(c.Geom) == 0 {
				t.Fatalf("street %s has cell %s (%s)", l.Code, c.Code, c.Level)
			}
		}
		total += len(l.Cells)
	}
	if len(ls) != 214 || total != grids {
		t.Fatalf("%d streets, %d cells, want 214 and %d", len(ls), total, grids)
	}
}

func TestGenerateSubAreasSameSeedSameAreas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The ten streets of 黄浦区 are enough to compare, and quick to divide.
	all := shanghaiStreets(t)
	huangpu := geojson.NewFeatureCollection()
	for _, f := range all.Features {
		if f.Properties["AREA"] == "黄浦区" {
			huangpu.Append(f)
		}
	}
	fingerprint := func(seed int) string {
		pool, _ := dbtest.New(t)
		s := grid.NewStore(pool)
		if rep, err := s.ImportAreas(ctx, huangpu, streetOptions); err != nil {
			t.Fatalf("import: %v (%+v)", err, rep.Rejected)
		}
		if _, _, err := s.GenerateSubAreas(ctx, seed); err != nil {
			t.Fatal(err)
		}
		var fp string
		if err := pool.QueryRow(ctx, `SELECT md5(string_agg(code || ST_AsText(ST_SnapToGrid(geom, 1e-9)), ',' ORDER BY code))
			FROM areas WHERE level = 'grid'`).Scan(&fp); err != nil {
			t.Fatal(err)
		}
		return fp
	}
	a, b, c := fingerprint(3), fingerprint(3), fingerprint(4)
	if a != b {
		t.Error("same seed, different grids")
	}
	if a == c {
		t.Error("different seeds, same grids")
	}
}

func TestBusiestAreaAndAreaIDs(t *testing.T) {
	t.Parallel()
	s, _ := importStreets(t)
	ctx := context.Background()
	ids, err := s.AreaIDs(ctx, grid.District)
	if err != nil || len(ids) != 16 {
		t.Fatalf("%d districts, %v", len(ids), err)
	}
	if _, err := s.BusiestArea(ctx, grid.Community); grid.KindOf(err) != grid.NotFound {
		t.Fatalf("no community yet: %v", err)
	}
	if _, err := s.BusiestArea(ctx, "town"); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("bad level: %v", err)
	}
	// Without households the busiest street is the one of lowest code.
	a, err := s.BusiestArea(ctx, grid.Street)
	if err != nil || a.Level != grid.Street || a.Code == "" {
		t.Fatalf("%+v, %v", a, err)
	}
}
