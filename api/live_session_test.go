package api_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gridtrace/gridtrace/api/live"
)

// expectSessionEnded reads until the server closes c, which must be with 1008
// "session ended"; changes before the close are fine.
func (c *liveClient) expectSessionEnded(what string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "session ended" {
			c.t.Fatalf("%s: %v, want close 1008 \"session ended\"", what, err)
		}
		return
	}
}

// addSession opens another session of fixture user name, ending after ttl.
func (f gridFixture) addSession(t *testing.T, name, token string, ttl time.Duration) {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	if _, err := f.pool.Exec(context.Background(), `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
		sum[:], f.ids[name], ttl.Seconds()); err != nil {
		t.Fatal(err)
	}
}

// TestLiveSessionRevoked: revoking a session on this server closes its live
// clients at once (the periodic check is an hour away): an admin's revoke, a logout,
// disabling the user. Only those: another user, and the same user's other session
// after a logout, stay connected.
func TestLiveSessionRevoked(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	s := startLiveWith(t, f.pool, nil, live.Config{SessionCheckEvery: time.Hour})
	f.addSession(t, "worker6", "worker6-second-session", time.Hour)

	worker, _ := dialLive(t, s.url, f.tokens["worker"], "")
	worker6, _ := dialLive(t, s.url, f.tokens["worker6"], "")
	worker6b, _ := dialLive(t, s.url, "worker6-second-session", "")
	tracer, _ := dialLive(t, s.url, f.tokens["tracer"], "")
	commander, _ := dialLive(t, s.url, f.tokens["commander"], "")

	var out map[string]int
	if code := do(t, "POST", fmt.Sprintf("%s/api/v1/users/%d/revoke-sessions", s.url, f.ids["worker"]), f.tokens["admin"], "", &out); code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("revoke: %d %v", code, out)
	}
	worker.expectSessionEnded("after the admin revoked the worker's sessions")
	// The reconnect is refused: the browser then shows the login.
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+s.url[len("http"):]+"/api/v1/live", http.Header{"Authorization": {"Bearer " + f.tokens["worker"]}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reconnect after revoke: %v %v", err, resp)
	}

	if code := do(t, "POST", s.url+"/api/v1/logout", f.tokens["worker6"], "", nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	worker6.expectSessionEnded("after logout")

	if code := do(t, "POST", fmt.Sprintf("%s/api/v1/users/%d/disable", s.url, f.ids["commander"]), f.tokens["admin"], "", nil); code != http.StatusNoContent {
		t.Fatalf("disable: %d", code)
	}
	commander.expectSessionEnded("after the user was disabled")

	// The other session of worker6 and the tracer still hear of changes.
	h := createHousehold(t, s.url, "worker6-second-session", 121.51, 31.11)
	worker6b.expect("worker6's other session", h)
	tracer.expect("another user", h)
	if n := s.hub.Clients(); n != 2 {
		t.Fatalf("%d clients connected, want 2", n)
	}
}

// TestLiveSessionChecked: the periodic check closes the clients of a session past
// its lifetime, and of one revoked through another server, whose hub could not be
// told; sessions still open stay.
func TestLiveSessionChecked(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	s := startLiveWith(t, f.pool, nil, live.Config{SessionCheckEvery: 50 * time.Millisecond})
	other := startLiveWith(t, secondPool(t, f.pool), nil, live.Config{SessionCheckEvery: time.Hour})
	f.addSession(t, "worker", "worker-short-session", 2*time.Second)

	short, _ := dialLive(t, s.url, "worker-short-session", "")
	viewer, _ := dialLive(t, s.url, f.tokens["viewer"], "")
	worker, _ := dialLive(t, s.url, f.tokens["worker"], "")

	short.expectSessionEnded("after the session's lifetime")

	var out map[string]int
	if code := do(t, "POST", fmt.Sprintf("%s/api/v1/users/%d/revoke-sessions", other.url, f.ids["viewer"]), f.tokens["admin"], "", &out); code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("revoke on the other server: %d %v", code, out)
	}
	viewer.expectSessionEnded("after a revoke on another server")

	// The worker's own session is open: it stays and hears of changes.
	h := createHousehold(t, s.url, f.tokens["worker"], 121.44, 31.14)
	worker.expect("an open session", h)
	if n := s.hub.Clients(); n != 1 {
		t.Fatalf("%d clients connected, want 1", n)
	}
}
