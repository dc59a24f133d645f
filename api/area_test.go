package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

func TestAreaList(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)

	fc := f.features(t, "admin", "/api/v1/areas?level=street")
	if got := featureIDs(fc); got != "[2 5]" {
		t.Fatalf("streets %s", got)
	}
	s := fc.Features[0]
	if _, ok := s.Geometry.(orb.MultiPolygon); !ok || s.ID.(float64) != 2 ||
		s.Properties["name"] != "甲街道" || s.Properties["level"] != "street" || s.Properties["code"] != "测试区/甲街道" ||
		s.Properties["parent_id"].(float64) != 1 || s.Properties["context"] != false || fmt.Sprint(s.Properties["ancestors"]) != "[1 2]" {
		t.Fatalf("street feature %+v %T", s.Properties, s.Geometry)
	}
	if fc.ExtraMembers["total"].(float64) != 2 {
		t.Fatalf("members %v", fc.ExtraMembers)
	}

	// A grid worker sees their community, and the street and district above it for
	// context (name and outline only); nothing beside it.
	fc = f.features(t, "worker", "/api/v1/areas")
	if got := featureIDs(fc); got != "[1 2 3]" {
		t.Fatalf("grid worker areas %s", got)
	}
	for _, a := range fc.Features {
		ctx := a.Properties["context"].(bool)
		_, hasCode := a.Properties["code"]
		if id := a.Properties.MustFloat64("id"); ctx != (id != 3) || hasCode == ctx {
			t.Errorf("area %v: context %v, code shown %v", id, ctx, hasCode)
		}
	}
	if got := featureIDs(f.features(t, "worker", "/api/v1/areas?parent=2")); got != "[3]" {
		t.Fatalf("children of the context street: %s", got)
	}
	if got := featureIDs(f.features(t, "commander", "/api/v1/areas?level=community")); got != "[3 4]" {
		t.Fatalf("street commander's communities %s", got)
	}
	if got := featureIDs(f.features(t, "admin", "/api/v1/areas?bbox=121.51,31.11,121.52,31.12")); got != "[1 5 6]" {
		t.Fatalf("bbox %s", got)
	}

	// Pages.
	fc = f.features(t, "admin", "/api/v1/areas?limit=4")
	if len(fc.Features) != 4 || fc.ExtraMembers["total"].(float64) != 6 || fc.ExtraMembers["next_offset"].(float64) != 4 {
		t.Fatalf("page 1: %d features, %v", len(fc.Features), fc.ExtraMembers)
	}
	fc = f.features(t, "admin", "/api/v1/areas?limit=4&offset=4")
	if got := featureIDs(fc); got != "[5 6]" || fc.ExtraMembers["next_offset"] != nil {
		t.Fatalf("page 2: %s %v", got, fc.ExtraMembers)
	}
	fc = f.features(t, "admin", "/api/v1/areas?offset=10")
	if len(fc.Features) != 0 || fc.ExtraMembers["total"].(float64) != 6 {
		t.Fatalf("past the end: %v", fc.ExtraMembers)
	}

	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		{"admin", "/api/v1/areas?level=town", http.StatusBadRequest, "level"},
		{"admin", "/api/v1/areas?lvl=street", http.StatusBadRequest, "lvl"},
		{"admin", "/api/v1/areas?level=street&level=district", http.StatusBadRequest, "level"},
		{"admin", "/api/v1/areas?bbox=1,2,3", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/areas?bbox=a,b,c,d", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/areas?bbox=121,31,200,32", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/areas?bbox=122,31,121,32", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/areas?bbox=NaN,31,121,32", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/areas?limit=0", http.StatusBadRequest, "limit"},
		{"admin", "/api/v1/areas?limit=1001", http.StatusBadRequest, "limit"},
		{"admin", "/api/v1/areas?limit=ten", http.StatusBadRequest, "limit"},
		{"admin", "/api/v1/areas?offset=-1", http.StatusBadRequest, "offset"},
		{"admin", "/api/v1/areas?parent=x", http.StatusBadRequest, "parent"},
		{"admin", "/api/v1/areas?parent=999", http.StatusNotFound, "parent"},
		{"worker", "/api/v1/areas?parent=5", http.StatusNotFound, "parent"},
		{"nobody", "/api/v1/areas", http.StatusUnauthorized, ""},
	} {
		var e apiError
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
}

func TestAreaGet(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	var a geojson.Feature
	if code := f.get(t, "worker", "/api/v1/areas/3", &a); code != http.StatusOK || a.Type != "Feature" || a.Properties["name"] != "一社区" {
		t.Fatalf("own community: %d %+v", code, a)
	}
	mp, ok := a.Geometry.(orb.MultiPolygon)
	if !ok || mp.Bound() != (orb.Bound{Min: orb.Point{121.40, 31.10}, Max: orb.Point{121.45, 31.15}}) {
		t.Fatalf("geometry %v", a.Geometry)
	}
	var street geojson.Feature
	if code := f.get(t, "worker", "/api/v1/areas/2", &street); code != http.StatusOK || street.Properties["context"] != true || street.Properties["code"] != nil {
		t.Fatalf("context street: %d %+v", code, street.Properties)
	}
	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		// Outside the jurisdiction an area does not exist: 404 like an unknown id.
		{"worker", "/api/v1/areas/4", http.StatusNotFound, "id"},
		{"worker", "/api/v1/areas/6", http.StatusNotFound, "id"},
		{"admin", "/api/v1/areas/999", http.StatusNotFound, "id"},
		{"admin", "/api/v1/areas/abc", http.StatusBadRequest, "id"},
		{"admin", "/api/v1/areas/-3", http.StatusBadRequest, "id"},
		{"admin", "/api/v1/areas/99999999999999999999", http.StatusBadRequest, "id"},
		{"nobody", "/api/v1/areas/3", http.StatusUnauthorized, ""},
	} {
		var e apiError
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
}

// TestAreaListWholeLevel: a level as large as Shanghai's 214 streets comes in one
// answer with the default limit.
func TestAreaListWholeLevel(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	_, err := f.pool.Exec(context.Background(), `
		INSERT INTO areas (parent_id, level, name, code, ancestors, geom)
		SELECT 1, 'street', 'S' || i, '测试区/S' || i, '{1}',
		       ST_Multi(ST_MakeEnvelope(121.40 + i * 0.0009, 31.25, 121.40 + (i + 1) * 0.0009, 31.26, 4326))
		FROM generate_series(1, 212) i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(context.Background(), `UPDATE areas SET ancestors = ARRAY[1, id] WHERE level = 'street' AND id > 100`); err != nil {
		t.Fatal(err)
	}
	fc := f.features(t, "admin", "/api/v1/areas?level=street")
	if len(fc.Features) != 214 || fc.ExtraMembers["total"].(float64) != 214 || fc.ExtraMembers["next_offset"] != nil {
		t.Fatalf("%d streets, %v", len(fc.Features), fc.ExtraMembers)
	}
	// The district's viewer sees them all too.
	if fc := f.features(t, "viewer", "/api/v1/areas?level=street"); len(fc.Features) != 214 {
		t.Fatalf("viewer: %d streets", len(fc.Features))
	}
}
