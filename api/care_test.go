package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
)

// careCounts counts every table the care routes write, and their change rows: a
// refused request must leave them all unchanged.
func (f gridFixture) careCounts(t *testing.T) string {
	t.Helper()
	var out []int
	for _, table := range []string{"isolations", "checkins", "alerts", "transfers", "isolation_sites", "care_contacts", "care_workers",
		"deliveries", "report_submissions", "care_policies", "changes", "persons WHERE status <> 'normal'"} {
		var n int
		if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return fmt.Sprint(out)
}

// TestCareBadInput: every refused request names its field (or is 404/403) and writes
// nothing.
func TestCareBadInput(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	var iso struct {
		ID int64 `json:"id"`
	}
	if code := f.send(t, "worker", "POST", "/api/v1/isolations", `{"person_id":3,"kind":"health_monitoring","reason":"returnee"}`, &iso); code != http.StatusCreated {
		t.Fatalf("place: %d", code)
	}
	path := fmt.Sprintf("/api/v1/isolations/%d/checkins", iso.ID)
	before := f.careCounts(t)
	for _, tc := range []struct {
		name, user, method, path, body string
		status                         int
		field                          string
	}{
		{"temperature too low", "worker", "POST", path, `{"temperature_c":29.9}`, 400, "temperature_c"},
		{"temperature too high", "worker", "POST", path, `{"temperature_c":45.1}`, 400, "temperature_c"},
		{"temperature missing", "worker", "POST", path, `{"source":"worker"}`, 400, "temperature_c"},
		{"temperature a string", "worker", "POST", path, `{"temperature_c":"37"}`, 400, "temperature_c"},
		{"unknown source", "worker", "POST", path, `{"temperature_c":36.5,"source":"neighbour"}`, 400, "source"},
		{"check-in in the future", "worker", "POST", path, `{"temperature_c":36.5,"at":"2099-01-01T00:00:00Z"}`, 400, "at"},
		{"check-in outside the jurisdiction", "worker6", "POST", path, `{"temperature_c":36.5}`, 404, ""},
		{"check-in of an unknown spell", "worker", "POST", "/api/v1/isolations/99999/checkins", `{"temperature_c":36.5}`, 404, ""},
		{"check-in by a viewer", "viewer", "POST", path, `{"temperature_c":36.5}`, 403, ""},
		{"unknown person", "worker", "POST", "/api/v1/isolations", `{"person_id":99999,"kind":"health_monitoring","reason":"returnee"}`, 404, "person_id"},
		{"person outside the jurisdiction", "worker", "POST", "/api/v1/isolations", `{"person_id":6,"kind":"health_monitoring","reason":"returnee"}`, 404, "person_id"},
		{"ineligible for home isolation", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"home_isolation","reason":"close_contact","separate_room":true,"separate_bathroom":true}`, 400, "eligibility"},
		{"unknown kind", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"quarantine","reason":"returnee"}`, 400, "kind"},
		{"unknown reason", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"health_monitoring","reason":"bored"}`, 400, "reason"},
		{"bad start date", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"health_monitoring","reason":"returnee","start_date":"2026-13-01"}`, 400, "start_date"},
		{"start date in the future", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"health_monitoring","reason":"returnee","start_date":"2099-01-01"}`, 400, "start_date"},
		{"period too long", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"health_monitoring","reason":"returnee","period_days":61}`, 400, "period_days"},
		{"already under isolation", "worker", "POST", "/api/v1/isolations", `{"person_id":3,"kind":"health_monitoring","reason":"returnee"}`, 409, "person_id"},
		{"unknown field", "worker", "POST", "/api/v1/isolations", `{"person_id":1,"kind":"health_monitoring","reason":"returnee","colour":1}`, 400, "colour"},
		{"read a spell outside the jurisdiction", "worker6", "GET", fmt.Sprintf("/api/v1/isolations/%d", iso.ID), "", 404, ""},
		{"report: bad date", "commander", "GET", "/api/v1/reports/daily?date=2026-02-30&level=community", "", 400, "date"},
		{"report: no date", "commander", "GET", "/api/v1/reports/daily?level=community", "", 400, "date"},
		{"report: date in the future", "commander", "GET", "/api/v1/reports/daily?date=2099-01-01&level=community", "", 400, "date"},
		{"report: unknown level", "commander", "GET", "/api/v1/reports/daily?date=2026-01-01&level=building", "", 400, "level"},
		{"report: unknown format", "commander", "GET", "/api/v1/reports/daily?date=2026-01-01&level=grid&format=pdf", "", 400, "format"},
		{"report: unknown parameter", "commander", "GET", "/api/v1/reports/daily?date=2026-01-01&level=grid&lvl=1", "", 400, "lvl"},
		{"submit a community", "worker", "POST", "/api/v1/reports/daily/submissions", `{"area_id":3,"date":"2026-01-01"}`, 400, "area_id"},
		{"submit outside the jurisdiction", "worker6", "POST", "/api/v1/reports/daily/submissions", `{"area_id":3,"date":"2026-01-01"}`, 404, "area_id"},
		{"site outside the jurisdiction", "commander", "POST", "/api/v1/sites", `{"name":"x","location":[121.52,31.12],"rooms":3}`, 403, "location"},
		{"site without rooms", "commander", "POST", "/api/v1/sites", `{"name":"x","location":[121.41,31.11]}`, 400, "rooms"},
		{"site by a worker", "worker", "POST", "/api/v1/sites", `{"name":"x","location":[121.41,31.11],"rooms":3}`, 403, ""},
		{"transfer to an unknown site", "commander", "POST", "/api/v1/transfers", `{"person_id":1,"site_id":999,"reason":"close_contact"}`, 404, "site_id"},
		{"contact with an unknown need", "worker", "POST", "/api/v1/vulnerable/2/contacts", `{"needs":["petrol"]}`, 400, "needs"},
		{"contact with a person without flag", "worker", "POST", "/api/v1/vulnerable/1/contacts", `{"needs":[]}`, 400, "person_id"},
		{"contact outside the jurisdiction", "worker6", "POST", "/api/v1/vulnerable/2/contacts", `{"needs":[]}`, 404, "person_id"},
		{"delivery to a household neither sealed nor isolated", "worker", "POST", "/api/v1/deliveries", `{"household_id":1,"items":["food"]}`, 400, "household_id"},
		{"alert outside the jurisdiction", "worker6", "POST", "/api/v1/alerts/1/close", "", 404, ""},
		{"care policy by a commander", "commander", "PUT", "/api/v1/care-policy", `{"version":0,"policy":{}}`, 403, ""},
		{"care policy with a bad fever line", "admin", "PUT", "/api/v1/care-policy", `{"version":0,"policy":{"period_days":14,"fever_c":42,"checkin_hours":[12,20],"contact_hour":18,"elderly_min_age":70,"child_max_age":14,"utc_offset_minutes":480}}`, 400, "policy.fever_c"},
	} {
		var e apiError
		code := f.send(t, tc.user, tc.method, tc.path, tc.body, &e)
		wantError(t, tc.name, code, e, tc.status, tc.field)
	}
	if after := f.careCounts(t); after != before {
		t.Fatalf("refused requests wrote: %s, then %s", before, after)
	}
}

// TestCareFlowAndReport: a fever check-in raises an alert seen by the commander and
// the worker, the daily report answers zeros for empty units in JSON, CSV and HTML,
// and a worker's submission shows in the street's list of missing grids.
func TestCareFlowAndReport(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	ctx := context.Background()
	// Two grids under community 3 (grid 7 holds households 1 and 2), one under 4.
	if _, err := f.pool.Exec(ctx, `
		INSERT INTO areas (id, parent_id, level, name, code, ancestors, geom) VALUES
		  (7, 3, 'grid', '一网格', '测试区/甲街道/一社区/一网格', '{1,2,3,7}', ST_Multi(ST_MakeEnvelope(121.40, 31.10, 121.43, 31.15, 4326))),
		  (8, 3, 'grid', '二网格', '测试区/甲街道/一社区/二网格', '{1,2,3,8}', ST_Multi(ST_MakeEnvelope(121.43, 31.10, 121.45, 31.15, 4326))),
		  (9, 4, 'grid', '三网格', '测试区/甲街道/二社区/三网格', '{1,2,4,9}', ST_Multi(ST_MakeEnvelope(121.45, 31.10, 121.50, 31.15, 4326)));
		UPDATE households SET area_id = 7 WHERE id IN (1, 2);`); err != nil {
		t.Fatal(err)
	}
	var iso struct {
		ID          int64  `json:"id"`
		PersonName  string `json:"person_name"`
		LastDay     string `json:"last_day"`
		Eligibility struct {
			Eligible bool     `json:"eligible"`
			Grounds  []string `json:"grounds"`
		} `json:"eligibility"`
	}
	var elig struct {
		Eligible bool     `json:"eligible"`
		Reasons  []string `json:"reasons"`
	}
	if code := f.send(t, "worker", "POST", "/api/v1/isolations/eligibility", `{"person_id":2,"separate_room":true}`, &elig); code != 200 || elig.Eligible ||
		len(elig.Reasons) != 1 || elig.Reasons[0] != "no separate bathroom" {
		t.Fatalf("eligibility: %d %+v", code, elig)
	}
	if code := f.send(t, "worker", "POST", "/api/v1/isolations",
		`{"person_id":2,"kind":"home_isolation","reason":"close_contact","separate_room":true,"separate_bathroom":true}`, &iso); code != http.StatusCreated ||
		iso.PersonName != "李四" || !iso.Eligibility.Eligible {
		t.Fatalf("place: %d %+v", code, iso)
	}
	var k struct {
		Fever   bool   `json:"fever"`
		AlertID *int64 `json:"alert_id"`
	}
	if code := f.send(t, "worker", "POST", fmt.Sprintf("/api/v1/isolations/%d/checkins", iso.ID), `{"temperature_c":38.2,"source":"resident"}`, &k); code != http.StatusCreated ||
		!k.Fever || k.AlertID == nil {
		t.Fatalf("fever check-in: %d %+v", code, k)
	}
	var alerts struct {
		Alerts []struct {
			ID      int64  `json:"id"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"alerts"`
	}
	for _, u := range []string{"commander", "worker", "admin"} {
		if code := f.get(t, u, "/api/v1/alerts", &alerts); code != 200 || len(alerts.Alerts) != 1 || alerts.Alerts[0].Kind != "fever" {
			t.Fatalf("%s alerts: %d %+v", u, code, alerts)
		}
	}
	if code := f.get(t, "worker6", "/api/v1/alerts", &alerts); code != 200 || len(alerts.Alerts) != 0 {
		t.Fatalf("worker6 alerts: %+v", alerts)
	}
	// A viewer sees the spell masked; the read by the worker in clear is audited.
	// The viewer also gets the place as the map shows it: the address cut before its
	// number and the res-9 cell's centre, in the isolations and in the alerts.
	var list struct {
		Isolations []struct {
			PersonName string     `json:"person_name"`
			Address    string     `json:"address"`
			Location   [2]float64 `json:"location"`
		} `json:"isolations"`
	}
	home := orb.Point{121.41, 31.11}
	if code := f.get(t, "viewer", "/api/v1/isolations", &list); code != 200 || len(list.Isolations) != 1 || list.Isolations[0].PersonName != "李*" ||
		list.Isolations[0].Address != "一社区**" || orb.Point(list.Isolations[0].Location) == home {
		t.Fatalf("viewer list: %+v", list)
	}
	cell, err := geo.CellOf(home, grid.DefaultLocationPrivacy().MaxRes)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := geo.CellOf(orb.Point(list.Isolations[0].Location), 12); err != nil || got.Resolution() != 12 {
		t.Fatalf("viewer location %v: %v", list.Isolations[0].Location, err)
	} else if parent, _ := got.Parent(cell.Resolution()); parent != cell {
		t.Fatalf("viewer location %v is not in the household's cell %s", list.Isolations[0].Location, cell)
	}
	var placed struct {
		Alerts []struct {
			Location [2]float64 `json:"location"`
		} `json:"alerts"`
	}
	if code := f.get(t, "viewer", "/api/v1/alerts", &placed); code != 200 || len(placed.Alerts) != 1 || orb.Point(placed.Alerts[0].Location) == home {
		t.Fatalf("viewer alerts: %d %+v", code, placed)
	}
	if code := f.get(t, "commander", "/api/v1/alerts", &placed); code != 200 || len(placed.Alerts) != 1 || orb.Point(placed.Alerts[0].Location) != home {
		t.Fatalf("commander alerts: %d %+v", code, placed)
	}
	f.get(t, "worker", "/api/v1/isolations", &list)
	if list.Isolations[0].Address != "一社区1号" || orb.Point(list.Isolations[0].Location) != home {
		t.Fatalf("worker list: %+v", list)
	}
	if rows := f.auditRows(t, "worker"); len(rows) == 0 || rows[len(rows)-1].action != "read_person" {
		t.Fatalf("worker's read not audited: %+v", rows)
	}

	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	var rep struct {
		Rows []map[string]any `json:"rows"`
	}
	if code := f.get(t, "commander", "/api/v1/reports/daily?date="+today+"&level=grid", &rep); code != 200 || len(rep.Rows) != 3 {
		t.Fatalf("grid report: %d %+v", code, rep)
	}
	byID := map[float64]map[string]any{}
	for _, r := range rep.Rows {
		byID[r["area_id"].(float64)] = r
	}
	if byID[7]["home_isolation"] != 1.0 || byID[7]["alerts_open"] != 1.0 || byID[8]["home_isolation"] != 0.0 || byID[9]["alerts_open"] != 0.0 {
		t.Fatalf("grid rows %+v", byID)
	}
	var sub map[string]any
	if code := f.send(t, "worker", "POST", "/api/v1/reports/daily/submissions", `{"area_id":7,"date":"`+today+`"}`, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d %+v", code, sub)
	}
	var missing struct {
		Grids   int `json:"grids"`
		Missing []struct {
			AreaID int64 `json:"area_id"`
		} `json:"missing"`
	}
	if code := f.get(t, "commander", "/api/v1/reports/daily/missing?date="+today, &missing); code != 200 || missing.Grids != 3 ||
		len(missing.Missing) != 2 || missing.Missing[0].AreaID == 7 || missing.Missing[1].AreaID == 7 {
		t.Fatalf("missing: %+v", missing)
	}
	// Community level: 3 and 4 for the commander of street 2, zeros for 4.
	if code := f.get(t, "commander", "/api/v1/reports/daily?date="+today+"&level=community", &rep); code != 200 || len(rep.Rows) != 2 {
		t.Fatalf("community report: %d %+v", code, rep)
	}
	for _, r := range rep.Rows {
		if r["area_id"] == 4.0 {
			for _, c := range []string{"home_isolation", "central_isolation", "health_monitoring", "households_sealed", "alerts_open", "grids_submitted"} {
				if r[c] != 0.0 {
					t.Fatalf("community 4 %s = %v, want an explicit 0", c, r[c])
				}
			}
		}
		if r["area_id"] == 3.0 && (r["grids"] != 2.0 || r["grids_submitted"] != 1.0) {
			t.Fatalf("community 3: %+v", r)
		}
	}
	// CSV and HTML.
	req, _ := http.NewRequest("GET", f.url+"/api/v1/reports/daily?date="+today+"&level=community&format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["commander"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(recs) != 3 || recs[0][0] != "area_id" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v %v", resp.StatusCode, recs, err)
	}
	req, _ = http.NewRequest("GET", f.url+"/api/v1/reports/daily?date="+today+"&level=community&format=html", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["commander"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<table>") || strings.Count(string(body), "<tr>") != 3 || !strings.Contains(string(body), "二社区") {
		t.Fatalf("html: %d %s", resp.StatusCode, body)
	}
	// The alert is acknowledged then closed; a second close is a conflict.
	var a map[string]any
	if code := f.send(t, "worker", "POST", fmt.Sprintf("/api/v1/alerts/%d/acknowledge", *k.AlertID), "", &a); code != 200 || a["status"] != "acknowledged" {
		t.Fatalf("acknowledge: %d %v", code, a)
	}
	if code := f.send(t, "commander", "POST", fmt.Sprintf("/api/v1/alerts/%d/close", *k.AlertID), "", &a); code != 200 || a["status"] != "closed" {
		t.Fatalf("close: %d %v", code, a)
	}
	var e apiError
	if code := f.send(t, "commander", "POST", fmt.Sprintf("/api/v1/alerts/%d/close", *k.AlertID), "", &e); code != http.StatusConflict {
		t.Fatalf("second close: %d", code)
	}
}

// TestCareListsNameWhoAndWhere: the transfer list names the person (masked per role,
// the clear read audited) and the site, and the delivery list the household's
// address (cut for a viewer), so command staff need not look ids up.
func TestCareListsNameWhoAndWhere(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	var site struct {
		ID int64 `json:"id"`
	}
	if code := f.send(t, "commander", "POST", "/api/v1/sites", `{"name":"方舱一","address":"一号路","location":[121.42,31.12],"rooms":3}`, &site); code != http.StatusCreated {
		t.Fatalf("site: %d", code)
	}
	if code := f.send(t, "commander", "POST", "/api/v1/transfers", fmt.Sprintf(`{"person_id":1,"site_id":%d,"reason":"close_contact","vehicle":"沪A1"}`, site.ID), nil); code != http.StatusCreated {
		t.Fatalf("transfer: %d", code)
	}
	type transfers struct {
		Transfers []struct {
			PersonID   int64  `json:"person_id"`
			PersonName string `json:"person_name"`
			SiteName   string `json:"site_name"`
		} `json:"transfers"`
	}
	var got transfers
	if code := f.get(t, "commander", "/api/v1/transfers", &got); code != 200 || len(got.Transfers) != 1 ||
		got.Transfers[0].PersonName != "张三丰" || got.Transfers[0].SiteName != "方舱一" {
		t.Fatalf("commander's transfers: %d %+v", code, got)
	}
	rows := f.auditRows(t, "commander")
	if len(rows) == 0 || rows[len(rows)-1].action != "read_person" || rows[len(rows)-1].entity != "transfer" || fmt.Sprint(rows[len(rows)-1].personIDs) != "[1]" {
		t.Fatalf("commander's read of the transfer list not audited: %+v", rows)
	}
	got = transfers{}
	if code := f.get(t, "viewer", "/api/v1/transfers", &got); code != 200 || len(got.Transfers) != 1 || got.Transfers[0].PersonName != "张**" {
		t.Fatalf("viewer's transfers: %d %+v", code, got)
	}
	if rows := f.auditRows(t, "viewer"); len(rows) != 0 {
		t.Fatalf("viewer's masked read audited: %+v", rows)
	}

	if code := f.send(t, "worker", "POST", "/api/v1/isolations", `{"person_id":2,"kind":"health_monitoring","reason":"close_contact"}`, nil); code != http.StatusCreated {
		t.Fatalf("monitoring: %d", code)
	}
	if code := f.send(t, "worker", "POST", "/api/v1/deliveries", `{"household_id":1,"items":["food"]}`, nil); code != http.StatusCreated {
		t.Fatalf("delivery: %d", code)
	}
	var ds struct {
		Deliveries []struct {
			HouseholdID int64  `json:"household_id"`
			Address     string `json:"address"`
		} `json:"deliveries"`
	}
	for role, want := range map[string]string{"worker": "一社区1号", "viewer": "一社区**"} {
		if code := f.get(t, role, "/api/v1/deliveries", &ds); code != 200 || len(ds.Deliveries) != 1 || ds.Deliveries[0].Address != want {
			t.Fatalf("%s's deliveries: %d %+v, want address %q", role, code, ds, want)
		}
	}
}
