package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/grid"
)

const benchLiveUsage = `usage: gridtrace bench live [--clients 1000,5000] [--changes 100] [--writers 4] [flags]

Serves the API with its live feed on a loopback port against --db (or the local
cluster), then for each client count: starts a child process holding that many
websocket clients (an admin session each), measures this server's heap and stacks
before and after they connect, writes a burst of --changes outbox rows from
--writers concurrent transactions, and reports the delivery latency (receive time
minus the change's created_at, over every client and change) and memory per client.
The rows written stay in the database (entity "bench").
`

type benchLiveFlags struct {
	clients    string
	changes    int
	writers    int
	memProfile string
	cpuProfile string
	// The child process's side: set only when bench live starts itself.
	childURL   string
	childToken string
	childN     int
}

func (m *Main) runBenchLive(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench live", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, benchLiveUsage, "\nflags:\n"); fs.PrintDefaults() }
	var db dbFlags
	var bf benchLiveFlags
	m.bindDB(fs, &db)
	fs.StringVar(&bf.clients, "clients", "1000,5000", "comma-separated websocket client counts, one run each")
	fs.IntVar(&bf.changes, "changes", 100, "changes in each burst")
	fs.IntVar(&bf.writers, "writers", 4, "concurrent writing transactions (commits interleave, so ids commit out of order)")
	fs.StringVar(&bf.memProfile, "memprofile", "", "write the server's heap profile with the clients connected (last run) to this file")
	fs.StringVar(&bf.cpuProfile, "cpuprofile", "", "write the server's CPU profile of the bursts to this file")
	fs.StringVar(&bf.childURL, "child-url", "", "internal: run as the client process against this websocket URL")
	fs.StringVar(&bf.childToken, "child-token", "", "internal: the client process's session token")
	fs.IntVar(&bf.childN, "child-clients", 0, "internal: the client process's client count")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if bf.childURL != "" {
		return m.benchLiveClients(ctx, bf)
	}
	var counts []int
	for _, s := range strings.Split(bf.clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fs.Usage()
			return errUsage
		}
		counts = append(counts, n)
	}
	if bf.changes < 1 || bf.writers < 1 || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if err := raiseFileLimit(slices.Max(counts) + 512); err != nil {
		return err
	}
	log := m.logger(db.logLevel)
	pool, err := db.open(ctx, log)
	if err != nil {
		return err
	}
	defer db.close(pool, log)
	store := grid.NewStore(pool)

	// One admin session: every client sees every change, so each receives the burst.
	name := "bench-live"
	password := "bench-live-" + strconv.FormatUint(rand.Uint64(), 36)
	if _, err := store.UpsertUser(ctx, name, password, grid.Admin, nil); err != nil {
		return fmt.Errorf("bench live: user: %w", err)
	}
	sess, err := store.Login(ctx, name, password, time.Hour)
	if err != nil {
		return fmt.Errorf("bench live: login: %w", err)
	}

	quiet := m.logger("warn")
	hub := live.NewHub(live.Config{Store: store, Log: quiet})
	feed := grid.NewListener(store, grid.ListenerConfig{Publish: hub.Publish, Log: quiet})
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.Run(feedCtx) }()
	defer func() { stopFeed(); <-feedDone }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench live: listen: %w", err)
	}
	hs := &http.Server{Handler: api.New(api.Config{Store: store, Log: quiet, Live: hub}).Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		hub.Close(sctx)
		hs.Shutdown(sctx)
	}()
	for !hub.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	wsURL := "ws://" + ln.Addr().String() + "/api/v1/live"
	log.Info("bench live: serving", "url", wsURL, "cpus", runtime.NumCPU())

	var rows []benchLiveRow
	for _, n := range counts {
		row, err := m.benchLiveRun(ctx, log, store, hub, wsURL, sess.Token, n, bf)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	fmt.Fprintf(m.Stdout, "bench live: %d changes per burst from %d writers; server and clients on loopback, %d CPUs\n",
		bf.changes, bf.writers, runtime.NumCPU())
	fmt.Fprintf(m.Stdout, "%8s %10s %10s %10s %10s %10s %12s %12s %10s %8s\n",
		"clients", "connect", "delivered", "median", "p99", "max", "heap/client", "stack/client", "gor/client", "dropped")
	for _, r := range rows {
		fmt.Fprintf(m.Stdout, "%8d %9.1fs %10d %8.1fms %8.1fms %8.1fms %10.1fKB %10.1fKB %10.2f %8d\n",
			r.clients, r.connect.Seconds(), r.delivered, r.median, r.p99, r.max,
			r.heapPerClient/1024, r.stackPerClient/1024, r.goroutinesPerClient, r.dropped)
	}
	return nil
}

type benchLiveRow struct {
	clients, delivered, dropped   int
	connect                       time.Duration
	median, p99, max              float64 // milliseconds
	heapPerClient, stackPerClient float64 // bytes
	goroutinesPerClient           float64
}

// benchLiveResult is what the client process reports on its last stdout line.
type benchLiveResult struct {
	Clients   int     `json:"clients"`
	Connect   float64 `json:"connect_s"`
	Delivered int     `json:"delivered"`
	Dropped   int     `json:"dropped"` // clients closed before the burst arrived
	Median    float64 `json:"median_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	Error     string  `json:"error,omitempty"`
}

// serverMemory is the live heap and goroutine stacks after a collection.
func serverMemory() (heap, stack uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine()
}

func (m *Main) benchLiveRun(ctx context.Context, log *slog.Logger, store *grid.Store, hub *live.Hub, wsURL, token string, n int, bf benchLiveFlags) (benchLiveRow, error) {
	row := benchLiveRow{clients: n}
	for hub.Clients() != 0 { // the previous run's clients are still leaving
		time.Sleep(20 * time.Millisecond)
	}
	heap0, stack0, gor0 := serverMemory()

	exe, err := os.Executable()
	if err != nil {
		return row, fmt.Errorf("bench live: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "live", "--child-url", wsURL, "--child-token", token,
		"--child-clients", strconv.Itoa(n), "--changes", strconv.Itoa(bf.changes))
	cmd.Stderr = m.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return row, fmt.Errorf("bench live: %w", err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return row, fmt.Errorf("bench live: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return row, fmt.Errorf("bench live: start clients: %w", err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		return row, fmt.Errorf("bench live: client process did not get ready: %q %v", lines.Text(), lines.Err())
	}
	for hub.Clients() < n {
		time.Sleep(10 * time.Millisecond)
	}
	heap1, stack1, gor1 := serverMemory()
	row.heapPerClient = (float64(heap1) - float64(heap0)) / float64(n)
	row.stackPerClient = (float64(stack1) - float64(stack0)) / float64(n)
	row.goroutinesPerClient = float64(gor1-gor0) / float64(n)
	if bf.memProfile != "" {
		if err := writeHeapProfile(bf.memProfile); err != nil {
			return row, err
		}
	}
	log.Info("bench live: clients connected", "clients", n, "heap_mb", float64(heap1)/(1<<20))

	if bf.cpuProfile != "" {
		f, err := os.Create(bf.cpuProfile)
		if err != nil {
			return row, fmt.Errorf("bench live: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return row, fmt.Errorf("bench live: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := writeBenchChanges(ctx, store, bf.changes, bf.writers); err != nil {
		return row, err
	}
	log.Info("bench live: burst written", "changes", bf.changes, "took", time.Since(start).Round(time.Millisecond))
	// Tell the client process the burst is out (it knows how many to expect).
	fmt.Fprintln(stdin, "written")
	var res benchLiveResult
	if !lines.Scan() {
		return row, fmt.Errorf("bench live: client process ended without a result: %v", lines.Err())
	}
	if err := json.Unmarshal(lines.Bytes(), &res); err != nil {
		return row, fmt.Errorf("bench live: client result %q: %w", lines.Text(), err)
	}
	if res.Error != "" {
		return row, fmt.Errorf("bench live: clients: %s", res.Error)
	}
	row.connect = time.Duration(res.Connect * float64(time.Second))
	row.delivered, row.dropped = res.Delivered, res.Dropped
	row.median, row.p99, row.max = res.Median, res.P99, res.Max
	return row, nil
}

// writeBenchChanges appends n zone changes from writers concurrent transactions,
// each change its own transaction, as a burst of map edits would.
func writeBenchChanges(ctx context.Context, store *grid.Store, n, writers int) error {
	var next atomic.Int64
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				i := next.Add(1)
				if i > int64(n) {
					errc <- nil
					return
				}
				lng, lat := 121.2+0.6*rng.Float64(), 30.9+0.6*rng.Float64()
				box := orb.Bound{Min: orb.Point{lng, lat}, Max: orb.Point{lng + 0.005, lat + 0.005}}
				tx, err := store.Pool().Begin(ctx)
				if err != nil {
					errc <- fmt.Errorf("bench live: begin: %w", err)
					return
				}
				_, err = grid.AppendChange(ctx, tx, grid.ChangeInput{Kind: "upsert", Entity: "bench", EntityID: i, BBox: &box,
					Payload: map[string]any{"version": 1}})
				if err == nil {
					err = tx.Commit(ctx)
				}
				if err != nil {
					tx.Rollback(ctx)
					errc <- fmt.Errorf("bench live: write change: %w", err)
					return
				}
			}
		}()
	}
	var first error
	for range writers {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// benchLiveClients is the client process: it connects childN clients, says "ready",
// waits for "written" on stdin, reads the burst on every client and prints the
// result as one JSON line.
func (m *Main) benchLiveClients(ctx context.Context, bf benchLiveFlags) error {
	res := benchLiveResult{Clients: bf.childN}
	report := func(err error) error {
		if err != nil {
			res.Error = err.Error()
		}
		b, _ := json.Marshal(res)
		fmt.Fprintln(m.Stdout, string(b))
		return nil
	}
	if err := raiseFileLimit(bf.childN + 64); err != nil {
		return report(err)
	}
	conns := make([]*live.Conn, bf.childN)
	start := time.Now()
	sem := make(chan struct{}, 64) // below the listen backlog
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dialErr error
	for i := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := live.Dial(ctx, bf.childURL, bf.childToken)
			if err != nil {
				mu.Lock()
				dialErr = errors.Join(dialErr, fmt.Errorf("client %d: %w", i, err))
				mu.Unlock()
				return
			}
			conns[i] = conn
		}()
	}
	wg.Wait()
	if dialErr != nil {
		return report(dialErr)
	}
	res.Connect = time.Since(start).Seconds()

	// Every client reads from now on; latencies are collected per client.
	lat := make([][]float32, len(conns))
	var dropped atomic.Int64
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			mine := make([]float32, 0, bf.changes)
			deadline := time.Now().Add(10 * time.Minute)
			for len(mine) < bf.changes {
				data, err := conn.Read(deadline)
				if err != nil {
					dropped.Add(1)
					break
				}
				now := time.Now()
				at, ok := changeCreatedAt(data)
				if !ok {
					continue
				}
				mine = append(mine, float32(now.Sub(at).Seconds()*1000))
			}
			lat[i] = mine
		}()
	}
	fmt.Fprintln(m.Stdout, "ready")
	// The parent writes the burst, then says so; the clients need no signal, but
	// reading it keeps the protocol in step.
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil && err != io.EOF {
		return report(fmt.Errorf("read stdin: %w", err))
	}
	wg.Wait()
	var all []float32
	for _, l := range lat {
		all = append(all, l...)
	}
	res.Delivered, res.Dropped = len(all), int(dropped.Load())
	if len(all) > 0 {
		slices.Sort(all)
		res.Median = float64(all[len(all)/2])
		res.P99 = float64(all[min(len(all)-1, len(all)*99/100)])
		res.Max = float64(all[len(all)-1])
	}
	return report(nil)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench live: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("bench live: heap profile: %w", err)
	}
	return f.Close()
}

// changeCreatedAt finds created_at in a change message without decoding all of it:
// with thousands of clients in one process, decoding would make the clients, not
// the server, the bottleneck being measured.
func changeCreatedAt(data []byte) (time.Time, bool) {
	if !bytes.HasPrefix(data, []byte(`{"type":"change"`)) {
		return time.Time{}, false
	}
	_, rest, ok := bytes.Cut(data, []byte(`"created_at":"`))
	if !ok {
		return time.Time{}, false
	}
	v, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	return t, err == nil
}

// raiseFileLimit lifts the soft limit on open files to at least need (Go already
// raises it to the hard limit at start on Linux; this says clearly when that is too
// low).
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("bench live: file limit: %w", err)
	}
	if lim.Cur >= uint64(need) {
		return nil
	}
	if lim.Max < uint64(need) {
		return fmt.Errorf("bench live: %d clients need %d open files, the hard limit is %d (raise it: ulimit -Hn)", need-64, need, lim.Max)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("bench live: raise file limit: %w", err)
	}
	return nil
}
