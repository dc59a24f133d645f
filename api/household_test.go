package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
)

// personProps returns the persons of a household feature as JSON objects.
func personProps(t *testing.T, f *geojson.Feature) []map[string]any {
	t.Helper()
	raw, ok := f.Properties["persons"].([]any)
	if !ok {
		t.Fatalf("household %v has no persons: %v", f.ID, f.Properties)
	}
	out := make([]map[string]any, len(raw))
	for i, p := range raw {
		out[i] = p.(map[string]any)
	}
	return out
}

func featureByID(t *testing.T, fc *geojson.FeatureCollection, id int) *geojson.Feature {
	t.Helper()
	for _, f := range fc.Features {
		if int(f.Properties.MustFloat64("id")) == id {
			return f
		}
	}
	t.Fatalf("feature %d missing from %s", id, featureIDs(fc))
	return nil
}

// TestHouseholdListMasking is the demonstration: listing households in a
// bbox returns masked persons for a viewer and unmasked ones for an authorised grid
// worker inside their jurisdiction, and a grid worker gets nothing outside it.
func TestHouseholdListMasking(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	const bbox = "/api/v1/households?bbox=121.39,31.09,121.61,31.31"

	fc := f.features(t, "viewer", bbox)
	if got := featureIDs(fc); got != "[1 2 3 4 6]" {
		t.Fatalf("viewer of the district: %s", got)
	}
	h1 := featureByID(t, fc, 1)
	// The viewer has no personal access, so the household is placed as the map may
	// place it: at the centre of its res-9 cell, the address cut before its number.
	cell, err := geo.CellOf(orb.Point{121.41, 31.11}, grid.DefaultLocationPrivacy().MaxRes)
	if err != nil {
		t.Fatal(err)
	}
	centre, err := cell.Center()
	if err != nil {
		t.Fatal(err)
	}
	if pt, ok := h1.Geometry.(orb.Point); !ok || pt != centre || pt == (orb.Point{121.41, 31.11}) {
		t.Fatalf("viewer's household geometry %v, want its cell centre %v", h1.Geometry, centre)
	}
	if pr := h1.Properties; pr["address"] != "一社区**" || pr["building"] != "" || pr["unit"] != "" || pr["ext_id"] != "" || pr["h3_r12"] != nil {
		t.Fatalf("viewer's household properties %v", pr)
	}
	p := personProps(t, h1)[0]
	if p["name"] != "张**" || p["phone"] != "138****5678" || p["id_number"] != "310101********1234" ||
		p["birth_date"] != nil || p["birth_year"].(float64) != 1990 || fmt.Sprint(p["masked"]) != "[name phone id_number birth_date]" {
		t.Fatalf("viewer sees %v", p)
	}
	if rows := f.auditRows(t, "viewer"); len(rows) != 0 {
		t.Fatalf("masked reads audited: %+v", rows)
	}

	fc = f.features(t, "worker", bbox)
	if got := featureIDs(fc); got != "[1 2]" {
		t.Fatalf("grid worker of community 3: %s", got)
	}
	h1 = featureByID(t, fc, 1)
	if pt, ok := h1.Geometry.(orb.Point); !ok || pt != (orb.Point{121.41, 31.11}) || h1.Properties["address"] != "一社区1号" || h1.Properties["building"] != "1" {
		t.Fatalf("grid worker's household %v %v", h1.Geometry, h1.Properties)
	}
	p = personProps(t, h1)[0]
	if p["name"] != "张三丰" || p["phone"] != "13812345678" || p["id_number"] != "310101199001021234" ||
		p["birth_date"] != "1990-01-02" || fmt.Sprint(p["masked"]) != "[]" {
		t.Fatalf("grid worker sees %v", p)
	}
	rows := f.auditRows(t, "worker")
	if len(rows) != 1 || rows[0].action != "read_person" || rows[0].entity != "person" ||
		rows[0].route != "GET /api/v1/households" || fmt.Sprint(rows[0].personIDs) != "[1 2 3]" {
		t.Fatalf("audit after the grid worker's list: %+v", rows)
	}

	// Outside their jurisdiction a grid worker gets nothing, whatever the box.
	fc = f.features(t, "worker6", "/api/v1/households?bbox=121.40,31.10,121.50,31.15")
	if len(fc.Features) != 0 || fc.ExtraMembers["total"].(float64) != 0 {
		t.Fatalf("grid worker of community 6 over communities 3 and 4: %s", featureIDs(fc))
	}
	if rows := f.auditRows(t, "worker6"); len(rows) != 0 {
		t.Fatalf("empty read audited: %+v", rows)
	}

	// A sampler sees names, nothing else.
	p = personProps(t, featureByID(t, f.features(t, "sampler", bbox), 1))[0]
	if p["name"] != "张三丰" || p["phone"] != "138****5678" || p["birth_date"] != nil {
		t.Fatalf("sampler sees %v", p)
	}
	if rows := f.auditRows(t, "sampler"); len(rows) != 1 {
		t.Fatalf("sampler's name read not audited: %+v", rows)
	}
	// A tracer of the district sees phones of everyone in it.
	p = personProps(t, featureByID(t, f.features(t, "tracer", bbox), 4))[0]
	if p["phone"] != "13500004444" {
		t.Fatalf("tracer sees %v", p)
	}
	// Admin sees the household outside every area too.
	if got := featureIDs(f.features(t, "admin", "/api/v1/households")); got != "[1 2 3 4 5 6]" {
		t.Fatalf("admin: %s", got)
	}
	// Without persons there is nothing personal to log.
	fc = f.features(t, "worker", "/api/v1/households?area=3&persons=false")
	if _, ok := fc.Features[0].Properties["persons"]; ok || featureIDs(fc) != "[1 2]" {
		t.Fatalf("persons=false: %v", fc.Features[0].Properties)
	}
	if rows := f.auditRows(t, "worker"); len(rows) != 1 {
		t.Fatalf("persons=false audited: %+v", rows)
	}
}

func TestHouseholdListParams(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	if got := featureIDs(f.features(t, "commander", "/api/v1/households?area=4")); got != "[3]" {
		t.Fatalf("area 4: %s", got)
	}
	fc := f.features(t, "admin", "/api/v1/households?limit=2&offset=2")
	if got := featureIDs(fc); got != "[3 4]" || fc.ExtraMembers["total"].(float64) != 6 ||
		fc.ExtraMembers["next_offset"].(float64) != 4 || fc.ExtraMembers["limit"].(float64) != 2 {
		t.Fatalf("page: %s %v", got, fc.ExtraMembers)
	}
	props := fc.Features[0].Properties
	c, _ := geo.CellOf(orb.Point{121.46, 31.11}, 8)
	if props["h3_r8"] != c.String() || props["address"] != "二社区1号" || props["area_id"].(float64) != 4 || props["version"].(float64) != 1 {
		t.Fatalf("properties %v", props)
	}
	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		{"worker", "/api/v1/households?area=4", http.StatusNotFound, "area"},
		{"worker", "/api/v1/households?area=0", http.StatusBadRequest, "area"},
		{"worker", "/api/v1/households?bbox=121.4,31.1", http.StatusBadRequest, "bbox"},
		{"worker", "/api/v1/households?bbox=121.4,95,121.5,96", http.StatusBadRequest, "bbox"},
		{"worker", "/api/v1/households?persons=maybe", http.StatusBadRequest, "persons"},
		{"worker", "/api/v1/households?limit=5000", http.StatusBadRequest, "limit"},
		{"worker", "/api/v1/households?page=2", http.StatusBadRequest, "page"},
		{"nobody", "/api/v1/households", http.StatusUnauthorized, ""},
	} {
		var e apiError
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
}

func TestHouseholdGet(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	var h geojson.Feature
	if code := f.get(t, "worker", "/api/v1/households/1", &h); code != http.StatusOK || h.Type != "Feature" {
		t.Fatalf("get: %d", code)
	}
	ps := personProps(t, &h)
	if len(ps) != 2 || ps[0]["name"] != "张三丰" || ps[1]["name"] != "李四" || fmt.Sprint(ps[1]["vulnerability"]) != "[elderly_alone]" {
		t.Fatalf("persons %v", ps)
	}
	rows := f.auditRows(t, "worker")
	if len(rows) != 1 || rows[0].entity != "household" || rows[0].entityID != 1 ||
		rows[0].route != "GET /api/v1/households/:id" || fmt.Sprint(rows[0].personIDs) != "[1 2]" {
		t.Fatalf("audit %+v", rows)
	}
	if code := f.get(t, "viewer", "/api/v1/households/1", &h); code != http.StatusOK || personProps(t, &h)[0]["name"] != "张**" {
		t.Fatalf("viewer get: %d", code)
	}
	if code := f.get(t, "admin", "/api/v1/households/5", &h); code != http.StatusOK || h.Properties["area_id"] != nil {
		t.Fatalf("admin gets the household in no area: %d %v", code, h.Properties)
	}
	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		{"worker", "/api/v1/households/3", http.StatusNotFound, "id"},    // community 4
		{"commander", "/api/v1/households/5", http.StatusNotFound, "id"}, // no area: admin only
		{"worker", "/api/v1/households/99999", http.StatusNotFound, "id"},
		{"worker", "/api/v1/households/x", http.StatusBadRequest, "id"},
		{"worker", "/api/v1/households/1?persons=false", http.StatusBadRequest, "persons"},
		{"nobody", "/api/v1/households/1", http.StatusUnauthorized, ""},
	} {
		var e apiError
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
	if rows := f.auditRows(t, "worker"); len(rows) != 1 {
		t.Fatalf("refused reads audited: %+v", rows)
	}
}

func TestHouseholdWrite(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	post := func(user, body string, out any) int {
		t.Helper()
		return do(t, "POST", f.url+"/api/v1/households", f.tokens[user], body, out)
	}
	put := func(user string, id int64, body string, out any) int {
		t.Helper()
		return do(t, "PUT", fmt.Sprintf("%s/api/v1/households/%d", f.url, id), f.tokens[user], body, out)
	}

	var h geojson.Feature
	body := `{"address":"一社区9号","building":"9","lng":121.44,"lat":31.14,"flags":["elevator"],
		"persons":[{"name":"甲","phone":"13811112222","birth_date":"1950-02-03","vulnerability":["elderly_alone"]},{"name":"乙"}]}`
	if code := post("worker", body, &h); code != http.StatusCreated {
		t.Fatalf("create: %d %+v", code, h)
	}
	id := int64(h.Properties.MustFloat64("id"))
	ps := personProps(t, &h)
	c12, _ := geo.CellOf(orb.Point{121.44, 31.14}, 12)
	if h.Properties["area_id"].(float64) != 3 || h.Properties["version"].(float64) != 1 || h.Properties["h3_r12"] != c12.String() ||
		len(ps) != 2 || ps[0]["birth_date"] != "1950-02-03" || ps[0]["status"] != "normal" || ps[0]["health_code"] != "green" {
		t.Fatalf("created %v", h.Properties)
	}
	var changes int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM changes WHERE entity = 'household' AND entity_id = $1 AND area_id = 3`, id).Scan(&changes); err != nil || changes != 1 {
		t.Fatalf("outbox rows %d %v", changes, err)
	}

	// Update with the version read: 200, version 2; the same again is stale: 409.
	upd := fmt.Sprintf(`{"version":1,"address":"一社区9号","lng":121.44,"lat":31.14,"persons":[{"id":%d,"name":"甲"}]}`, int64(ps[0]["id"].(float64)))
	if code := put("worker", id, upd, &h); code != http.StatusOK || h.Properties["version"].(float64) != 2 || len(personProps(t, &h)) != 1 {
		t.Fatalf("update: %d %v", code, h.Properties)
	}
	var e apiError
	code := put("worker", id, upd, &e)
	wantError(t, "stale version", code, e, http.StatusConflict, "version")
	if !strings.Contains(e.Error.Message, "current version is 2") {
		t.Fatalf("409 does not name the current version: %q", e.Error.Message)
	}

	// A street commander moves a household from community 3 to 4: the outbox row
	// names the new area and the old one, with a box over both points.
	if code := put("commander", 2, `{"version":1,"address":"二社区9号","lng":121.47,"lat":31.13}`, &h); code != http.StatusOK || h.Properties["area_id"].(float64) != 4 ||
		h.Properties["ext_id"] != "h-2" {
		// An edit without ext_id keeps the import key.
		t.Fatalf("move: %d %v", code, h.Properties)
	}
	var prev int64
	var bbox []float64
	if err := f.pool.QueryRow(context.Background(), `SELECT (payload->>'prev_area_id')::bigint, bbox FROM changes WHERE entity_id = 2`).Scan(&prev, &bbox); err != nil || prev != 3 || fmt.Sprint(bbox) != "[121.42 31.12 121.47 31.13]" {
		t.Fatalf("move change: %d %v %v", prev, bbox, err)
	}
	// Admin may file a household outside every area.
	if code := post("admin", `{"address":"外","lng":122.5,"lat":31.5}`, &h); code != http.StatusCreated || h.Properties["area_id"] != nil {
		t.Fatalf("admin outside: %d %v", code, h.Properties)
	}

	for _, tc := range []struct {
		name, user, method string
		id                 int64
		body               string
		status             int
		field              string
	}{
		{"bad JSON", "worker", "POST", 0, `{"address":`, http.StatusBadRequest, "body"},
		{"empty body", "worker", "POST", 0, ``, http.StatusBadRequest, "body"},
		{"unknown field", "worker", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11,"color":"red"}`, http.StatusBadRequest, "color"},
		{"wrong type", "worker", "POST", 0, `{"address":"x","lng":"121.41","lat":31.11}`, http.StatusBadRequest, "lng"},
		{"lng out of range", "worker", "POST", 0, `{"address":"x","lng":200,"lat":31.11}`, http.StatusBadRequest, "lng"},
		{"lat out of range", "worker", "POST", 0, `{"address":"x","lng":121.41,"lat":-91}`, http.StatusBadRequest, "lat"},
		{"no lat", "worker", "POST", 0, `{"address":"x","lng":121.41}`, http.StatusBadRequest, "lat"},
		{"no address", "worker", "POST", 0, `{"address":" ","lng":121.41,"lat":31.11}`, http.StatusBadRequest, "address"},
		{"person without name", "worker", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11,"persons":[{"name":""}]}`, http.StatusBadRequest, "persons[0].name"},
		{"bad birth date", "worker", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11,"persons":[{"name":"a","birth_date":"1990-13-01"}]}`, http.StatusBadRequest, "persons[0].birth_date"},
		{"bad status", "worker", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11,"persons":[{"name":"a","status":"fine"}]}`, http.StatusBadRequest, "persons[0].status"},
		{"version on create", "worker", "POST", 0, `{"version":1,"address":"x","lng":121.41,"lat":31.11}`, http.StatusBadRequest, "version"},
		{"point outside jurisdiction", "worker", "POST", 0, `{"address":"x","lng":121.46,"lat":31.11}`, http.StatusForbidden, "location"},
		{"point outside every area", "worker", "POST", 0, `{"address":"x","lng":122.5,"lat":31.5}`, http.StatusForbidden, "location"},
		{"viewer may not write", "viewer", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11}`, http.StatusForbidden, ""},
		{"sampler may not write", "sampler", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11}`, http.StatusForbidden, ""},
		{"tracer may not edit", "tracer", "PUT", 1, `{"version":1,"address":"x","lng":121.41,"lat":31.11}`, http.StatusForbidden, ""},
		{"no auth", "nobody", "POST", 0, `{"address":"x","lng":121.41,"lat":31.11}`, http.StatusUnauthorized, ""},
		{"put without version", "worker", "PUT", 1, `{"address":"x","lng":121.41,"lat":31.11}`, http.StatusBadRequest, "version"},
		{"put bad JSON", "worker", "PUT", 1, `[1,2]`, http.StatusBadRequest, "body"},
		{"put unknown id", "worker", "PUT", 99999, `{"version":1,"address":"x","lng":121.41,"lat":31.11}`, http.StatusNotFound, "id"},
		{"put outside jurisdiction", "worker", "PUT", 3, `{"version":1,"address":"x","lng":121.46,"lat":31.11}`, http.StatusNotFound, "id"},
		{"put moving outside", "worker", "PUT", 1, `{"version":1,"address":"x","lng":121.46,"lat":31.11}`, http.StatusForbidden, "location"},
		{"put removing a case's person", "worker", "PUT", 1, `{"version":1,"address":"x","lng":121.41,"lat":31.11,"persons":[]}`, http.StatusConflict, "persons"},
		{"put another household's person", "worker", "PUT", 1, `{"version":1,"address":"x","lng":121.41,"lat":31.11,"persons":[{"id":4,"name":"x"}]}`, http.StatusBadRequest, "persons[0].id"},
		{"ext_id taken", "worker", "POST", 0, `{"ext_id":"h-1","address":"x","lng":121.41,"lat":31.11}`, http.StatusConflict, "ext_id"},
	} {
		var e apiError
		var code int
		if tc.method == "POST" {
			code = post(tc.user, tc.body, &e)
		} else {
			code = put(tc.user, tc.id, tc.body, &e)
		}
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	// Refused writes left household 1 as it was.
	var v int
	if err := f.pool.QueryRow(context.Background(), `SELECT version FROM households WHERE id = 1`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("household 1 version %d %v", v, err)
	}
}
