package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/paulmach/orb"
)

func TestCaseList(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	fc := f.features(t, "admin", "/api/v1/cases")
	if len(fc.Features) != 4 {
		t.Fatalf("admin: %d cases", len(fc.Features))
	}
	// Oldest report first.
	var order []int
	for _, c := range fc.Features {
		order = append(order, int(c.Properties.MustFloat64("id")))
	}
	if order[0] != 1 || order[3] != 4 {
		t.Fatalf("order %v", order)
	}
	c := fc.Features[0]
	if pt, ok := c.Geometry.(orb.Point); !ok || pt != (orb.Point{121.41, 31.11}) || c.Properties["kind"] != "confirmed" ||
		c.Properties["reported_at"] != "2022-04-04T02:00:00Z" || c.Properties["person_id"].(float64) != 1 {
		t.Fatalf("case 1: %v %v", c.Geometry, c.Properties)
	}
	for _, tc := range []struct {
		user, query, want string
	}{
		{"viewer", "", "[1 2 4]"}, // case 3 has no area
		{"worker", "", "[1]"},
		{"worker6", "", "[2]"},
		{"commander", "", "[1 4]"},
		{"admin", "?from=" + url.QueryEscape("2022-04-05T00:00:00+08:00"), "[2 3 4]"},
		{"admin", "?from=" + url.QueryEscape("2022-04-05T00:00:00+08:00") + "&to=" + url.QueryEscape("2022-04-06T00:00:00+08:00"), "[2 3]"},
		{"admin", "?kind=confirmed", "[1 3]"},
		{"admin", "?bbox=121.46,31.11,121.53,31.13", "[2 4]"},
		{"viewer", "?area=2", "[1 4]"},
		{"admin", "?limit=1&offset=3", "[4]"},
	} {
		if got := featureIDs(f.features(t, tc.user, "/api/v1/cases"+tc.query)); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.user, tc.query, got, tc.want)
		}
	}
	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		{"admin", "/api/v1/cases?from=2022-04-05", http.StatusBadRequest, "from"},
		{"admin", "/api/v1/cases?to=yesterday", http.StatusBadRequest, "to"},
		{"admin", "/api/v1/cases?from=2022-04-06T00:00:00Z&to=2022-04-05T00:00:00Z", http.StatusBadRequest, "to"},
		{"admin", "/api/v1/cases?kind=probable", http.StatusBadRequest, "kind"},
		{"admin", "/api/v1/cases?bbox=121,31,121.1", http.StatusBadRequest, "bbox"},
		{"worker", "/api/v1/cases?area=6", http.StatusNotFound, "area"},
		{"nobody", "/api/v1/cases", http.StatusUnauthorized, ""},
	} {
		var e apiError
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
}
