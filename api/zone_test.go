package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/paulmach/orb/geojson"
)

// zoneCounts counts zones, zone versions and zone changes: a refused request must
// leave all three unchanged.
func (f gridFixture) zoneCounts(t *testing.T) string {
	t.Helper()
	var z, v, ch int
	err := f.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM zones), (SELECT count(*) FROM zone_versions),
		(SELECT count(*) FROM changes WHERE entity = 'zone')`).Scan(&z, &v, &ch)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d zones, %d versions, %d changes", z, v, ch)
}

// send sends a JSON body as user and decodes the answer into out.
func (f gridFixture) send(t *testing.T, user, method, path, body string, out any) int {
	t.Helper()
	if e, ok := out.(*apiError); ok {
		*e = apiError{} // error answers omit an empty field: start from nothing
	}
	return do(t, method, f.url+path, f.tokens[user], body, out)
}

// sq is a GeoJSON Polygon member for the square [x0,x1]×[y0,y1].
func sq(x0, y0, x1, y1 float64) string {
	return fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`,
		x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
}

const bowtie = `{"type":"Polygon","coordinates":[[[121.41,31.11],[121.42,31.12],[121.42,31.11],[121.41,31.12],[121.41,31.11]]]}`

func TestZoneCreateAndBadInput(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	feature := &geojson.Feature{}
	code := f.send(t, "commander", "POST", "/api/v1/zones",
		`{"kind":"sealed","geometry":`+sq(121.405, 31.105, 121.425, 31.125)+`,"reason":"two cases in building 1"}`, feature)
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	id := feature.Properties.MustFloat64("id")
	if feature.ID != id || feature.Geometry.GeoJSONType() != "MultiPolygon" || feature.Properties["status"] != "active" ||
		feature.Properties["kind"] != "sealed" || feature.Properties["version"] != 1.0 || feature.Properties["area_id"] != 3.0 ||
		feature.Properties["eligible_to_lift_on"] == nil || feature.Properties["repaired"] != nil {
		t.Fatalf("created %+v %+v", feature.ID, feature.Properties)
	}
	if w := fmt.Sprint(feature.Properties["lift_waiting_for"]); !strings.Contains(w, "waiting for a negative round") {
		t.Fatalf("lift_waiting_for %s", w)
	}
	before := f.zoneCounts(t)

	big := bytes.Repeat([]byte(" "), 50<<20)
	copy(big, `{"kind":"sealed","reason":"x","geometry":`+sq(121.41, 31.11, 121.42, 31.12)+`}`)
	for _, tc := range []struct {
		name, user, body string
		status           int
		field, msg       string
	}{
		{"self-intersecting", "commander", `{"kind":"sealed","reason":"x","geometry":` + bowtie + `}`, 400, "geometry", "self-intersection: edges 0–1 and 2–3 cross at (121.4150000, 31.1150000)"},
		{"outside the jurisdiction", "commander", `{"kind":"sealed","reason":"x","geometry":` + sq(121.51, 31.11, 121.52, 31.12) + `}`, 403, "geometry", "outside your jurisdiction"},
		{"unknown kind", "commander", `{"kind":"quarantine","reason":"x","geometry":` + sq(121.41, 31.11, 121.42, 31.12) + `}`, 400, "kind", `"quarantine" is not one of sealed, control, precaution`},
		{"empty geometry", "commander", `{"kind":"sealed","reason":"x","geometry":{"type":"Polygon","coordinates":[]}}`, 400, "geometry", "is empty"},
		{"empty multipolygon", "commander", `{"kind":"sealed","reason":"x","geometry":{"type":"MultiPolygon","coordinates":[]}}`, 400, "geometry", "is empty"},
		{"missing geometry", "commander", `{"kind":"sealed","reason":"x"}`, 400, "geometry", "is required"},
		{"a line", "commander", `{"kind":"sealed","reason":"x","geometry":{"type":"LineString","coordinates":[[121.41,31.11],[121.42,31.12]]}}`, 400, "geometry", "Polygon or MultiPolygon"},
		{"not geojson", "commander", `{"kind":"sealed","reason":"x","geometry":{"type":"Blob"}}`, 400, "geometry", "not a GeoJSON geometry"},
		{"unknown field", "commander", `{"kind":"sealed","reason":"x","shape":1}`, 400, "shape", "not a known field"},
		{"grid worker", "worker", `{"kind":"sealed","reason":"x","geometry":` + sq(121.41, 31.11, 121.42, 31.12) + `}`, 403, "", "may not"},
	} {
		var e apiError
		code := f.send(t, tc.user, "POST", "/api/v1/zones", tc.body, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
		if !strings.Contains(e.Error.Message, tc.msg) {
			t.Errorf("%s: message %q does not say %q", tc.name, e.Error.Message, tc.msg)
		}
	}
	// 50 MB: refused from its Content-Length before it is read.
	req, _ := http.NewRequest("POST", f.url+"/api/v1/zones", bytes.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+f.tokens["commander"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e apiError
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large" {
		t.Fatalf("50 MB body: %d %+v", resp.StatusCode, e)
	}
	// 6 MB without a Content-Length (chunked): refused once 5 MB are read.
	long := `{"kind":"sealed","reason":"` + strings.Repeat("x", 6<<20) + `","geometry":` + sq(121.41, 31.11, 121.42, 31.12) + `}`
	req, _ = http.NewRequest("POST", f.url+"/api/v1/zones", io.MultiReader(strings.NewReader(long)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+f.tokens["commander"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 6 MB body: %d", resp.StatusCode)
	}
	if after := f.zoneCounts(t); after != before {
		t.Fatalf("refused requests wrote: %s, then %s", before, after)
	}

	// A repeated point and a clockwise ring are repaired, and the answer says so.
	cw := `{"type":"Polygon","coordinates":[[[121.41,31.11],[121.41,31.12],[121.41,31.12],[121.42,31.12],[121.42,31.11],[121.41,31.11]]]}`
	feature = &geojson.Feature{}
	if code := f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"control","reason":"x","geometry":`+cw+`}`, feature); code != http.StatusCreated {
		t.Fatalf("repairable: %d", code)
	}
	if r, _ := feature.Properties["repaired"].(string); !strings.Contains(r, "repeated") || !strings.Contains(r, "reoriented") {
		t.Fatalf("repaired %q", r)
	}
	// Every role reads zones in its jurisdiction; worker6 (community 6) sees none.
	if fc := f.features(t, "sampler", "/api/v1/zones"); len(fc.Features) != 2 {
		t.Fatalf("sampler sees %d zones", len(fc.Features))
	}
	if fc := f.features(t, "worker6", "/api/v1/zones"); len(fc.Features) != 0 {
		t.Fatalf("worker6 sees %d zones", len(fc.Features))
	}
	if code := f.get(t, "worker6", fmt.Sprintf("/api/v1/zones/%d", int(id)), nil); code != http.StatusNotFound {
		t.Fatalf("worker6 GET zone: %d", code)
	}
}

func TestZoneEditsAndDecisions(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	z := &geojson.Feature{}
	if code := f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"sealed","reason":"x","geometry":`+sq(121.405, 31.105, 121.425, 31.125)+`}`, z); code != 201 {
		t.Fatalf("create %d", code)
	}
	path := fmt.Sprintf("/api/v1/zones/%d", int(z.Properties.MustFloat64("id")))
	edit := `{"version":1,"reason":"larger compound","geometry":` + sq(121.405, 31.105, 121.43, 31.13) + `}`
	if code := f.send(t, "commander", "PUT", path, edit, z); code != 200 || z.Properties["version"] != 2.0 {
		t.Fatalf("edit: %d %v", code, z.Properties["version"])
	}
	// Another commander's edit of version 1 is stale.
	var e apiError
	code := f.send(t, "admin", "PUT", path, `{"version":1,"reason":"mine","kind":"sealed"}`, &e)
	wantError(t, "stale edit", code, e, http.StatusConflict, "version")
	if !strings.Contains(e.Error.Message, "the current version is 2") {
		t.Fatalf("stale edit: %q", e.Error.Message)
	}
	code = f.send(t, "commander", "PUT", path, `{"reason":"x"}`, &e)
	wantError(t, "no version", code, e, 400, "version")
	code = f.send(t, "commander", "PUT", path, `{"version":2,"reason":"x","geometry":`+bowtie+`}`, &e)
	wantError(t, "self-intersecting edit", code, e, 400, "geometry")
	code = f.send(t, "commander", "PUT", path, `{"version":2,"reason":"x","kind":"lockdown"}`, &e)
	wantError(t, "unknown kind edit", code, e, 400, "kind")

	// Lifting needs the policy's conditions (a negative round by default) or force.
	code = f.send(t, "commander", "POST", path+"/lift", `{"reason":"quiet"}`, &e)
	wantError(t, "early lift", code, e, http.StatusConflict, "status")
	if !strings.Contains(e.Error.Message, "negative round") || !strings.Contains(e.Error.Message, "force") {
		t.Fatalf("early lift: %q", e.Error.Message)
	}
	code = f.send(t, "viewer", "POST", path+"/lift", `{"reason":"x","force":true}`, &e)
	wantError(t, "viewer lift", code, e, http.StatusForbidden, "")
	if code := f.send(t, "commander", "POST", path+"/downgrade", `{"reason":"paper round negative","force":true,"version":2}`, z); code != 200 ||
		z.Properties["kind"] != "control" || z.Properties["status"] != "downgraded" {
		t.Fatalf("downgrade %d %+v", code, z.Properties)
	}
	if code := f.send(t, "commander", "DELETE", path+"?reason=all+clear&force=true", "", z); code != 200 || z.Properties["status"] != "lifted" {
		t.Fatalf("delete = lift: %d %+v", code, z.Properties)
	}
	code = f.send(t, "commander", "POST", path+"/accept", "", &e)
	wantError(t, "accept a lifted zone", code, e, http.StatusConflict, "status")
	// The history stays: four versions, and the lifted zone is still listed.
	vs := f.features(t, "viewer", path+"/versions")
	var actions []string
	for _, v := range vs.Features {
		actions = append(actions, fmt.Sprintf("%v:%v:%v", v.Properties["action"], v.Properties["changed_by_name"], v.Properties["forced"]))
	}
	if got := strings.Join(actions, " "); got != "create:commander:false edit:commander:false downgrade:commander:true lift:commander:true" {
		t.Fatalf("versions %s", got)
	}
	if fc := f.features(t, "viewer", "/api/v1/zones?status=lifted&kind=control,sealed"); len(fc.Features) != 1 {
		t.Fatalf("lifted zones: %d", len(fc.Features))
	}
	code = f.send(t, "viewer", "GET", "/api/v1/zones?status=gone", "", &e)
	wantError(t, "bad status filter", code, e, 400, "status")

	// A proposal accepted with no body, another rejected by DELETE.
	p := &geojson.Feature{}
	f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"control","status":"proposed","reason":"draft","geometry":`+sq(121.46, 31.11, 121.47, 31.12)+`}`, p)
	ppath := fmt.Sprintf("/api/v1/zones/%d", int(p.Properties.MustFloat64("id")))
	if code := f.send(t, "commander", "POST", ppath+"/accept", "", p); code != 200 || p.Properties["status"] != "active" || p.Properties["activated_at"] == nil {
		t.Fatalf("accept %d %+v", code, p.Properties)
	}
	f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"control","status":"proposed","reason":"draft","geometry":`+sq(121.46, 31.13, 121.47, 31.14)+`}`, p)
	ppath = fmt.Sprintf("/api/v1/zones/%d", int(p.Properties.MustFloat64("id")))
	if code := f.send(t, "commander", "DELETE", ppath, "", p); code != 200 || p.Properties["status"] != "rejected" {
		t.Fatalf("delete proposal %d %+v", code, p.Properties)
	}
}

func TestZoneProposeAPI(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	fc := geojson.NewFeatureCollection()
	code := f.send(t, "commander", "POST", "/api/v1/zones/propose", `{"bbox":[121.3,31.0,121.8,31.5],"from":"2022-04-01T00:00:00+08:00"}`, fc)
	if code != http.StatusOK {
		t.Fatalf("propose %d", code)
	}
	// Street 2's commander sees cases 1 and 4: three zones each.
	if len(fc.Features) != 6 || fc.ExtraMembers["cases"] != 2.0 || fc.ExtraMembers["policy_version"] != 1.0 {
		t.Fatalf("%d zones, members %v", len(fc.Features), fc.ExtraMembers)
	}
	kinds := map[string]int{}
	for _, z := range fc.Features {
		p := z.Properties
		kinds[p.MustString("kind")]++
		if z.ID != p["id"] || p["status"] != "proposed" || p["source"] != "computed" || p["policy_version"] != 1.0 ||
			p["version"] != 1.0 || len(p["case_ids"].([]any)) != 1 || p["escalation"] != "epidemic_point" {
			t.Fatalf("zone %+v", p)
		}
	}
	if kinds["sealed"] != 2 || kinds["control"] != 2 || kinds["precaution"] != 2 {
		t.Fatalf("kinds %v", kinds)
	}
	before := f.zoneCounts(t)
	var e apiError
	for _, tc := range []struct {
		name, user, body string
		status           int
		field            string
	}{
		{"no selection", "commander", `{}`, 400, "bbox"},
		{"bad bbox", "commander", `{"bbox":[121.5,31,121.4,31.2]}`, 400, "bbox"},
		{"bad from", "commander", `{"bbox":[121,31,122,32],"from":"yesterday"}`, 400, "from"},
		{"to before from", "commander", `{"bbox":[121,31,122,32],"from":"2022-04-05T00:00:00Z","to":"2022-04-04T00:00:00Z"}`, 400, "to"},
		{"area outside", "commander", `{"area_ids":[3,6]}`, 404, "area_ids[1]"},
		{"case outside", "commander", `{"case_ids":[2]}`, 404, "case_ids[0]"},
		{"sampler", "sampler", `{"bbox":[121,31,122,32]}`, 403, ""},
	} {
		code := f.send(t, tc.user, "POST", "/api/v1/zones/propose", tc.body, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	if after := f.zoneCounts(t); after != before {
		t.Fatalf("refused proposals wrote: %s, then %s", before, after)
	}
}

func TestZoneInsideAPI(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	z := &geojson.Feature{}
	if code := f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"sealed","reason":"x","geometry":`+sq(121.405, 31.105, 121.425, 31.125)+`}`, z); code != 201 {
		t.Fatalf("create %d", code)
	}
	path := fmt.Sprintf("/api/v1/zones/%d", int(z.Properties.MustFloat64("id")))
	fc := f.features(t, "sampler", path+"/households?limit=1")
	if featureIDs(fc) != "[1]" || fc.ExtraMembers["total"] != 2.0 || fc.ExtraMembers["next_offset"] != 1.0 {
		t.Fatalf("households %s %v", featureIDs(fc), fc.ExtraMembers)
	}
	persons := fc.Features[0].Properties["persons"].([]any)
	if p := persons[0].(map[string]any); p["name"] != "张三丰" || p["phone"] != "138****5678" {
		t.Fatalf("sampler sees %+v", p)
	}
	var sum struct {
		Households      int            `json:"households"`
		Persons         int            `json:"persons"`
		ByStatus        map[string]int `json:"by_status"`
		Vulnerable      []map[string]any
		VulnerableTotal int `json:"vulnerable_total"`
	}
	if code := f.get(t, "viewer", path+"/summary", &sum); code != 200 {
		t.Fatalf("summary %d", code)
	}
	if sum.Households != 2 || sum.Persons != 3 || sum.ByStatus["normal"] != 3 || sum.VulnerableTotal != 1 ||
		sum.Vulnerable[0]["name"] != "李*" || sum.Vulnerable[0]["household_id"] != 1.0 ||
		sum.Vulnerable[0]["address"] != "一社区**" || sum.Vulnerable[0]["building"] != "" {
		t.Fatalf("summary %+v", sum)
	}
	// CSV: everyone inside, the elderly person living alone first.
	req, _ := http.NewRequest("GET", f.url+path+"/summary?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["commander"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv %d %v", resp.StatusCode, err)
	}
	if len(recs) != 4 || recs[1][7] != "李四" || recs[1][13] != "elderly_alone" || recs[1][9] != "13900001111" {
		t.Fatalf("csv %q", recs)
	}
	var dash struct {
		Areas []map[string]any `json:"areas"`
	}
	if code := f.get(t, "commander", "/api/v1/zones/dashboard?level=community", &dash); code != 200 || len(dash.Areas) != 2 {
		t.Fatalf("dashboard %d %+v", code, dash)
	}
	for _, a := range dash.Areas {
		sealed := a["sealed"].(map[string]any)
		want := 0.0
		if a["area_id"] == 3.0 {
			want = 2
		}
		if sealed["households"] != want || a["control"] == nil || a["precaution"] == nil {
			t.Fatalf("dashboard area %+v", a)
		}
	}
	var e apiError
	code := f.send(t, "commander", "GET", "/api/v1/zones/dashboard?level=grid", "", &e)
	wantError(t, "grid dashboard", code, e, 400, "level")
	code = f.send(t, "commander", "GET", path+"/summary?format=xml", "", &e)
	wantError(t, "xml", code, e, 400, "format")
}

func TestZonePolicyAPI(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	var pol struct {
		Version int `json:"version"`
		Policy  struct {
			Control    map[string]any `json:"control"`
			Precaution map[string]any `json:"precaution"`
		} `json:"policy"`
	}
	if code := f.get(t, "viewer", "/api/v1/zone-policy", &pol); code != 200 || pol.Version != 1 || pol.Policy.Control["ring_k"] != 6.0 {
		t.Fatalf("policy %d %+v", code, pol)
	}
	body := func(version int, controlK int) string {
		return fmt.Sprintf(`{"version":%d,"policy":{"res":11,"sealed":{"mode":"ring","ring_k":1},"control":{"mode":"ring","ring_k":%d},
			"precaution":{"mode":"area","area_level":"street"},
			"escalation":{"seal_min_cases":1,"cluster_min_cases":2,"community_min_cases":2,"community_window_days":14},
			"lifting":{"days_without_case":14,"require_negative_round":false,"utc_offset_minutes":480}}}`, version, controlK)
	}
	var e apiError
	code := f.send(t, "commander", "PUT", "/api/v1/zone-policy", body(1, 6), &e)
	wantError(t, "commander", code, e, 403, "")
	code = f.send(t, "admin", "PUT", "/api/v1/zone-policy", body(1, 1), &e)
	wantError(t, "control inside sealed", code, e, 400, "policy.control.ring_k")
	code = f.send(t, "admin", "PUT", "/api/v1/zone-policy", strings.Replace(body(1, 6), `"res":11`, `"res":"eleven"`, 1), &e)
	wantError(t, "res as text", code, e, 400, "policy.res")
	code = f.send(t, "admin", "PUT", "/api/v1/zone-policy", strings.Replace(body(1, 6), `"ring_k":1`, `"ring":1`, 1), &e)
	wantError(t, "misspelt field", code, e, 400, "ring")
	if code := f.send(t, "admin", "PUT", "/api/v1/zone-policy", body(1, 6), &pol); code != 200 || pol.Version != 2 || pol.Policy.Precaution["mode"] != "area" {
		t.Fatalf("update %d %+v", code, pol)
	}
	code = f.send(t, "admin", "PUT", "/api/v1/zone-policy", body(1, 6), &e)
	wantError(t, "stale", code, e, 409, "version")

	// The new policy applies: the precaution zone is the enclosing street (area mode),
	// clipped to nothing beyond it, and proposals record version 2.
	fc := geojson.NewFeatureCollection()
	if code := f.send(t, "admin", "POST", "/api/v1/zones/propose", `{"case_ids":[1]}`, fc); code != 200 || fc.ExtraMembers["policy_version"] != 2.0 {
		t.Fatalf("propose under v2: %d %v", code, fc.ExtraMembers)
	}
	for _, z := range fc.Features {
		if z.Properties["kind"] == "precaution" {
			b := z.Geometry.Bound()
			// Street 2 is [121.40, 121.50] × [31.10, 31.20]; cells by centre stay within half a cell.
			if b.Min[0] < 121.3995 || b.Max[0] > 121.5005 || b.Max[1] < 31.19 {
				t.Fatalf("area-mode precaution bound %v", b)
			}
		}
	}
}
