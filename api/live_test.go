package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/grid"
)

// liveServer is one gridtrace server with its live feed: API, hub and listener on a
// pool of the shared test database.
type liveServer struct {
	url  string
	hub  *live.Hub
	stop func()
}

func startLive(t *testing.T, pool *pgxpool.Pool) *liveServer {
	t.Helper()
	return startLiveWith(t, pool, nil, live.Config{})
}

// startLiveWeb is startLive serving the browser app from webFS too.
func startLiveWeb(t *testing.T, pool *pgxpool.Pool, webFS fs.FS) *liveServer {
	t.Helper()
	return startLiveWith(t, pool, webFS, live.Config{})
}

// startLiveWith is startLive with a web app (nil: none) and hub settings.
func startLiveWith(t *testing.T, pool *pgxpool.Pool, webFS fs.FS, cfg live.Config) *liveServer {
	t.Helper()
	return startLiveOn(t, pool, webFS, cfg, "")
}

// startLiveOn is startLiveWith listening on addr ("": a free port), e.g. to restart
// a server where its browsers expect it.
func startLiveOn(t *testing.T, pool *pgxpool.Pool, webFS fs.FS, cfg live.Config, addr string) *liveServer {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := grid.NewStore(pool)
	cfg.Store, cfg.Log, cfg.Sessions = store, quiet, store
	hub := live.NewHub(cfg)
	feed := grid.NewListener(store, grid.ListenerConfig{Publish: hub.Publish, Log: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	ts := httptest.NewUnstartedServer(api.New(api.Config{Store: store, Log: quiet, Live: hub, Web: webFS}).Handler())
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			cancel()
			t.Fatalf("listen on %s: %v", addr, err)
		}
		ts.Listener.Close()
		ts.Listener = l
	}
	ts.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer ccancel()
			if err := hub.Close(cctx); err != nil {
				t.Errorf("hub close: %v", err)
			}
			ts.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("listener: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &liveServer{url: ts.URL, hub: hub, stop: stop}
}

// waitFor waits until the server's hub has published every change committed now.
func (s *liveServer) waitFor(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var last int64
	if err := pool.QueryRow(context.Background(), `SELECT max(id) FROM changes`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for s.hub.Last() < last {
		if time.Now().After(deadline) {
			t.Fatalf("hub at %d, never reached %d", s.hub.Last(), last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// secondPool opens another pool on the database of pool: a second server process.
func secondPool(t *testing.T, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

type liveMsg struct {
	Type     string          `json:"type"`
	ID       int64           `json:"id"`
	LastID   int64           `json:"last_id"`
	Kind     string          `json:"kind"`
	Entity   string          `json:"entity"`
	EntityID int64           `json:"entity_id"`
	AreaID   int64           `json:"area_id"`
	BBox     []float64       `json:"bbox"`
	Payload  json.RawMessage `json:"payload"`
}

// liveClient is a websocket client of /api/v1/live.
type liveClient struct {
	t    *testing.T
	conn *websocket.Conn
	last int64 // the last change id received
}

// dialLive connects as the token's user, retrying while the server's feed is not
// ready yet (503), and reads the hello.
func dialLive(t *testing.T, base, token, query string) (*liveClient, liveMsg) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/live" + query
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, resp, err := websocket.DefaultDialer.Dial(url, hdr)
		if err == nil {
			t.Cleanup(func() { conn.Close() })
			c := &liveClient{t: t, conn: conn}
			hello := c.next()
			if hello.Type != "hello" {
				t.Fatalf("first message %+v", hello)
			}
			return c, hello
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("dial %s: %v %v", url, err, resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// next reads one message, waiting generously.
func (c *liveClient) next() liveMsg {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	var m liveMsg
	if err := c.conn.ReadJSON(&m); err != nil {
		c.t.Fatalf("live read: %v", err)
	}
	if m.Type == "change" {
		if m.ID <= c.last {
			c.t.Fatalf("change %d after %d: duplicate or out of order", m.ID, c.last)
		}
		c.last = m.ID
	}
	return m
}

// expect reads the next message and checks it is the change of a household write.
func (c *liveClient) expect(what string, household int64) liveMsg {
	c.t.Helper()
	m := c.next()
	if m.Type != "change" || m.Entity != "household" || m.EntityID != household {
		c.t.Fatalf("%s: got %+v, want the change of household %d", what, m, household)
	}
	return m
}

// createHousehold files a household through the server at base and returns its id.
func createHousehold(t *testing.T, base, token string, lng, lat float64) int64 {
	t.Helper()
	var f geojson.Feature
	body := fmt.Sprintf(`{"address":"测试路%v号","lng":%v,"lat":%v}`, lng, lng, lat)
	if code := do(t, "POST", base+"/api/v1/households", token, body, &f); code != http.StatusCreated {
		t.Fatalf("create household: %d %+v", code, f)
	}
	return int64(f.Properties.MustFloat64("id"))
}

// TestLiveTwoServers: two servers on one database; a write through A reaches B's
// clients, each within its jurisdiction.
func TestLiveTwoServers(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	a := startLive(t, f.pool)
	b := startLive(t, secondPool(t, f.pool))

	// The feed needs a session like every API call.
	url := "ws" + strings.TrimPrefix(b.url, "http") + "/api/v1/live"
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a session: %v %v", err, resp)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(url+"?since=x", http.Header{"Authorization": {"Bearer " + f.tokens["worker"]}}); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad since: %v %v", err, resp)
	}

	worker, hello := dialLive(t, b.url, f.tokens["worker"], "") // community 3
	worker6, _ := dialLive(t, b.url, f.tokens["worker6"], "")   // community 6
	admin, _ := dialLive(t, a.url, f.tokens["admin"], "")       // on A itself
	viewer, _ := dialLive(t, b.url, f.tokens["viewer"], "")     // district 1
	if hello.LastID < 0 {
		t.Fatalf("hello %+v", hello)
	}

	h1 := createHousehold(t, a.url, f.tokens["worker"], 121.44, 31.14) // community 3
	m := worker.expect("B's client in community 3", h1)
	if m.Kind != "upsert" || m.AreaID != 3 || fmt.Sprint(m.BBox) != "[121.44 31.14 121.44 31.14]" || !strings.Contains(string(m.Payload), `"version"`) {
		t.Fatalf("change message %+v %s", m, m.Payload)
	}
	// The viewer has no personal access: its box is the res-9 cell around the point,
	// not the point (grid.LocationPrivacy.CoarseBound).
	vm := viewer.expect("B's district viewer", h1)
	at := orb.Point{121.44, 31.14}
	cell, err := grid.DefaultLocationPrivacy().CoarseBound(orb.Bound{Min: at, Max: at})
	if err != nil {
		t.Fatal(err)
	}
	if len(vm.BBox) != 4 || vm.BBox[0] != cell.Min[0] || vm.BBox[3] != cell.Max[1] ||
		vm.BBox[0] >= 121.44 || vm.BBox[2] <= 121.44 || vm.BBox[1] >= 31.14 || vm.BBox[3] <= 31.14 {
		t.Fatalf("viewer's box %v, want the cell's %v", vm.BBox, cell)
	}
	admin.expect("A's admin", h1)

	// Community 6 hears only of its own: the first thing worker6 receives is h2.
	h2 := createHousehold(t, a.url, f.tokens["worker6"], 121.51, 31.11)
	worker6.expect("B's client in community 6", h2)
	viewer.expect("B's district viewer", h2)
	admin.expect("A's admin", h2)

	// A viewport outside community 3 mutes its changes for that client only.
	if err := worker.conn.WriteJSON(map[string]any{"type": "viewport", "bbox": []float64{121.40, 31.10, 121.42, 31.12}}); err != nil {
		t.Fatal(err)
	}
	if err := worker.conn.WriteJSON(map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if m := worker.next(); m.Type != "error" {
		t.Fatalf("answer to an unknown type: %+v", m)
	}
	h3 := createHousehold(t, a.url, f.tokens["worker"], 121.445, 31.145) // outside the viewport
	h4 := createHousehold(t, a.url, f.tokens["worker"], 121.41, 31.11)   // inside it
	worker.expect("viewport filter", h4)
	viewer.expect("no viewport", h3)
	viewer.expect("no viewport", h4)

	// Nor can the viewer place a household with a small viewport: one a few metres
	// beside the point, inside its cell, still hears of it (matched against the
	// cell), while the worker with the same viewport does not.
	probe := []float64{121.4403, 31.1403, 121.4404, 31.1404}
	if !cell.Intersects(orb.Bound{Min: orb.Point{probe[0], probe[1]}, Max: orb.Point{probe[2], probe[3]}}) {
		t.Fatalf("set-up: the probe %v lies outside the cell %v", probe, cell)
	}
	for _, c := range []*liveClient{viewer, worker} {
		if err := c.conn.WriteJSON(map[string]any{"type": "viewport", "bbox": probe}); err != nil {
			t.Fatal(err)
		}
	}
	h5 := createHousehold(t, a.url, f.tokens["worker"], 121.44, 31.14)
	h6 := createHousehold(t, a.url, f.tokens["worker"], 121.4403, 31.1403) // inside the probe
	viewer.expect("viewer's probe beside the point", h5)
	viewer.expect("viewer's probe", h6)
	worker.expect("worker's probe skips h5", h6)
}

// TestLiveReplay: a client reconnecting with since gets what it missed, before new
// changes and without duplicates, also from a server started after the change.
func TestLiveReplay(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	s1 := startLive(t, f.pool)
	tok := f.tokens["worker"]

	c, _ := dialLive(t, s1.url, tok, "")
	h1 := createHousehold(t, f.url, tok, 121.41, 31.11)
	c.expect("live", h1)
	c.conn.Close()

	// Missed while disconnected.
	h2 := createHousehold(t, f.url, tok, 121.42, 31.12)
	h3 := createHousehold(t, f.url, f.tokens["worker6"], 121.51, 31.11) // not for this client
	h4 := createHousehold(t, f.url, tok, 121.43, 31.13)
	c2, _ := dialLive(t, s1.url, tok, fmt.Sprintf("?since=%d", c.last))
	c2.last = c.last
	c2.expect("replayed", h2)
	c2.expect("replayed", h4)
	h5 := createHousehold(t, f.url, tok, 121.44, 31.14)
	c2.expect("live after replay", h5)
	_ = h3

	// The server restarts; a change lands while it is down.
	s1.stop()
	h6 := createHousehold(t, f.url, tok, 121.41, 31.12)
	s2 := startLive(t, f.pool)
	c3, _ := dialLive(t, s2.url, tok, fmt.Sprintf("?since=%d", c2.last))
	c3.last = c2.last
	c3.expect("replayed across the restart", h6)
	h7 := createHousehold(t, f.url, tok, 121.42, 31.11)
	c3.expect("live after the restart", h7)

	// An id this database never had (a client of an older database): a reset to the
	// server's position.
	c4, hello := dialLive(t, s2.url, tok, "?since=999999999")
	if m := c4.next(); m.Type != "reset" || m.LastID != hello.LastID {
		t.Fatalf("unknown since: %+v (hello %+v)", m, hello)
	}
}

// TestLiveReplayMany: a replay longer than one read page comes whole and in order;
// one longer than MaxReplay is a reset.
func TestLiveReplayMany(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	s := startLiveWith(t, f.pool, nil, live.Config{MaxReplay: 2000})
	tok := f.tokens["worker"]
	c, hello := dialLive(t, s.url, tok, "")
	c.conn.Close()

	// 1,200 changes in community 3 and 300 in community 6, interleaved, in one
	// transaction (its xid taken first, as AppendChange does).
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (kind, entity, entity_id, area_id)
		SELECT 'upsert', 'zone', i, CASE WHEN i % 5 = 0 THEN 6 ELSE 3 END FROM generate_series(1, 1500) i`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Reconnect once the server has published them: 1,200 changes arriving live at
	// once overflow a client's queue (256), which then reconnects and replays; here
	// the replay itself is under test.
	s.waitFor(t, f.pool)

	c2, _ := dialLive(t, s.url, tok, fmt.Sprintf("?since=%d", hello.LastID))
	c2.last = hello.LastID
	for i := 1; i <= 1500; i++ {
		if i%5 == 0 {
			continue
		}
		if m := c2.next(); m.Type != "change" || m.Entity != "zone" || m.EntityID != int64(i) {
			t.Fatalf("replayed change %d: %+v", i, m)
		}
	}
	h := createHousehold(t, s.url, tok, 121.41, 31.11)
	c2.expect("live after a long replay", h)

	// Further behind than MaxReplay: reload instead.
	tx, err = f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (kind, entity, area_id) SELECT 'upsert', 'zone', 3 FROM generate_series(1, 1000)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, f.pool)
	c3, hello3 := dialLive(t, s.url, tok, fmt.Sprintf("?since=%d", hello.LastID))
	if m := c3.next(); m.Type != "reset" || m.LastID != hello3.LastID {
		t.Fatalf("far behind: %+v (hello %+v)", m, hello3)
	}
}
