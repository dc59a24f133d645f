package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/migrations/localpg"
)

// ownClusterPort is a free port for a cluster of the test's own, after checking
// the PostgreSQL binaries are there: without them the test skips by hand and fails
// in CI.
func ownClusterPort(t *testing.T) int {
	t.Helper()
	if _, err := localpg.FindBinDir(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs PostgreSQL binaries: %v", err)
		}
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// faultCluster starts a PostgreSQL cluster of the test's own (it is stopped and
// restarted, so the shared test cluster will not do) on a free port under
// t.TempDir(). Without PostgreSQL binaries the test skips by hand and fails in CI.
func faultCluster(t *testing.T, ctx context.Context) (*localpg.Cluster, string) {
	t.Helper()
	port := ownClusterPort(t)
	c := &localpg.Cluster{Dir: filepath.Join(t.TempDir(), "pg"), Port: port}
	url, err := c.Start(ctx, "gridtrace")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c, url
}

// faultClient speaks to the server under test as one bearer-token user.
type faultClient struct {
	base, token string
	http        *http.Client
}

// do sends a JSON request and returns the status, the Retry-After header and the
// decoded body (when out is set and the answer is 2xx).
func (c *faultClient) do(method, path string, body, out any) (int, string, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("decode %s: %w", data, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// wsFeed reads a live connection into a channel until it ends.
func wsFeed(conn *live.Conn) <-chan map[string]any {
	ch := make(chan map[string]any, 1024)
	go func() {
		defer close(ch)
		for {
			data, err := conn.Read(time.Now().Add(5 * time.Minute))
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				ch <- m
			}
		}
	}()
	return ch
}

// waitFor reads msgs until one satisfies ok; false when the feed ends or ctx does.
func waitFor(ctx context.Context, msgs <-chan map[string]any, ok func(map[string]any) bool) bool {
	for {
		select {
		case m, open := <-msgs:
			if !open {
				return false
			}
			if ok(m) {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// TestDatabaseFault stops the database (pg_ctl stop -m fast) in the middle of a
// stream of household writes through the HTTP API and starts it again. Each write
// creates a household with two residents (households + persons + changes, one
// transaction) and then replaces it with a new address and three residents.
// Afterwards: every acknowledged write is in the database, none is half-applied
// (each household has the residents of exactly one version), every refused write
// got 503 with Retry-After (never 500), /readyz said 503 during the outage and 200
// after it, a connected websocket client was told the database went away, and a
// client reconnecting after recovery receives a change made then.
func TestDatabaseFault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cluster, url := faultCluster(t, ctx)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Apply(ctx, conn.Conn()); err != nil {
		t.Fatal(err)
	}
	conn.Release()
	store := grid.NewStore(pool)
	if _, err := store.UpsertUser(ctx, "fault-admin", "fault-admin-password", grid.Admin, nil); err != nil {
		t.Fatal(err)
	}

	sctx, stopServer := context.WithCancel(ctx)
	var out syncBuffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(k string) string {
		if k == "GRIDTRACE_LOG_LEVEL" {
			return "warn"
		}
		return ""
	}}
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- m.serve(sctx, store, serveFlags{addr: "127.0.0.1:0"}, true, ready) }()
	defer func() {
		stopServer()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := <-ready
	c := &faultClient{base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}
	readyz := func() int {
		code, _, err := c.do("GET", "/readyz", nil, nil)
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		return code
	}
	waitReady := func(what string) {
		for readyz() != http.StatusOK {
			if ctx.Err() != nil {
				t.Fatalf("/readyz never answered 200 %s\n%s", what, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitReady("at start")
	var login struct{ Token string }
	if code, _, err := c.do("POST", "/api/v1/login", map[string]string{"name": "fault-admin", "password": "fault-admin-password"}, &login); err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %v", code, err)
	}
	c.token = login.Token
	wsURL := "ws://" + addr + "/api/v1/live"
	first, err := live.Dial(ctx, wsURL, c.token)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	firstMsgs := wsFeed(first)

	// The writers: each acknowledged step is recorded; refusals must be 503.
	type result struct {
		marker            string
		id                int64
		created, replaced bool
	}
	var (
		mu       sync.Mutex
		results  []result
		refused  = map[int]int{}
		badRetry int
	)
	note := func(code int, retry string) {
		mu.Lock()
		defer mu.Unlock()
		refused[code]++
		if code == http.StatusServiceUnavailable && retry == "" {
			badRetry++
		}
	}
	persons := func(marker string, n int) []map[string]string {
		var ps []map[string]string
		for i := range n {
			ps = append(ps, map[string]string{"name": fmt.Sprintf("%s-p%d", marker, i)})
		}
		return ps
	}
	stopWriters := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWriters:
					return
				default:
				}
				r := result{marker: fmt.Sprintf("fault-%d-%d", w, i)}
				var created struct {
					ID         int64
					Properties map[string]any
				}
				code, retry, err := c.do("POST", "/api/v1/households", map[string]any{
					"ext_id": r.marker, "address": r.marker, "lng": 121.47 + float64(w)/100, "lat": 31.23,
					"persons": persons(r.marker, 2)}, &created)
				if err != nil {
					t.Errorf("create %s: %v", r.marker, err)
					return
				}
				if code/100 == 2 {
					r.created, r.id = true, created.ID
					version := created.Properties["version"]
					code, retry, err = c.do("PUT", fmt.Sprintf("/api/v1/households/%d", r.id), map[string]any{
						"version": version, "address": r.marker + "-v2", "lng": 121.47, "lat": 31.23,
						"persons": persons(r.marker+"-v2", 3)}, nil)
					if err != nil {
						t.Errorf("replace %s: %v", r.marker, err)
						return
					}
					r.replaced = code/100 == 2
				}
				if code/100 != 2 {
					note(code, retry)
					time.Sleep(10 * time.Millisecond) // a client would wait Retry-After
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results {
			if r.replaced {
				n++
			}
		}
		return n
	}
	for acked() < 20 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}

	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database stopped: %d, want 503", code)
	}
	if _, err := live.Dial(ctx, wsURL, c.token); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("a websocket dial with the database stopped: %v, want HTTP 503", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, time.Minute)
	if !waitFor(tctx, firstMsgs, func(m map[string]any) bool { return m["type"] == "status" && m["database"] == "unavailable" }) {
		t.Errorf("the connected websocket client was not told the database is unavailable")
	}
	tcancel()
	time.Sleep(500 * time.Millisecond) // writes keep failing meanwhile
	if _, err := cluster.Start(ctx, "gridtrace"); err != nil {
		t.Fatal(err)
	}
	waitReady("after the database came back")
	after := acked()
	for acked() < after+20 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	close(stopWriters)
	wg.Wait()

	// A client that reconnects after recovery resumes from its last id and gets a
	// change made now.
	second, err := live.Dial(ctx, fmt.Sprintf("%s?since=%d", wsURL, first.LastID), c.token)
	if err != nil {
		t.Fatalf("reconnect after recovery: %v", err)
	}
	defer second.Close()
	secondMsgs := wsFeed(second)
	var h struct{ ID int64 }
	if code, _, err := c.do("POST", "/api/v1/households", map[string]any{
		"ext_id": "after-recovery", "address": "after recovery", "lng": 121.5, "lat": 31.2}, &h); err != nil || code != http.StatusCreated {
		t.Fatalf("create after recovery: %d %v", code, err)
	}
	isNew := func(m map[string]any) bool {
		return m["type"] == "change" && m["entity"] == "household" && m["entity_id"] == float64(h.ID)
	}
	tctx, tcancel = context.WithTimeout(ctx, time.Minute)
	defer tcancel()
	if !waitFor(tctx, secondMsgs, isNew) {
		t.Errorf("the reconnected client did not receive household %d created after recovery", h.ID)
	}
	if !waitFor(tctx, firstMsgs, isNew) {
		t.Errorf("the client connected through the outage did not receive household %d", h.ID)
	}

	// The database: acknowledged writes present, nothing half-applied.
	rows, err := pool.Query(ctx, `
		SELECT h.ext_id, h.address, count(p.id), count(p.id) FILTER (WHERE p.name LIKE h.address || '-p%')
		FROM households h LEFT JOIN persons p ON p.household_id = h.id
		WHERE h.ext_id LIKE 'fault-%' GROUP BY h.id`)
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		address          string
		persons, matched int
	}
	db := map[string]stored{}
	for rows.Next() {
		var ext string
		var s stored
		if err := rows.Scan(&ext, &s.address, &s.persons, &s.matched); err != nil {
			t.Fatal(err)
		}
		db[ext] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for ext, s := range db {
		v1 := s.address == ext && s.persons == 2 && s.matched == 2
		v2 := s.address == ext+"-v2" && s.persons == 3 && s.matched == 3
		if !v1 && !v2 {
			t.Errorf("household %s is half-written: address %q with %d residents (%d of its version)", ext, s.address, s.persons, s.matched)
		}
	}
	var nCreated, nReplaced int
	for _, r := range results {
		s, ok := db[r.marker]
		switch {
		case r.created && !ok:
			t.Errorf("acknowledged create %s is lost", r.marker)
		case r.replaced && s.address != r.marker+"-v2":
			t.Errorf("acknowledged replace of %s is lost: address %q", r.marker, s.address)
		}
		if r.created {
			nCreated++
		}
		if r.replaced {
			nReplaced++
		}
	}
	var changes int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT c.entity_id) FROM changes c JOIN households h ON h.id = c.entity_id
		WHERE c.entity = 'household' AND h.ext_id LIKE 'fault-%'`).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if changes != len(db) {
		t.Errorf("%d fault households have a change row, want all %d", changes, len(db))
	}
	mu.Lock()
	defer mu.Unlock()
	for code, n := range refused {
		if code != http.StatusServiceUnavailable {
			t.Errorf("%d writes answered %d, want 503", n, code)
		}
	}
	if badRetry > 0 {
		t.Errorf("%d 503 answers without Retry-After", badRetry)
	}
	if refused[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no write was refused: the outage was not exercised")
	}
	t.Logf("%d writes: %d creates and %d replaces acknowledged, refused %v; %d households stored", len(results), nCreated, nReplaced, refused, len(db))
}

// TestGracefulShutdown stops the server (what SIGTERM and SIGINT do through main's
// context) while a request is in flight and a websocket is open: the request is
// finished and answered, the websocket gets a 1001 close frame, serve returns nil,
// and new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := store.UpsertUser(ctx, "drain-admin", "drain-admin-password", grid.Admin, nil); err != nil {
		t.Fatal(err)
	}
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	var out syncBuffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- m.serve(sctx, store, serveFlags{addr: "127.0.0.1:0"}, true, ready) }()
	addr := <-ready
	// No keep-alive: the in-flight request gets a connection of its own.
	c := &faultClient{base: "http://" + addr, http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}}
	for {
		if code, _, err := c.do("GET", "/readyz", nil, nil); err == nil && code == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never ready\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var login struct{ Token string }
	if code, _, err := c.do("POST", "/api/v1/login", map[string]string{"name": "drain-admin", "password": "drain-admin-password"}, &login); err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %v", code, err)
	}
	ws, err := live.Dial(ctx, "ws://"+addr+"/api/v1/live", login.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	// The in-flight request: its body arrives in two halves around the shutdown.
	body := `{"ext_id":"drained","address":"in flight at shutdown","lng":121.47,"lat":31.23}`
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", c.base+"/api/v1/households", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+login.Token)
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := c.http.Do(req)
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		answered <- resp
	}()
	if _, err := pw.Write([]byte(body[:20])); err != nil {
		t.Fatal(err)
	}
	// The transport has sent the headers once it reads the body; give the server a
	// moment to read them, so the connection is active, not idle (Shutdown closes idle
	// connections at once). An ordering aid only: nothing is timed.
	time.Sleep(300 * time.Millisecond)
	stopServer()
	// The close frame arrives once shutdown has begun; then the body is finished.
	if _, err := ws.Read(time.Now().Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "1001") {
		t.Errorf("websocket at shutdown: %v, want a 1001 close frame", err)
	}
	if _, err := pw.Write([]byte(body[20:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if resp := <-answered; resp == nil || resp.StatusCode != http.StatusCreated {
		t.Errorf("in-flight request at shutdown: %v, want 201", resp)
	} else {
		resp.Body.Close()
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM households WHERE ext_id = 'drained'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the drained request's household: %d rows, %v", n, err)
	}
	if _, err := http.Get(c.base + "/healthz"); err == nil {
		t.Errorf("a new request after shutdown was served")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's log writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
