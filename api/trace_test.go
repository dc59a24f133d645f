package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/track"
)

// send sends a request with a body of the given type; it returns the status and the
// body.
func send(t *testing.T, method, url, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pingsCSV writes trajectories in the CSV ping format.
func pingsCSV(trajs []track.Trajectory) string {
	var b strings.Builder
	b.WriteString(track.CSVHeader + "\n")
	for _, tr := range trajs {
		for _, p := range tr.Pings {
			fmt.Fprintf(&b, "%s,%s,%s,%s\n", tr.Person, p.Time.Format(time.RFC3339Nano),
				strconv.FormatFloat(p.Point[1], 'f', -1, 64), strconv.FormatFloat(p.Point[0], 'f', -1, 64))
		}
	}
	return b.String()
}

type subjectsAnswer struct {
	Subjects []struct {
		ID     int64  `json:"id"`
		ExtID  string `json:"ext_id"`
		Pings  int64  `json:"pings"`
		Person *struct {
			Name   string   `json:"name"`
			Masked []string `json:"masked"`
		} `json:"person"`
	} `json:"subjects"`
}

type runAnswer struct {
	Run struct {
		ID        int64  `json:"id"`
		Rule      string `json:"rule"`
		CasePings int    `json:"case_pings"`
	} `json:"run"`
	Contacts []struct {
		Rank    int `json:"rank"`
		Subject struct {
			ID    int64  `json:"id"`
			ExtID string `json:"ext_id"`
		} `json:"subject"`
		Degree     int                   `json:"degree"`
		Via        *int64                `json:"via"`
		Minutes    int                   `json:"minutes"`
		Encounters []trace.EncounterJSON `json:"encounters"`
	} `json:"contacts"`
	Stays struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	} `json:"stays"`
}

// pingTables counts what an upload writes, to check a refused one wrote nothing.
func pingTables(t *testing.T, ts *httptest.Server, store *grid.Store) string {
	t.Helper()
	var p, s, b, r int64
	err := store.Pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM pings), (SELECT count(*) FROM trace_subjects),
		(SELECT count(*) FROM ping_batches), (SELECT count(*) FROM trace_runs)`).Scan(&p, &s, &b, &r)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pings=%d subjects=%d batches=%d runs=%d", p, s, b, r)
}

// TestTraceAPI loads the GeoLife sample through POST /api/v1/pings and checks the
// subject counts against the files, the contacts against the pure search
// (differential, every user as the case, degree 2), and the refusals.
func TestTraceAPI(t *testing.T) {
	t.Parallel()
	ts, store := testServer(t)
	for _, u := range []struct {
		name string
		role grid.Role
	}{{"tracer", grid.Tracer}, {"commander", grid.Commander}, {"viewer", grid.Viewer}, {"sampler", grid.Sampler}} {
		mustUser(t, store, u.name, u.role, nil)
	}
	tracer, commander := login(t, ts.URL, "tracer"), login(t, ts.URL, "commander")
	trajs, committed := geolifetest.Trajectories(t)
	body := pingsCSV(trajs)

	// Roles: a commander may trace but not load; viewers and samplers may not read.
	if code, _ := send(t, "POST", ts.URL+"/api/v1/pings", commander, "text/csv", body); code != http.StatusForbidden {
		t.Fatalf("commander upload: %d", code)
	}
	for _, name := range []string{"viewer", "sampler"} {
		tok := login(t, ts.URL, name)
		for _, path := range []string{"/api/v1/trace/subjects", "/api/v1/trace/subjects/1/track", "/api/v1/trace/contacts?run=1"} {
			if code := do(t, "GET", ts.URL+path, tok, "", nil); code != http.StatusForbidden {
				t.Errorf("%s GET %s: %d", name, path, code)
			}
		}
	}

	code, b := send(t, "POST", ts.URL+"/api/v1/pings?source=geolife-sample", tracer, "text/csv; charset=utf-8", body)
	if code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, b)
	}
	var up struct {
		Pings    int `json:"pings"`
		Subjects []struct {
			ID    int64  `json:"id"`
			ExtID string `json:"ext_id"`
			Pings int    `json:"pings"`
		} `json:"subjects"`
	}
	if err := json.Unmarshal(b, &up); err != nil {
		t.Fatal(err)
	}
	var subs subjectsAnswer
	if code := do(t, "GET", ts.URL+"/api/v1/trace/subjects", commander, "", &subs); code != http.StatusOK || len(subs.Subjects) != len(trajs) {
		t.Fatalf("subjects: %d %+v", code, subs)
	}
	idOf, extOf := map[string]int64{}, map[int64]string{}
	for i, sb := range subs.Subjects {
		if sb.ExtID != trajs[i].Person || sb.Pings != int64(len(trajs[i].Pings)) {
			t.Errorf("subject %s: %d pings, the files hold %d", sb.ExtID, sb.Pings, len(trajs[i].Pings))
		}
		idOf[sb.ExtID], extOf[sb.ID] = sb.ID, sb.ExtID
	}
	if committed && up.Pings != 107576 {
		t.Errorf("uploaded %d pings", up.Pings)
	}

	// Differential: the API's contacts equal the pure search's on the same pings.
	pol := trace.DefaultPolicy()
	ix, err := copresence.NewIndex(trajs, pol.ContactRule())
	if err != nil {
		t.Fatal(err)
	}
	met := 0
	for _, tr := range trajs {
		last := tr.Pings[len(tr.Pings)-1].Time
		from := last.Add(-pol.MaxWindow)
		want, err := ix.Trace(copresence.Query{Case: tr.Person, From: from, To: last, Depth: 2})
		if err != nil {
			t.Fatal(err)
		}
		var run runAnswer
		req := fmt.Sprintf(`{"case":%d,"degree":2}`, idOf[tr.Person])
		if code := do(t, "POST", ts.URL+"/api/v1/trace/contacts", tracer, req, &run); code != http.StatusCreated {
			t.Fatalf("case %s: %d", tr.Person, code)
		}
		var got, exp []string
		for _, c := range run.Contacts {
			via := ""
			if c.Via != nil {
				via = extOf[*c.Via]
			}
			got = append(got, fmt.Sprintf("%s d%d via=%s %d min %s", c.Subject.ExtID, c.Degree, via, c.Minutes, encounters(c.Encounters)))
		}
		for _, c := range want {
			exp = append(exp, fmt.Sprintf("%s d%d via=%s %d min %s", c.Person, c.Degree, c.Via, c.Minutes, encounters(trace.EncounterEvidence(c.Encounters))))
		}
		if strings.Join(sortedCopy(got), "\n") != strings.Join(sortedCopy(exp), "\n") {
			t.Errorf("case %s:\nAPI  %v\npure %v", tr.Person, got, exp)
		}
		met += len(want)
		if !strings.HasPrefix(run.Run.Rule, pol.Version+" close-contact distance=20m") {
			t.Errorf("rule %q", run.Run.Rule)
		}
		for i, c := range run.Contacts {
			if c.Rank != i+1 || (i > 0 && c.Degree == run.Contacts[i-1].Degree && c.Minutes > run.Contacts[i-1].Minutes) {
				t.Errorf("case %s: contacts not ranked: %+v", tr.Person, run.Contacts)
			}
		}
	}
	if committed && met == 0 {
		t.Fatal("the GeoLife users who met were not found")
	}

	// The stored run reads back, by run and by case, and exports as CSV.
	var latest runAnswer
	if code := do(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trace/contacts?case=%d", idOf["003"]), commander, "", &latest); code != http.StatusOK ||
		(committed && (len(latest.Contacts) != 2 || latest.Contacts[0].Subject.ExtID != "005" || len(latest.Stays.Features) == 0)) {
		t.Fatalf("latest run of 003: %d %+v", code, latest)
	}
	code, b = send(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trace/contacts.csv?run=%d", latest.Run.ID), commander, "", "")
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if code != http.StatusOK || err != nil || len(rows) != len(latest.Contacts)+1 || strings.Join(rows[0], ",") != "rank,degree,via_subject_id,subject_id,ext_id,label,person_id,person_name,person_phone,person_id_number,minutes,first_at,last_at,min_distance_m,encounters,closest_lng,closest_lat,case_subject_id,run_id,rule" {
		t.Fatalf("csv: %d %v %q", code, err, b)
	}

	// Refusals: each names the field, and nothing is written.
	before := pingTables(t, ts, store)
	plt := "h\nh\nh\nh\nh\nh\n39.9,116.3,0,0,0,2008-10-23,02:00:00\n39.9,116.3,0,0,0,2008-10-23,01:00:00\n"
	for _, tc := range []struct {
		name, path, ctype, body string
		status                  int
		field, msg              string
	}{
		{"unparsable time", "/api/v1/pings", "text/csv", "person,time,lat,lng\nx,2008-10-23T02:00:00Z,39.9,116.3\nx,tomorrow,39.9,116.3\n", 400, "time", "body:3: time:"},
		{"latitude out of range", "/api/v1/pings?name=up.csv", "text/csv", "person,time,lat,lng\nx,2008-10-23T02:00:00Z,-91,116.3\n", 400, "lat", "up.csv:2: lat: -91 is outside [-90, 90]"},
		{"time going backwards", "/api/v1/pings?format=plt&person=x", "", plt, 400, "time", "body:8: time: 2008-10-23 01:00:00 goes back in time"},
		{"plt without person", "/api/v1/pings?format=plt", "", plt, 400, "person", ""},
		{"unknown type", "/api/v1/pings", "text/plain", "x", 400, "Content-Type", ""},
		{"same pings again", "/api/v1/pings", "text/csv", body, 409, "", "already loaded"},
		{"case without pings", "/api/v1/trace/contacts", "application/json", `{"case":99999}`, 404, "case", "no trace subject 99999"},
		{"empty window", "/api/v1/trace/contacts", "application/json", fmt.Sprintf(`{"case":%d,"from":"2020-01-01T00:00:00Z","to":"2020-01-02T00:00:00Z"}`, idOf[trajs[0].Person]), 404, "case", "has no pings between"},
		{"no case", "/api/v1/trace/contacts", "application/json", `{"distance_m":20}`, 400, "case", ""},
		{"bad distance", "/api/v1/trace/contacts", "application/json", `{"case":1,"distance_m":-5}`, 400, "distance_m", ""},
		{"bad tolerance", "/api/v1/trace/contacts", "application/json", `{"case":1,"tolerance":"5 minutes"}`, 400, "tolerance", ""},
		{"bad degree", "/api/v1/trace/contacts", "application/json", `{"case":1,"degree":3}`, 400, "degree", ""},
		{"bad from", "/api/v1/trace/contacts", "application/json", `{"case":1,"from":"yesterday"}`, 400, "from", ""},
		{"window too long", "/api/v1/trace/contacts", "application/json", fmt.Sprintf(`{"case":%d,"from":"2008-01-01T00:00:00Z"}`, idOf[trajs[0].Person]), 400, "from", "longer than"},
		{"unknown field", "/api/v1/trace/contacts", "application/json", `{"case":1,"radius":5}`, 400, "radius", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := send(t, "POST", ts.URL+tc.path, tracer, tc.ctype, tc.body)
			var e apiError
			_ = json.Unmarshal(b, &e)
			if code != tc.status || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.msg) {
				t.Fatalf("%d %s; want %d on %q containing %q", code, b, tc.status, tc.field, tc.msg)
			}
		})
	}
	if after := pingTables(t, ts, store); after != before {
		t.Fatalf("refusals wrote: %s, was %s", after, before)
	}
	for _, path := range []string{"/api/v1/trace/subjects/99999/track", "/api/v1/trace/subjects/99999/stays", "/api/v1/trace/contacts?run=99999"} {
		if code := do(t, "GET", ts.URL+path, tracer, "", nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}

func encounters(es []trace.EncounterJSON) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "[%s %s %d %.9f %v]", e.Start.UTC().Format(time.RFC3339), e.End.UTC().Format(time.RFC3339), e.Minutes, e.MinDistanceM, e.Where)
	}
	return b.String()
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestTraceTrackStaysAndMasking: a track answers as a GeoJSON LineString with times
// that uploads back as the same pings (refused as already loaded); stays come
// numbered, with a zone preview on request; a subject linked to a resident outside a
// commander's jurisdiction is masked in the subject list and the CSV export, shown
// to admin, and each export is audited.
func TestTraceTrackStaysAndMasking(t *testing.T) {
	t.Parallel()
	ts, store := testServer(t)
	ctx := context.Background()
	pool := store.Pool()
	var inside, outside, person int64
	if err := pool.QueryRow(ctx, `INSERT INTO areas (level, name, code, ancestors, geom) VALUES ('district', 'A', 'A', '{}', 'SRID=4326;MULTIPOLYGON EMPTY') RETURNING id`).Scan(&inside); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO areas (level, name, code, ancestors, geom) VALUES ('district', 'B', 'B', '{}', 'SRID=4326;MULTIPOLYGON EMPTY') RETURNING id`).Scan(&outside); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE areas SET ancestors = ARRAY[id]`); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `WITH h AS (INSERT INTO households (area_id, address, geom, h3_r8, h3_r12) VALUES ($1, '白杨路1065弄', 'SRID=4326;POINT(116.3 39.9)', 0, 0) RETURNING id)
		INSERT INTO persons (household_id, name, phone, id_number) SELECT id, '张三丰', '13812345678', '310101199001011234' FROM h RETURNING id`, outside).Scan(&person); err != nil {
		t.Fatal(err)
	}
	mustUser(t, store, "tracer", grid.Tracer, []int64{inside})
	mustUser(t, store, "commander", grid.Commander, []int64{inside})
	mustUser(t, store, "admin", grid.Admin, nil)
	tracer, commander, admin := login(t, ts.URL, "tracer"), login(t, ts.URL, "commander"), login(t, ts.URL, "admin")

	trajs, committed := geolifetest.Trajectories(t)
	if !committed {
		t.Skip("needs the committed sample's users 003 and 005")
	}
	var two []track.Trajectory
	for _, tr := range trajs {
		if tr.Person == "003" || tr.Person == "005" {
			two = append(two, tr)
		}
	}
	for _, tr := range two { // one upload each, so that a track sent back is one upload's content
		if code, b := send(t, "POST", ts.URL+"/api/v1/pings", tracer, "text/csv", pingsCSV([]track.Trajectory{tr})); code != http.StatusCreated {
			t.Fatalf("upload %d %s", code, b)
		}
	}
	var subs subjectsAnswer
	do(t, "GET", ts.URL+"/api/v1/trace/subjects", tracer, "", &subs)
	caseID, contactID := subs.Subjects[0].ID, subs.Subjects[1].ID

	// Track: one LineString whose times match its positions; uploading it back is
	// the same content.
	code, b := send(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trace/subjects/%d/track", caseID), commander, "", "")
	var fc struct {
		Features []struct {
			Geometry struct {
				Type        string      `json:"type"`
				Coordinates [][]float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				Times []string `json:"times"`
			} `json:"properties"`
		} `json:"features"`
		Pings int `json:"pings"`
	}
	if err := json.Unmarshal(b, &fc); code != http.StatusOK || err != nil || len(fc.Features) != 1 || fc.Features[0].Geometry.Type != "LineString" ||
		len(fc.Features[0].Properties.Times) != len(fc.Features[0].Geometry.Coordinates) || fc.Pings != len(two[0].Pings) {
		t.Fatalf("track: %d %v", code, err)
	}
	if code, b := send(t, "POST", ts.URL+"/api/v1/pings", tracer, "application/geo+json", string(b)); code != http.StatusConflict {
		t.Fatalf("track uploaded back: %d %s", code, b)
	}
	var pts struct {
		Features []json.RawMessage `json:"features"`
	}
	if code := do(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trace/subjects/%d/track?format=points&from=2008-10-27T09:00:00Z&to=2008-10-27T10:00:00Z", caseID), tracer, "", &pts); code != http.StatusOK || len(pts.Features) == 0 {
		t.Fatalf("points: %d %d", code, len(pts.Features))
	}

	// Stays, with the zone preview.
	var stays struct {
		Features []struct {
			Properties struct {
				N       int     `json:"n"`
				Minutes float64 `json:"minutes"`
			} `json:"properties"`
		} `json:"features"`
		Zones *struct {
			Features []struct {
				Properties struct {
					Kind string `json:"kind"`
				} `json:"properties"`
			} `json:"features"`
			Saved bool `json:"saved"`
		} `json:"proposed_zones"`
	}
	if code := do(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trace/subjects/%d/stays?propose_zones=true", caseID), commander, "", &stays); code != http.StatusOK ||
		len(stays.Features) == 0 || stays.Features[0].Properties.N != 1 || stays.Features[0].Properties.Minutes < 30 || stays.Zones == nil || len(stays.Zones.Features) == 0 || stays.Zones.Saved {
		t.Fatalf("stays: %d %+v", code, stays)
	}

	// Link 005 to the resident of district B: the commander of A sees it masked.
	if code, b := send(t, "PUT", ts.URL+fmt.Sprintf("/api/v1/trace/subjects/%d", contactID), tracer, "application/json", fmt.Sprintf(`{"label":"phone 005","person_id":%d}`, person)); code != http.StatusOK {
		t.Fatalf("link: %d %s", code, b)
	}
	if code, _ := send(t, "PUT", ts.URL+fmt.Sprintf("/api/v1/trace/subjects/%d", contactID), tracer, "application/json", `{"person_id":987654}`); code != http.StatusBadRequest {
		t.Fatalf("link to nobody: %d", code)
	}
	var run runAnswer
	if code := do(t, "POST", ts.URL+"/api/v1/trace/contacts", tracer, fmt.Sprintf(`{"case":%d}`, caseID), &run); code != http.StatusCreated || len(run.Contacts) != 1 {
		t.Fatalf("run: %d %+v", code, run)
	}
	exportName := func(tok string) (string, string) {
		code, b := send(t, "GET", ts.URL+fmt.Sprintf("/api/v1/trace/contacts.csv?case=%d", caseID), tok, "", "")
		rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if code != http.StatusOK || err != nil || len(rows) != 2 {
			t.Fatalf("export: %d %v %s", code, err, b)
		}
		return rows[1][7], rows[1][8]
	}
	if name, phone := exportName(commander); name != "张**" || phone != "138****5678" {
		t.Errorf("commander outside the jurisdiction sees %q %q", name, phone)
	}
	if name, phone := exportName(admin); name != "张三丰" || phone != "13812345678" {
		t.Errorf("admin sees %q %q", name, phone)
	}
	do(t, "GET", ts.URL+"/api/v1/trace/subjects", commander, "", &subs)
	if p := subs.Subjects[1].Person; p == nil || p.Name != "张**" || len(p.Masked) != 4 {
		t.Errorf("subject list for the commander: %+v", p)
	}
	// The CSV from POST ...?format=csv is the same export.
	code, b = send(t, "POST", ts.URL+"/api/v1/trace/contacts?format=csv", admin, "application/json", fmt.Sprintf(`{"case":%d,"degree":1}`, caseID))
	if code != http.StatusCreated || !strings.Contains(string(b), "张三丰") {
		t.Fatalf("POST csv: %d %s", code, b)
	}
	var exports, reads int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = $1), count(*) FILTER (WHERE action = $2) FROM audit_log`,
		trace.AuditExportContacts, grid.AuditReadPerson).Scan(&exports, &reads); err != nil || exports != 3 || reads == 0 {
		t.Fatalf("audit: %d exports, %d person reads, %v", exports, reads, err)
	}
}
