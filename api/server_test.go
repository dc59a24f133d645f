package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// testServer starts the API on a fresh migrated database.
func testServer(t *testing.T) (*httptest.Server, *grid.Store) {
	t.Helper()
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	srv := api.New(api.Config{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, store
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// sendRequest sends req with token as its bearer (none when "") and reads the whole
// answer.
func sendRequest(t *testing.T, req *http.Request, token string) (*http.Response, []byte) {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, b := sendRequest(t, req, token)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func TestHealthAndReady(t *testing.T) {
	ts, store := testServer(t)
	if code := do(t, "GET", ts.URL+"/healthz", "", "", nil); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	if code := do(t, "GET", ts.URL+"/readyz", "", "", nil); code != http.StatusOK {
		t.Fatalf("readyz %d", code)
	}
	// With the schema rolled back a version, the server is not ready.
	if _, err := store.Pool().Exec(context.Background(), `UPDATE schema_version SET version = version - 1`); err != nil {
		t.Fatal(err)
	}
	var e apiError
	if code := do(t, "GET", ts.URL+"/readyz", "", "", &e); code != http.StatusServiceUnavailable || e.Error.Code != "unavailable" {
		t.Fatalf("readyz with old schema: %d %+v", code, e)
	}
	// With the database gone, still 503 and not a 500.
	store.Pool().Close()
	if code := do(t, "GET", ts.URL+"/readyz", "", "", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz without database: %d", code)
	}
	if code := do(t, "GET", ts.URL+"/nope", "", "", &e); code != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Fatalf("unknown route: %d %+v", code, e)
	}
}
