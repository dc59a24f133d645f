package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/web"
)

// TestAuditLogAppendOnly: the application's own connection cannot rewrite or erase
// the audit log (migration 006), while appending still works.
func TestAuditLogAppendOnly(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	if code := f.get(t, "worker", "/api/v1/households/1", nil); code != http.StatusOK {
		t.Fatalf("read: %d", code)
	}
	ctx := context.Background()
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("audit rows %d, %v", n, err)
	}
	for _, sql := range []string{
		`UPDATE audit_log SET route = 'nothing to see'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)`,
	} {
		_, err := f.pool.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") || !strings.Contains(err.Error(), "42501") {
			t.Errorf("%s through the app's pool: %v, want refused", sql, err)
		}
	}
	var after int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE route <> 'nothing to see'`).Scan(&after); err != nil || after != n {
		t.Fatalf("audit rows after the attempts: %d of %d, %v", after, n, err)
	}
}

// auditAnswer is GET /api/v1/audit.
type auditAnswer struct {
	Entries []struct {
		ID       int64           `json:"id"`
		At       time.Time       `json:"at"`
		UserID   *int64          `json:"user_id"`
		UserName string          `json:"user_name"`
		Action   string          `json:"action"`
		Entity   string          `json:"entity"`
		EntityID *int64          `json:"entity_id"`
		Route    string          `json:"route"`
		Detail   json.RawMessage `json:"detail"`
	} `json:"entries"`
	Total      int  `json:"total"`
	NextOffset *int `json:"next_offset"`
}

// TestAuditQuery: every unmasked read of a person (household, list, zone, CSV) is
// in the log with who, what and route; admin filters it by user, entity and time,
// page by page; nobody else may read it.
func TestAuditQuery(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	start := time.Now().Add(-time.Minute)
	// Reads in clear by the grid worker; masked ones by the viewer leave no row.
	for _, p := range []string{"/api/v1/households/1", "/api/v1/households?bbox=121.39,31.09,121.61,31.31", "/api/v1/households/2"} {
		if code := f.get(t, "worker", p, nil); code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
		if code := f.get(t, "viewer", p, nil); code != http.StatusOK && code != http.StatusNotFound {
			t.Fatalf("viewer %s: %d", p, code)
		}
	}
	var zone geojson.Feature
	if code := f.send(t, "commander", "POST", "/api/v1/zones", `{"kind":"sealed","reason":"audit","geometry":`+sq(121.405, 31.105, 121.425, 31.125)+`}`, &zone); code != http.StatusCreated {
		t.Fatalf("zone: %d", code)
	}
	zid := int(zone.Properties.MustFloat64("id"))
	for _, p := range []string{fmt.Sprintf("/api/v1/zones/%d/households", zid), fmt.Sprintf("/api/v1/zones/%d/summary?format=csv", zid)} {
		if code, _ := send(t, "GET", f.url+p, f.tokens["worker"], "", ""); code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
	}

	var a auditAnswer
	if code := f.get(t, "admin", fmt.Sprintf("/api/v1/audit?user=%d", f.ids["worker"]), &a); code != http.StatusOK {
		t.Fatalf("audit: %d", code)
	}
	routes := map[string]bool{}
	for _, e := range a.Entries {
		if e.UserID == nil || *e.UserID != f.ids["worker"] || e.UserName != "worker" || e.Action != grid.AuditReadPerson || e.At.Before(start) {
			t.Errorf("entry %+v", e)
		}
		routes[e.Route] = true
	}
	for _, r := range []string{"GET /api/v1/households/:id", "GET /api/v1/households", "GET /api/v1/zones/:id/households", "GET /api/v1/zones/:id/summary"} {
		if !routes[r] {
			t.Errorf("no audit row for %s: %v", r, routes)
		}
	}
	if a.Total != 5 || len(a.Entries) != 5 || a.Entries[0].ID < a.Entries[4].ID {
		t.Fatalf("worker's rows: total %d, %d entries, want 5 newest first", a.Total, len(a.Entries))
	}
	// Filters: the viewer read nothing in clear; one household by entity and id;
	// paging; a time window after everything is empty.
	if code := f.get(t, "admin", fmt.Sprintf("/api/v1/audit?user=%d", f.ids["viewer"]), &a); code != http.StatusOK || a.Total != 0 {
		t.Fatalf("viewer's rows: %d %d", code, a.Total)
	}
	f.get(t, "admin", "/api/v1/audit?entity=household&entity_id=1", &a)
	if a.Total != 1 || a.Entries[0].Route != "GET /api/v1/households/:id" || !strings.Contains(string(a.Entries[0].Detail), `"person_ids": [1, 2]`) && !strings.Contains(string(a.Entries[0].Detail), `"person_ids":[1,2]`) {
		t.Fatalf("household 1: %+v", a)
	}
	f.get(t, "admin", fmt.Sprintf("/api/v1/audit?user=%d&limit=2&offset=2", f.ids["worker"]), &a)
	if len(a.Entries) != 2 || a.Total != 5 || a.NextOffset == nil || *a.NextOffset != 4 {
		t.Fatalf("page 2: %d entries, total %d, next %v", len(a.Entries), a.Total, a.NextOffset)
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	if f.get(t, "admin", "/api/v1/audit?from="+future, &a); a.Total != 0 {
		t.Fatalf("from the future: %d", a.Total)
	}
	past := url.QueryEscape(start.Format(time.RFC3339))
	if f.get(t, "admin", "/api/v1/audit?to="+past, &a); a.Total != 0 {
		t.Fatalf("before the test: %d", a.Total)
	}
	var e apiError
	for _, tc := range []struct {
		user, path string
		status     int
		field      string
	}{
		{"commander", "/api/v1/audit", http.StatusForbidden, ""},
		{"worker", "/api/v1/audit", http.StatusForbidden, ""},
		{"admin", "/api/v1/audit?user=x", http.StatusBadRequest, "user"},
		{"admin", "/api/v1/audit?from=yesterday", http.StatusBadRequest, "from"},
		{"admin", "/api/v1/audit?limit=5000", http.StatusBadRequest, "limit"},
		{"admin", "/api/v1/audit?who=1", http.StatusBadRequest, "who"},
	} {
		e = apiError{}
		code := f.get(t, tc.user, tc.path, &e)
		wantError(t, tc.user+" "+tc.path, code, e, tc.status, tc.field)
	}
}

// sessionServer is the API with given session lifetimes.
func sessionServer(t *testing.T, cfg api.Config) (*httptest.Server, *grid.Store) {
	t.Helper()
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	cfg.Store, cfg.Log = store, slog.New(slog.NewTextHandler(io.Discard, nil))
	ts := httptest.NewServer(api.New(cfg).Handler())
	t.Cleanup(ts.Close)
	return ts, store
}

// TestSessionExpiry: a session ends at its absolute lifetime and after the idle
// time without use, both configurable; use keeps an idle session alive.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	ts, store := sessionServer(t, api.Config{SessionTTL: 2 * time.Hour, SessionIdle: 10 * time.Minute})
	mustUser(t, store, "worker", grid.GridWorker, nil)
	ctx := context.Background()
	pool := store.Pool()
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"worker","password":"worker-demo"}`, &out); code != http.StatusOK {
		t.Fatalf("login %d", code)
	}
	if d := time.Until(out.ExpiresAt); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("expires in %v, want the configured 2h", d)
	}
	age := func(token, col, ago string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `UPDATE sessions SET `+col+` = now() - $1::interval`, ago); err != nil {
			t.Fatal(err)
		}
	}
	// Used 9 minutes ago: alive, and the use is recorded.
	age(out.Token, "last_seen_at", "9 minutes")
	if code := do(t, "GET", ts.URL+"/api/v1/me", out.Token, "", nil); code != http.StatusOK {
		t.Fatalf("9 minutes idle: %d", code)
	}
	var idle time.Duration
	if err := pool.QueryRow(ctx, `SELECT EXTRACT(EPOCH FROM now() - last_seen_at)::int * interval '1 second' FROM sessions`).Scan(&idle); err != nil || idle > time.Minute {
		t.Fatalf("last use not recorded: %v %v", idle, err)
	}
	// 11 minutes idle: gone.
	age(out.Token, "last_seen_at", "11 minutes")
	var e apiError
	if code := do(t, "GET", ts.URL+"/api/v1/me", out.Token, "", &e); code != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
		t.Fatalf("11 minutes idle: %d %+v", code, e)
	}
	// Absolute lifetime: in use, but past its expiry.
	tok := login(t, ts.URL, "worker")
	age(tok, "expires_at", "1 second")
	if code := do(t, "GET", ts.URL+"/api/v1/me", tok, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("past expiry: %d", code)
	}
}

// TestSessionRevocation: logout ends one session; an admin ends all of a user's; a
// disabled user is logged out and cannot log in; a password change ends every
// session of the user; each is audited.
func TestSessionRevocation(t *testing.T) {
	t.Parallel()
	ts, store := testServer(t)
	mustUser(t, store, "admin", grid.Admin, nil)
	mustUser(t, store, "worker", grid.GridWorker, nil)
	admin := login(t, ts.URL, "admin")
	me := func(tok string) int { return do(t, "GET", ts.URL+"/api/v1/me", tok, "", nil) }
	var u struct {
		ID int64 `json:"id"`
	}
	w1, w2 := login(t, ts.URL, "worker"), login(t, ts.URL, "worker")
	do(t, "GET", ts.URL+"/api/v1/me", w1, "", &u)

	var rev struct {
		Revoked int `json:"revoked"`
	}
	if code := do(t, "POST", ts.URL+fmt.Sprintf("/api/v1/users/%d/revoke-sessions", u.ID), w1, "", nil); code != http.StatusForbidden {
		t.Fatalf("worker revoking: %d", code)
	}
	if code := do(t, "POST", ts.URL+fmt.Sprintf("/api/v1/users/%d/revoke-sessions", u.ID), admin, "", &rev); code != http.StatusOK || rev.Revoked != 2 {
		t.Fatalf("revoke: %d %+v", code, rev)
	}
	if me(w1) != http.StatusUnauthorized || me(w2) != http.StatusUnauthorized || me(admin) != http.StatusOK {
		t.Fatal("revoked sessions still open, or the admin's closed")
	}

	// Disable: logged out at once, login refused; enable: login works again.
	w1 = login(t, ts.URL, "worker")
	if code := do(t, "POST", ts.URL+fmt.Sprintf("/api/v1/users/%d/disable", u.ID), admin, "", nil); code != http.StatusNoContent {
		t.Fatalf("disable: %d", code)
	}
	if me(w1) != http.StatusUnauthorized {
		t.Fatal("disabled user's session still open")
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"worker","password":"worker-demo"}`, nil); code != http.StatusUnauthorized {
		t.Fatalf("disabled login: %d", code)
	}
	var adminMe struct {
		ID int64 `json:"id"`
	}
	do(t, "GET", ts.URL+"/api/v1/me", admin, "", &adminMe)
	var e apiError
	if code := do(t, "POST", ts.URL+fmt.Sprintf("/api/v1/users/%d/disable", adminMe.ID), admin, "", &e); code != http.StatusBadRequest || e.Error.Field != "id" {
		t.Fatalf("admin disabling themselves: %d %+v", code, e)
	}
	if code := do(t, "POST", ts.URL+fmt.Sprintf("/api/v1/users/%d/enable", u.ID), admin, "", nil); code != http.StatusNoContent {
		t.Fatalf("enable: %d", code)
	}

	// Password change: needs the current password; ends both sessions.
	w1, w2 = login(t, ts.URL, "worker"), login(t, ts.URL, "worker")
	e = apiError{}
	if code := do(t, "PUT", ts.URL+"/api/v1/me/password", w1, `{"current_password":"wrong-one","new_password":"new-password-1"}`, &e); code != http.StatusUnauthorized || e.Error.Field != "current_password" {
		t.Fatalf("wrong current password: %d %+v", code, e)
	}
	if me(w1) != http.StatusOK {
		t.Fatal("a refused change ended the session")
	}
	e = apiError{}
	if code := do(t, "PUT", ts.URL+"/api/v1/me/password", w1, `{"current_password":"worker-demo","new_password":"short"}`, &e); code != http.StatusBadRequest || e.Error.Field != "new_password" {
		t.Fatalf("short password: %d %+v", code, e)
	}
	if code := do(t, "PUT", ts.URL+"/api/v1/me/password", w1, `{"current_password":"worker-demo","new_password":"new-password-1"}`, nil); code != http.StatusNoContent {
		t.Fatalf("change: %d", code)
	}
	if me(w1) != http.StatusUnauthorized || me(w2) != http.StatusUnauthorized {
		t.Fatal("sessions survived the password change")
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"worker","password":"worker-demo"}`, nil); code != http.StatusUnauthorized {
		t.Fatalf("old password: %d", code)
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"worker","password":"new-password-1"}`, nil); code != http.StatusOK {
		t.Fatalf("new password: %d", code)
	}
	// An admin resetting the password (UpsertUser, as `gridtrace demo` does) ends
	// the sessions too.
	var fresh struct {
		Token string `json:"token"`
	}
	do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"worker","password":"new-password-1"}`, &fresh)
	if _, err := store.UpsertUser(context.Background(), "worker", "reset-password", grid.GridWorker, nil); err != nil {
		t.Fatal(err)
	}
	if me(fresh.Token) != http.StatusUnauthorized {
		t.Fatal("session survived an admin's password reset")
	}
	var a auditAnswer
	do(t, "GET", ts.URL+"/api/v1/audit?entity=user", admin, "", &a)
	actions := map[string]int{}
	for _, x := range a.Entries {
		actions[x.Action]++
	}
	if actions[grid.AuditRevokeSessions] != 1 || actions[grid.AuditDisableUser] != 1 || actions[grid.AuditEnableUser] != 1 || actions[grid.AuditSetPassword] != 1 {
		t.Fatalf("account audit: %v", actions)
	}
}

// TestLoginThrottledPerAddress: failures from one address block it across user
// names, and a client cannot escape by rotating X-Forwarded-For.
func TestLoginThrottledPerAddress(t *testing.T) {
	t.Parallel()
	ts, store := testServer(t)
	mustUser(t, store, "viewer", grid.Viewer, nil)
	last := 0
	for i := 0; i < 11; i++ {
		req, _ := http.NewRequest("POST", ts.URL+"/api/v1/login", strings.NewReader(fmt.Sprintf(`{"name":"user-%d","password":"guess"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp.StatusCode
		if i == 10 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("11th failure from one address under 11 names: %d, want 429", last)
	}
	// The address is blocked for every name, even with the right password.
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"viewer","password":"viewer-demo"}`, nil); code != http.StatusTooManyRequests {
		t.Fatalf("right password from the blocked address: %d", code)
	}
}

// cookieRequest sends method path with the session cookie and the given Origin and
// Referer ("" for none).
func cookieRequest(t *testing.T, base, method, path, token, origin, referer, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: token})
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if referer != "" {
		req.Header.Set("Referer", referer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCSRF: a cookie session's unsafe requests (every method but GET/HEAD/OPTIONS)
// must come from our origin; the websocket upgrade checks the origin too; a
// cross-site login is refused.
func TestCSRF(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	ls := startLive(t, pool)
	store := grid.NewStore(pool)
	mustUser(t, store, "admin", grid.Admin, nil)
	tok := login(t, ls.url, "admin")
	self := ls.url
	evil := "https://evil.example"
	body := `{"kind":"sealed","reason":"x","geometry":` + sq(121.41, 31.11, 121.42, 31.12) + `}`
	for _, tc := range []struct {
		method, path, origin, referer, body string
		status                              int
	}{
		{"POST", "/api/v1/zones", evil, "", body, http.StatusForbidden},
		{"POST", "/api/v1/zones", "", evil + "/page", body, http.StatusForbidden},
		{"POST", "/api/v1/zones", "", "", body, http.StatusForbidden},
		{"POST", "/api/v1/zones", "null", "", body, http.StatusForbidden},
		{"PUT", "/api/v1/zones/1", evil, "", `{"version":1}`, http.StatusForbidden},
		{"DELETE", "/api/v1/zones/1?version=1&reason=x", evil, "", "", http.StatusForbidden},
		{"PATCH", "/api/v1/zones/1", evil, "", "", http.StatusForbidden},
		{"PUT", "/api/v1/me/password", evil, "", `{"current_password":"admin-demo","new_password":"stolen-password"}`, http.StatusForbidden},
		{"POST", "/api/v1/logout", evil, "", "", http.StatusForbidden},
		{"POST", "/api/v1/zones", self, "", body, http.StatusCreated},
		{"POST", "/api/v1/zones", "", self + "/", body, http.StatusCreated},
		{"GET", "/api/v1/me", evil, "", "", http.StatusOK},
	} {
		if code := cookieRequest(t, ls.url, tc.method, tc.path, tok, tc.origin, tc.referer, tc.body); code != tc.status {
			t.Errorf("%s %s Origin %q Referer %q: %d, want %d", tc.method, tc.path, tc.origin, tc.referer, code, tc.status)
		}
	}
	// PATCH is no route here (405), but the CSRF check comes first: 403 above.
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM zones`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("zones after the CSRF attempts: %d %v, want the 2 same-origin ones", n, err)
	}
	if code := do(t, "GET", ls.url+"/api/v1/me", tok, "", nil); code != http.StatusOK {
		t.Fatalf("session after refused logout: %d", code)
	}
	// Login from another site's page.
	req, _ := http.NewRequest("POST", ls.url+"/api/v1/login", strings.NewReader(`{"name":"admin","password":"admin-demo"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", evil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %d", resp.StatusCode)
	}

	// Websocket: the cookie from another origin is refused, from ours accepted.
	wsURL := "ws" + strings.TrimPrefix(ls.url, "http") + "/api/v1/live"
	hdr := http.Header{"Cookie": {api.SessionCookie + "=" + tok}, "Origin": {evil}}
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site websocket: %v %v", err, resp)
	}
	hdr.Set("Origin", self)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr)
		if err == nil {
			conn.Close()
			break
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("same-origin websocket: %v %v", err, resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSecureHeaders: the page carries a CSP allowing our scripts, MapLibre's
// workers and the import map (by hash) and forbidding framing; HSTS only over TLS;
// API answers are never stored by a cache; tiles are private.
func TestSecureHeaders(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	ls := startLiveWith(t, pool, web.FS(), live.Config{})
	resp, err := http.Get(ls.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "worker-src 'self' blob:", "object-src 'none'", "script-src 'self' 'sha256-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(strings.SplitN(strings.SplitN(csp, "script-src", 2)[1], ";", 2)[0], "unsafe-inline") {
		t.Errorf("CSP allows inline or eval'd scripts: %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("headers over plain HTTP: %v", resp.Header)
	}
	req, _ := http.NewRequest("GET", ls.url+"/api/v1/me", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=31536000") {
		t.Errorf("HSTS behind TLS: %q", resp.Header.Get("Strict-Transport-Security"))
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("API error answer Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

// TestLocationPrivacy: a viewer (no personal access) gets H3 counts no finer than
// res 9, whole cells, only those with at least 5 households; tiles as clusters of
// at least 5 without ids. A tracer of the same district gets plain counts.
func TestLocationPrivacy(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	ctx := context.Background()
	// Six households in one res-9 cell of community 3 around (121.43, 31.13).
	centre := orb.Point{121.43, 31.13}
	c9, err := geo.CellOf(centre, 9)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		p := orb.Point{centre[0] + float64(i)*0.00003, centre[1]}
		c12, _ := geo.CellOf(p, 12)
		if parent, _ := c12.Parent(9); parent != c9 {
			t.Fatalf("fixture point %v left the cell", p)
		}
		if _, err := f.pool.Exec(ctx, `INSERT INTO households (area_id, address, geom, h3_r8, h3_r12) VALUES (3, $1, ST_SetSRID(ST_MakePoint($2, $3), 4326), 0, $4)`,
			fmt.Sprintf("六户楼%d号", i), p[0], p[1], int64(c12)); err != nil {
			t.Fatal(err)
		}
	}
	// The box holds only one of the six: the viewer's count is still the whole cell.
	box := fmt.Sprintf("%f,%f,%f,%f", centre[0]-0.00001, centre[1]-0.00001, centre[0]+0.00001, centre[1]+0.00001)
	wide := "121.39,31.09,121.61,31.31"
	var fc geojson.FeatureCollection
	for _, tc := range []struct {
		user, query       string
		res, cells, count int
		suppressed        int
	}{
		{"viewer", "res=12&bbox=" + box, 9, 1, 6, 0},
		{"viewer", "res=9&bbox=" + wide, 9, 1, 6, 5}, // households 1, 2, 3, 4, 6 alone in their cells
		{"viewer", "res=9&metric=persons&bbox=" + wide, 9, 0, 0, 5},
		{"tracer", "res=12&bbox=" + box, 12, 1, 1, 0},
		{"tracer", "res=9&bbox=" + wide, 9, 6, 11, 0},
	} {
		fc = geojson.FeatureCollection{}
		if code := f.get(t, tc.user, "/api/v1/h3?"+tc.query, &fc); code != http.StatusOK {
			t.Fatalf("%s %s: %d", tc.user, tc.query, code)
		}
		total := 0
		for _, ft := range fc.Features {
			total += int(ft.Properties.MustFloat64("count"))
			if tc.user == "viewer" && ft.Properties["cell"] != c9.String() {
				t.Errorf("viewer sees cell %v", ft.Properties["cell"])
			}
		}
		if int(fc.ExtraMembers["res"].(float64)) != tc.res || len(fc.Features) != tc.cells || total != tc.count ||
			int(fc.ExtraMembers["suppressed"].(float64)) != tc.suppressed {
			t.Errorf("%s %s: res %v, %d cells, total %d, members %v; want res %d, %d cells, %d, suppressed %d",
				tc.user, tc.query, fc.ExtraMembers["res"], len(fc.Features), total, fc.ExtraMembers, tc.res, tc.cells, tc.count, tc.suppressed)
		}
	}
	// The case list: the viewer gets case 1 without address, person or household,
	// at its res-9 cell's centre; the tracer gets it all.
	var cases geojson.FeatureCollection
	if code := f.get(t, "viewer", "/api/v1/cases?area=3", &cases); code != http.StatusOK || len(cases.Features) != 1 {
		t.Fatalf("viewer's cases: %d %d", code, len(cases.Features))
	}
	c1, _ := geo.CellOf(orb.Point{121.41, 31.11}, 9)
	at, _ := c1.Center()
	if p := cases.Features[0].Properties; p["address"] != "" || p["person_id"] != nil || p["household_id"] != nil || p["ext_id"] != "" ||
		cases.Features[0].Geometry.(orb.Point) != at {
		t.Fatalf("viewer's case 1: %v %v", cases.Features[0].Geometry, p)
	}
	f.get(t, "tracer", "/api/v1/cases?area=3", &cases)
	if p := cases.Features[0].Properties; p["address"] != "一社区1号" || p["person_id"] != 1.0 || cases.Features[0].Geometry.(orb.Point) != (orb.Point{121.41, 31.11}) {
		t.Fatalf("tracer's case 1: %v %v", cases.Features[0].Geometry, p)
	}
	// Tiles at z16 around the six and around household 1 alone.
	tile := func(user string, p orb.Point, layer string) mvt.Layers {
		t.Helper()
		resp, body := getTile(t, f.url+tilePath(layer, p, 16), f.tokens[user])
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("tile: %d", resp.StatusCode)
		}
		ls, err := mvt.Unmarshal(body)
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	features := func(ls mvt.Layers) []map[string]any {
		var out []map[string]any
		for _, l := range ls {
			for _, ft := range l.Features {
				out = append(out, ft.Properties)
			}
		}
		return out
	}
	six := features(tile("viewer", centre, "households"))
	if len(six) != 1 || six[0]["households"] != 6.0 || six[0]["id"] != nil {
		t.Fatalf("viewer's tile over the six: %v", six)
	}
	if got := features(tile("viewer", orb.Point{121.41, 31.11}, "households")); len(got) != 0 {
		t.Fatalf("viewer's tile over household 1 alone: %v", got)
	}
	if got := features(tile("viewer", orb.Point{121.41, 31.11}, "cases")); len(got) != 0 {
		t.Fatalf("viewer's tile over case 1 alone: %v", got)
	}
	if got := features(tile("tracer", orb.Point{121.41, 31.11}, "households")); len(got) != 1 || got[0]["id"] != 1.0 {
		t.Fatalf("tracer's tile over household 1: %v", got)
	}
	if got := features(tile("tracer", orb.Point{121.41, 31.11}, "cases")); len(got) != 1 || got[0]["id"] != 1.0 {
		t.Fatalf("tracer's tile over case 1: %v", got)
	}
}
