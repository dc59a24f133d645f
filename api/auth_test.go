package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gridtrace/gridtrace/grid"
)

// login opens a session for name (created with role and no areas) and returns the token.
func mustUser(t *testing.T, store *grid.Store, name string, role grid.Role, areas []int64) {
	t.Helper()
	if _, err := store.UpsertUser(context.Background(), name, grid.DemoPassword(name), role, areas); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, base, name string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if code := do(t, "POST", base+"/api/v1/login", "", `{"name":"`+name+`","password":"`+grid.DemoPassword(name)+`"}`, &out); code != http.StatusOK || out.Token == "" {
		t.Fatalf("login %s: %d", name, code)
	}
	return out.Token
}

func TestLoginMeLogout(t *testing.T) {
	ts, store := testServer(t)
	mustUser(t, store, "commander", grid.Commander, nil)
	var e apiError
	if code := do(t, "GET", ts.URL+"/api/v1/me", "", "", &e); code != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
		t.Fatalf("me without session: %d %+v", code, e)
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"commander","password":"wrong-password"}`, &e); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"commander"`, &e); code != http.StatusBadRequest || e.Error.Field != "body" {
		t.Fatalf("bad JSON: %d %+v", code, e)
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"commander","password":7}`, &e); code != http.StatusBadRequest || e.Error.Field != "password" {
		t.Fatalf("wrong type: %d %+v", code, e)
	}
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"","password":"x"}`, &e); code != http.StatusBadRequest || e.Error.Field != "name" {
		t.Fatalf("empty name: %d %+v", code, e)
	}
	tok := login(t, ts.URL, "commander")
	var me struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if code := do(t, "GET", ts.URL+"/api/v1/me", tok, "", &me); code != http.StatusOK || me.Name != "commander" || me.Role != "commander" {
		t.Fatalf("me: %d %+v", code, me)
	}
	if code := do(t, "POST", ts.URL+"/api/v1/logout", tok, "", nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code := do(t, "GET", ts.URL+"/api/v1/me", tok, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d", code)
	}
}

func TestLoginThrottled(t *testing.T) {
	ts, store := testServer(t)
	mustUser(t, store, "viewer", grid.Viewer, nil)
	last := 0
	for i := 0; i < 12; i++ {
		last = do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"viewer","password":"guess-`+itoa(i)+`"}`, nil)
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("12th wrong password: %d, want 429", last)
	}
	// Even the right password is refused while the name is blocked.
	if code := do(t, "POST", ts.URL+"/api/v1/login", "", `{"name":"viewer","password":"viewer-demo"}`, nil); code != http.StatusTooManyRequests {
		t.Fatalf("right password while blocked: %d", code)
	}
}

func TestCookieSessionRefusesCrossSitePost(t *testing.T) {
	ts, store := testServer(t)
	mustUser(t, store, "commander", grid.Commander, nil)
	tok := login(t, ts.URL, "commander")
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/logout", strings.NewReader(""))
	req.AddCookie(&http.Cookie{Name: "gridtrace_session", Value: tok})
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site cookie POST: %d", resp.StatusCode)
	}
	// The session survived the refused request.
	req, _ = http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: "gridtrace_session", Value: tok})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cookie GET: %d", resp.StatusCode)
	}
}

func itoa(i int) string { return string(rune('a' + i)) }
