package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// bodyLimits is the cap of every route that takes a body. A new POST, PUT, PATCH or
// DELETE route must be added here (the test enumerates the router), so deciding its
// limit is not forgotten.
var bodyLimits = map[string]int64{
	"POST /api/v1/login":                                   api.MaxAuthBody,
	"POST /api/v1/logout":                                  api.MaxAuthBody,
	"POST /api/v1/households":                              api.MaxJSONBody,
	"PUT /api/v1/households/:id":                           api.MaxJSONBody,
	"PUT /api/v1/trace/subjects/:id":                       api.MaxJSONBody,
	"POST /api/v1/trace/contacts":                          api.MaxJSONBody,
	"POST /api/v1/pings":                                   api.MaxPingBody,
	"PUT /api/v1/zone-policy":                              5 << 20,
	"POST /api/v1/zones":                                   5 << 20,
	"POST /api/v1/zones/propose":                           5 << 20,
	"PUT /api/v1/zones/:id":                                5 << 20,
	"DELETE /api/v1/zones/:id":                             5 << 20,
	"POST /api/v1/zones/:id/accept":                        5 << 20,
	"POST /api/v1/zones/:id/reject":                        5 << 20,
	"POST /api/v1/zones/:id/downgrade":                     5 << 20,
	"POST /api/v1/zones/:id/lift":                          5 << 20,
	"POST /api/v1/sampling/points":                         api.MaxJSONBody,
	"PUT /api/v1/sampling/points/:id":                      api.MaxJSONBody,
	"DELETE /api/v1/sampling/points/:id":                   api.MaxJSONBody,
	"POST /api/v1/sampling/rounds":                         api.MaxJSONBody,
	"POST /api/v1/sampling/rounds/:id/close":               api.MaxJSONBody,
	"POST /api/v1/sampling/rounds/:id/swabs":               api.MaxJSONBody,
	"POST /api/v1/sampling/pools/:pool_id/result":          api.MaxJSONBody,
	"POST /api/v1/sampling/rounds/:id/routes":              api.MaxJSONBody,
	"POST /api/v1/sampling/rounds/:id/stops/:household_id": api.MaxJSONBody,
	"PUT /api/v1/care-policy":                              api.MaxJSONBody,
	"POST /api/v1/isolations/eligibility":                  api.MaxJSONBody,
	"POST /api/v1/isolations":                              api.MaxJSONBody,
	"POST /api/v1/isolations/:id/checkins":                 api.MaxJSONBody,
	"POST /api/v1/sites":                                   api.MaxJSONBody,
	"POST /api/v1/transfers":                               api.MaxJSONBody,
	"POST /api/v1/transfers/:id/depart":                    api.MaxJSONBody,
	"POST /api/v1/transfers/:id/arrive":                    api.MaxJSONBody,
	"POST /api/v1/transfers/:id/cancel":                    api.MaxJSONBody,
	"PUT /api/v1/vulnerable/:id/worker":                    api.MaxJSONBody,
	"POST /api/v1/vulnerable/:id/contacts":                 api.MaxJSONBody,
	"POST /api/v1/deliveries":                              api.MaxJSONBody,
	"POST /api/v1/deliveries/:id/dispatch":                 api.MaxJSONBody,
	"POST /api/v1/deliveries/:id/deliver":                  api.MaxJSONBody,
	"POST /api/v1/deliveries/:id/cancel":                   api.MaxJSONBody,
	"POST /api/v1/alerts/:id/acknowledge":                  api.MaxJSONBody,
	"POST /api/v1/alerts/:id/close":                        api.MaxJSONBody,
	"POST /api/v1/reports/daily/submissions":               api.MaxJSONBody,
	"POST /api/v1/users/:id/revoke-sessions":               api.MaxJSONBody,
	"POST /api/v1/users/:id/disable":                       api.MaxJSONBody,
	"POST /api/v1/users/:id/enable":                        api.MaxJSONBody,
	"PUT /api/v1/me/password":                              api.MaxJSONBody,
}

// zeros is an endless body that is never meant to be read.
type zeros struct{ read int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.read += int64(len(p))
	return len(p), nil
}

// TestBodyLimits sends every body-taking route, as admin, a body one byte over its
// cap by Content-Length: each answers 413 too_large without reading it. A household
// streamed without a Content-Length is refused once the cap is read, writing
// nothing.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	ctx := context.Background()
	if _, err := store.UpsertUser(ctx, "limit-admin", "limit-admin-password", grid.Admin, nil); err != nil {
		t.Fatal(err)
	}
	sess, err := store.Login(ctx, "limit-admin", "limit-admin-password", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	param := regexp.MustCompile(`:[a-z_]+`)
	seen := map[string]bool{}
	for _, r := range srv.Echo().Routes() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		limit, ok := bodyLimits[key]
		if !ok {
			t.Errorf("%s takes a body but has no entry in bodyLimits", key)
			continue
		}
		body := &zeros{}
		req := httptest.NewRequest(r.Method, param.ReplaceAllString(r.Path, "1"), body)
		req.ContentLength = limit + 1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+sess.Token)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		var e apiError
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large" {
			t.Errorf("%s with %d bytes: %d %s, want 413 too_large", key, limit+1, rec.Code, rec.Body.String())
		}
		if body.read > 0 {
			t.Errorf("%s read %d bytes of a body refused by its length", key, body.read)
		}
	}
	for key := range bodyLimits {
		if !seen[key] {
			t.Errorf("bodyLimits lists %s, which the router does not have", key)
		}
	}

	// Streamed without a length: refused after MaxJSONBody bytes, nothing written.
	long := `{"address":"` + strings.Repeat("x", int(api.MaxJSONBody)) + `","lng":121.47,"lat":31.23}`
	req := httptest.NewRequest("POST", "/api/v1/households", io.MultiReader(strings.NewReader(long)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed household of %d bytes: %d %s, want 413", len(long), rec.Code, rec.Body.String())
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM households`).Scan(&n); err != nil || n != 0 {
		t.Errorf("refused bodies wrote %d households (%v)", n, err)
	}
}
