package api_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// fixtureHouseholds are the fixture's households (with their persons and vulnerable
// persons), by area, as an independent oracle for the H3 counts.
var fixtureHouseholds = []struct {
	p                   orb.Point
	area                int64
	persons, vulnerable int
}{
	{orb.Point{121.41, 31.11}, 3, 2, 1},
	{orb.Point{121.42, 31.12}, 3, 1, 0},
	{orb.Point{121.46, 31.11}, 4, 2, 2},
	{orb.Point{121.51, 31.11}, 6, 1, 0},
	{orb.Point{121.70, 31.40}, 0, 1, 0},
	{orb.Point{121.48, 31.18}, 2, 1, 1},
}

// expectedCounts counts the fixture per res-12 cell's ancestor at res for the households inside box
// whose area is in visible (nil: all, area-less ones included).
func expectedCounts(t *testing.T, res int, box orb.Bound, visible map[int64]bool, metric string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range fixtureHouseholds {
		if !box.Contains(h.p) || (visible != nil && !visible[h.area]) {
			continue
		}
		// The server counts in the ancestor of the resolution-12 cell (see
		// grid.H3Counts); h3-go computes it here, SQL bit arithmetic there.
		c12, err := geo.CellOf(h.p, 12)
		if err != nil {
			t.Fatal(err)
		}
		c, err := c12.Parent(res)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{"households": 1, "persons": h.persons, "vulnerable": h.vulnerable}[metric]
		if n > 0 {
			out[c.String()] += n
		}
	}
	return out
}

func TestH3Counts(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	wide := orb.Bound{Min: orb.Point{121.0, 31.0}, Max: orb.Point{122.0, 32.0}}
	const wideQ = "bbox=121,31,122,32"
	for _, tc := range []struct {
		user, metric string
		res          int
		visible      map[int64]bool
	}{
		{"admin", "households", 8, nil},
		{"admin", "households", 10, nil},
		{"admin", "persons", 7, nil},
		{"admin", "vulnerable", 12, nil},
		{"tracer", "households", 9, map[int64]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true}},
		{"worker", "persons", 8, map[int64]bool{3: true}},
		{"worker6", "households", 5, map[int64]bool{6: true}},
		{"commander", "vulnerable", 6, map[int64]bool{2: true, 3: true, 4: true}},
	} {
		path := "/api/v1/h3?res=" + strconv.Itoa(tc.res) + "&" + wideQ + "&metric=" + tc.metric
		fc := f.features(t, tc.user, path)
		want := expectedCounts(t, tc.res, wide, tc.visible, tc.metric)
		got := map[string]int{}
		total := 0
		for _, c := range fc.Features {
			cell := c.Properties["cell"].(string)
			if c.ID != cell {
				t.Errorf("%s: feature id %v, cell %s", path, c.ID, cell)
			}
			poly, ok := c.Geometry.(orb.Polygon)
			if !ok || len(poly) != 1 || len(poly[0]) != 7 || poly[0][0] != poly[0][6] {
				t.Errorf("%s: cell %s geometry %v", path, cell, c.Geometry)
			}
			pc, err := geo.ParseCell(cell)
			if err != nil || pc.Resolution() != tc.res {
				t.Errorf("%s: cell %s at res %d, %v", path, cell, pc.Resolution(), err)
			}
			n := int(c.Properties.MustFloat64("count"))
			got[cell] = n
			total += n
		}
		if len(got) != len(want) {
			t.Errorf("%s as %s: %v, want %v", path, tc.user, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s as %s: cell %s = %d, want %d", path, tc.user, k, got[k], v)
			}
		}
		if int(fc.ExtraMembers["total"].(float64)) != total || int(fc.ExtraMembers["res"].(float64)) != tc.res {
			t.Errorf("%s: members %v", path, fc.ExtraMembers)
		}
	}

	// Cases, with a time window: the tracer of the district sees cases 1, 2 and 4 (3
	// has no area; the viewer's counts are k-anonymous, see TestLocationPrivacy);
	// from 04-05 leaves 2 and 4.
	fc := f.features(t, "tracer", "/api/v1/h3?res=8&"+wideQ+"&metric=cases&from="+url.QueryEscape("2022-04-05T00:00:00+08:00"))
	c2, _ := geo.CellOf(orb.Point{121.52, 31.12}, 12)
	c4, _ := geo.CellOf(orb.Point{121.47, 31.12}, 12)
	c2, _ = c2.Parent(8)
	c4, _ = c4.Parent(8)
	if len(fc.Features) != 2 || fc.ExtraMembers["total"].(float64) != 2 {
		t.Fatalf("cases: %d cells %v", len(fc.Features), fc.ExtraMembers)
	}
	for _, c := range fc.Features {
		if cell := c.Properties["cell"]; cell != c2.String() && cell != c4.String() {
			t.Fatalf("case cell %v", cell)
		}
	}
	// Counts nest exactly: each res-8 cell holds the sum of its res-9 children.
	coarse := map[string]float64{}
	for _, c := range f.features(t, "admin", "/api/v1/h3?res=8&"+wideQ+"&metric=persons").Features {
		coarse[c.Properties["cell"].(string)] = c.Properties.MustFloat64("count")
	}
	summed := map[string]float64{}
	for _, c := range f.features(t, "admin", "/api/v1/h3?res=9&"+wideQ+"&metric=persons").Features {
		child, _ := geo.ParseCell(c.Properties["cell"].(string))
		parent, _ := child.Parent(8)
		summed[parent.String()] += c.Properties.MustFloat64("count")
	}
	if len(coarse) != len(summed) {
		t.Fatalf("res 8 %v, res 9 summed %v", coarse, summed)
	}
	for k, v := range coarse {
		if summed[k] != v {
			t.Fatalf("cell %s: %v at res 8, %v summed from res 9", k, v, summed[k])
		}
	}
	// A narrow box counts only what is inside it.
	fc = f.features(t, "admin", "/api/v1/h3?res=12&bbox=121.405,31.105,121.415,31.115")
	if len(fc.Features) != 1 || fc.Features[0].Properties.MustFloat64("count") != 1 {
		t.Fatalf("narrow box: %d cells", len(fc.Features))
	}
	// Below the fine resolutions a wide box is fine.
	f.features(t, "admin", "/api/v1/h3?res=9&bbox=120,30,123,33")

	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		{"admin", "/api/v1/h3?" + wideQ, http.StatusBadRequest, "res"},
		{"admin", "/api/v1/h3?res=4&" + wideQ, http.StatusBadRequest, "res"},
		{"admin", "/api/v1/h3?res=13&" + wideQ, http.StatusBadRequest, "res"},
		{"admin", "/api/v1/h3?res=x&" + wideQ, http.StatusBadRequest, "res"},
		{"admin", "/api/v1/h3?res=8", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/h3?res=8&bbox=121,31,122", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/h3?res=10&bbox=120,30,122,32", http.StatusBadRequest, "bbox"},
		{"admin", "/api/v1/h3?res=8&" + wideQ + "&metric=people", http.StatusBadRequest, "metric"},
		{"admin", "/api/v1/h3?res=8&" + wideQ + "&from=2022-04-05T00:00:00Z", http.StatusBadRequest, "from"},
		{"admin", "/api/v1/h3?res=8&" + wideQ + "&metric=cases&from=2022-04-05", http.StatusBadRequest, "from"},
		{"admin", "/api/v1/h3?res=8&" + wideQ + "&zoom=3", http.StatusBadRequest, "zoom"},
		{"nobody", "/api/v1/h3?res=8&" + wideQ, http.StatusUnauthorized, ""},
	} {
		var e apiError
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
}
