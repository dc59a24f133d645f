package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/grid"
)

// users of the hub tests, by the name a test client passes as ?user=.
var users = map[string]grid.User{
	"admin": {ID: 1, Name: "admin", Role: grid.Admin},
	"w3":    {ID: 2, Name: "w3", Role: grid.GridWorker, AreaIDs: []int64{3}},
	"w6":    {ID: 3, Name: "w6", Role: grid.GridWorker, AreaIDs: []int64{6}},
	"w3vp":  {ID: 4, Name: "w3vp", Role: grid.GridWorker, AreaIDs: []int64{3}},
}

// hubServer serves the hub with the user named in the query (authentication is the
// api package's business, tested there).
func hubServer(t *testing.T, cfg live.Config) (*live.Hub, *httptest.Server) {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := live.NewHub(cfg)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := hub.ServeWS(w, r, users[r.URL.Query().Get("user")], r.URL.Query().Get("session")); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hub.Close(ctx)
		ts.Close()
	})
	return hub, ts
}

// msg is any server message.
type msg struct {
	Type     string          `json:"type"`
	ID       int64           `json:"id"`
	LastID   int64           `json:"last_id"`
	Kind     string          `json:"kind"`
	Entity   string          `json:"entity"`
	EntityID *int64          `json:"entity_id"`
	AreaID   *int64          `json:"area_id"`
	BBox     *[4]float64     `json:"bbox"`
	Payload  json.RawMessage `json:"payload"`
	Message  string          `json:"message"`
}

func dial(t *testing.T, ts *httptest.Server, user string, hdr http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/?user="+user, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial as %s: %v (HTTP %d)", user, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	if m := read(t, conn); m.Type != "hello" {
		t.Fatalf("first message %+v, want hello", m)
	}
	return conn
}

func read(t *testing.T, conn *websocket.Conn) msg {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var m msg
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// setViewport sends a viewport and waits until the hub has applied it: the reader
// handles messages in order, so the error answer to a bad message that follows
// proves the viewport went first.
func setViewport(t *testing.T, conn *websocket.Conn, bbox string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"viewport","bbox":`+bbox+`}`)); err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"sync"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read(t, conn); m.Type != "error" || !strings.Contains(m.Message, `"sync"`) {
		t.Fatalf("answer to sync: %+v", m)
	}
}

func change(id int64, area int64, ancestors []int64, box *orb.Bound) grid.Change {
	return grid.Change{ID: id, Kind: "upsert", Entity: "household", EntityID: id * 10, AreaID: area, Ancestors: ancestors,
		BBox: box, Payload: json.RawMessage(`{"version":1}`), CreatedAt: time.Now()}
}

func point(lng, lat float64) *orb.Bound {
	return &orb.Bound{Min: orb.Point{lng, lat}, Max: orb.Point{lng, lat}}
}

// readIDs reads change messages until the one with id last, and returns their ids.
func readIDs(t *testing.T, conn *websocket.Conn, last int64) []int64 {
	t.Helper()
	var ids []int64
	for {
		m := read(t, conn)
		if m.Type != "change" {
			t.Fatalf("unexpected %+v", m)
		}
		ids = append(ids, m.ID)
		if m.ID == last {
			return ids
		}
	}
}

func TestHubNotReadyUntilPublish(t *testing.T) {
	hub, ts := hubServer(t, live.Config{})
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/?user=admin", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the first publish: %v %v", err, resp)
	}
	hub.Publish(41, nil)
	conn := dial(t, ts, "admin", nil)
	_ = conn
	hub.Publish(42, []grid.Change{change(42, 3, []int64{1, 2, 3}, nil)})
	if m := read(t, conn); m.Type != "change" || m.ID != 42 || m.Kind != "upsert" || m.Entity != "household" ||
		*m.EntityID != 420 || *m.AreaID != 3 || m.BBox != nil || string(m.Payload) != `{"version":1}` {
		t.Fatalf("change message %+v", m)
	}
	// ?since needs a replay store, which this hub has not.
	_, resp, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/?user=admin&since=1", nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("since without store: %v %v", err, resp)
	}
}

func TestHubFilters(t *testing.T) {
	hub, ts := hubServer(t, live.Config{})
	hub.Publish(0, nil)
	conns := map[string]*websocket.Conn{}
	for name := range users {
		conns[name] = dial(t, ts, name, nil)
	}
	setViewport(t, conns["w3vp"], `[121.40, 31.10, 121.42, 31.12]`)
	// A viewport is checked and the old one kept.
	for _, bad := range []string{`[1,2,3]`, `[121.5, 31.1, 121.4, 31.2]`, `"x"`, `[0, 0, 0, 1e999]`} {
		if err := conns["w3vp"].WriteMessage(websocket.TextMessage, []byte(`{"type":"viewport","bbox":`+bad+`}`)); err != nil {
			t.Fatal(err)
		}
		if m := read(t, conns["w3vp"]); m.Type != "error" || !strings.Contains(m.Message, "bbox") {
			t.Fatalf("bad viewport %s: %+v", bad, m)
		}
	}

	everywhere := []int64{1, 2, 3, 5, 6}
	hub.Publish(6, []grid.Change{
		change(1, 3, []int64{1, 2, 3}, point(121.41, 31.11)), // in community 3, in the viewport
		change(2, 3, []int64{1, 2, 3}, point(121.44, 31.14)), // in community 3, outside it
		change(3, 6, []int64{1, 5, 6}, point(121.51, 31.11)), // community 6
		change(4, 0, nil, point(121.70, 31.40)),              // no area: admin only
		change(5, 3, []int64{1, 2, 3}, nil),                  // no box: passes any viewport
		change(6, 0, everywhere, nil),                        // the end marker, for all
	})
	want := map[string][]int64{
		"admin": {1, 2, 3, 4, 5, 6},
		"w3":    {1, 2, 5, 6},
		"w6":    {3, 6},
		"w3vp":  {1, 5, 6},
	}
	for name, ids := range want {
		if got := readIDs(t, conns[name], 6); !slices.Equal(got, ids) {
			t.Errorf("%s received %v, want %v", name, got, ids)
		}
	}
	// Clearing the viewport brings everything in the jurisdiction again.
	setViewport(t, conns["w3vp"], `null`)
	hub.Publish(7, []grid.Change{change(7, 3, []int64{1, 2, 3}, point(121.44, 31.14))})
	if got := readIDs(t, conns["w3vp"], 7); !slices.Equal(got, []int64{7}) {
		t.Errorf("after clearing the viewport: %v", got)
	}
}

// TestHubDropsSlowClient: a client that does not read fills its socket, then its
// queue, and is dropped with 1013; a client that reads receives every change.
func TestHubDropsSlowClient(t *testing.T) {
	hub, ts := hubServer(t, live.Config{QueueSize: 8, WriteTimeout: time.Minute})
	hub.Publish(0, nil)
	fast := dial(t, ts, "admin", nil)
	slow := dial(t, ts, "admin", nil)

	received := make(chan int64, 1)
	readErr := make(chan error, 1)
	go func() {
		for {
			var m msg
			if err := fast.ReadJSON(&m); err != nil {
				readErr <- err
				return
			}
			received <- m.ID
		}
	}()
	// Big messages fill the slow client's socket buffers (a few MB on loopback)
	// quickly. Each publish waits for the fast client, so only the slow one lags.
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
	const n = 400
	dropped := 0
	for id := int64(1); id <= n; id++ {
		c := change(id, 3, []int64{1, 2, 3}, nil)
		c.Payload = big
		hub.Publish(id, []grid.Change{c})
		select {
		case got := <-received:
			if got != id {
				t.Fatalf("fast client got %d, want %d", got, id)
			}
		case err := <-readErr:
			t.Fatalf("fast client after %d: %v", id, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("fast client never got %d", id)
		}
		if dropped == 0 && hub.Clients() == 1 {
			dropped = int(id)
		}
	}
	if dropped == 0 {
		t.Fatalf("the slow client was never dropped (%d clients)", hub.Clients())
	}
	// The slow client got a gap-free prefix, then the close frame.
	var last int64
	for {
		slow.SetReadDeadline(time.Now().Add(30 * time.Second))
		var m msg
		err := slow.ReadJSON(&m)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseTryAgainLater {
				t.Fatalf("close code %d %q, want 1013", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("slow client: %v", err)
		}
		if m.ID != last+1 {
			t.Fatalf("slow client got %d after %d", m.ID, last)
		}
		last = m.ID
	}
	if last == 0 || last >= n {
		t.Fatalf("slow client received %d of %d before the drop", last, n)
	}
	t.Logf("slow client dropped after publish %d, having received %d", dropped, last)
}

func TestHubCloseGoingAway(t *testing.T) {
	hub, ts := hubServer(t, live.Config{})
	hub.Publish(0, nil)
	conn := dial(t, ts, "w3", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after Close: %v, want 1001", err)
	}
	// A closing hub refuses new clients.
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/?user=w3", nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial a closed hub: %v", err)
	}
}

func TestHubOrigin(t *testing.T) {
	hub, ts := hubServer(t, live.Config{})
	hub.Publish(0, nil)
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/?user=w3"
	// A page of another site, riding the browser's cookie: refused.
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}
	// Our own page, and a non-browser client with a token, are welcome.
	dial(t, ts, "w3", http.Header{"Origin": {ts.URL}})
	dial(t, ts, "w3", http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer x"}})
	// Only text frames.
	conn := dial(t, ts, "w3", nil)
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte{1}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
		t.Fatalf("binary frame: %v, want 1003", err)
	}
}

// fakeSessions is a SessionChecker over a set of open sessions, recording its calls.
type fakeSessions struct {
	mu    sync.Mutex
	open  map[string]bool
	fail  bool
	calls [][]string
}

func (f *fakeSessions) LiveSessions(_ context.Context, keys []string) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, slices.Sorted(slices.Values(keys)))
	if f.fail {
		return nil, errors.New("database down")
	}
	out := map[string]bool{}
	for _, k := range keys {
		if f.open[k] {
			out[k] = true
		}
	}
	return out, nil
}

// expectClosed reads until conn is closed, which must be with code.
func expectClosed(t *testing.T, conn *websocket.Conn, code int) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("closed with %v, want %d", err, code)
		}
		return
	}
}

// TestHubSessions: one check asks once for every distinct session and closes the
// clients of the ended ones with 1008; a failing check closes nobody; EndSessions
// and EndUser close at once.
func TestHubSessions(t *testing.T) {
	fs := &fakeSessions{open: map[string]bool{"a": true, "b": true, "c": true}}
	hub, ts := hubServer(t, live.Config{Sessions: fs, SessionCheckEvery: time.Hour})
	hub.Publish(0, nil)
	a1 := dial(t, ts, "w3&session=a", nil)
	a2 := dial(t, ts, "w3&session=a", nil)
	b := dial(t, ts, "w6&session=b", nil)
	c := dial(t, ts, "admin&session=c", nil)
	nosession := dial(t, ts, "w3vp", nil)

	fs.mu.Lock()
	fs.fail, fs.open["a"] = true, false
	fs.mu.Unlock()
	hub.CheckSessions(context.Background())
	if n := hub.Clients(); n != 5 {
		t.Fatalf("a failed check closed clients: %d left", n)
	}
	fs.mu.Lock()
	fs.fail = false
	fs.mu.Unlock()
	hub.CheckSessions(context.Background())
	expectClosed(t, a1, live.CloseSessionEnded)
	expectClosed(t, a2, live.CloseSessionEnded)
	fs.mu.Lock()
	calls := fs.calls
	fs.mu.Unlock()
	if len(calls) != 2 || !slices.Equal(calls[1], []string{"a", "b", "c"}) {
		t.Fatalf("session checks %v, want two of [a b c]", calls)
	}

	hub.EndSessions("b")
	expectClosed(t, b, live.CloseSessionEnded)
	hub.EndUser(users["admin"].ID)
	expectClosed(t, c, live.CloseSessionEnded)
	// The client without a session is never checked and still served.
	hub.Publish(1, []grid.Change{change(1, 3, []int64{1, 2, 3}, nil)})
	if m := read(t, nosession); m.Type != "change" || m.ID != 1 {
		t.Fatalf("client without a session: %+v", m)
	}
	if n := hub.Clients(); n != 1 {
		t.Fatalf("%d clients left, want 1", n)
	}
}
