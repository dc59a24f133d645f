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
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridtrace/gridtrace/grid"
)

const benchHTTPUsage = `usage: gridtrace bench http [--url http://127.0.0.1:8080] [--clients 100] [--duration 60s] [flags]

Load test of a running server (start one with 'gridtrace demo' or 'make demo'):
--clients concurrent clients, each logged in as --user, send requests back to back
for --duration, drawn from --mix (weights of vector tiles, household lists by bbox,
H3 counts and zone proposals) around the locations of the server's cases. Prints
throughput and p50/p95/p99 latency per endpoint, with the answers by status, and
samples the server's resident memory (VmRSS from /proc/<pid>/status; --pid, or
found from the listening port when the server runs on this machine) every --sample,
so a long soak shows whether memory stays bounded. Zone proposals are saved by the
server, as the map's "propose" button does; at the end the bench rejects the ones it
made (DELETE /api/v1/zones/:id), so a soak leaves no open proposals on the map,
unless --keep-proposals.
`

type benchHTTPFlags struct {
	url      string
	user     string
	password string
	clients  int
	duration time.Duration
	mix      string
	pid      int
	sample   time.Duration
	seed     uint64
	keep     bool
}

// benchEndpoints are the request kinds of bench http, in report order.
var benchEndpoints = []string{"tile", "households", "h3", "propose"}

func (m *Main) runBenchHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench http", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, benchHTTPUsage, "\nflags:\n"); fs.PrintDefaults() }
	var bf benchHTTPFlags
	fs.StringVar(&bf.url, "url", "http://127.0.0.1:8080", "base URL of the server")
	fs.StringVar(&bf.user, "user", "admin", "user to log in as (zone proposals need admin or commander)")
	fs.StringVar(&bf.password, "password", "", "password (default: the demo password of --user)")
	fs.IntVar(&bf.clients, "clients", 100, "concurrent clients")
	fs.DurationVar(&bf.duration, "duration", time.Minute, "how long to send requests")
	fs.StringVar(&bf.mix, "mix", "tile=70,households=20,h3=5,propose=5", "relative weights of the endpoints")
	fs.IntVar(&bf.pid, "pid", 0, "server process to sample memory of (0: the one listening on --url's port, if local)")
	fs.DurationVar(&bf.sample, "sample", 10*time.Second, "memory sampling interval")
	fs.Uint64Var(&bf.seed, "seed", 1, "seed of the request mix")
	fs.BoolVar(&bf.keep, "keep-proposals", false, "leave the zones proposed during the run open instead of rejecting them at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	weights, err := parseMix(bf.mix)
	if err != nil || bf.clients < 1 || bf.duration <= 0 || fs.NArg() > 0 {
		if err != nil {
			fmt.Fprintln(m.Stderr, err)
		}
		fs.Usage()
		return errUsage
	}
	if bf.password == "" {
		bf.password = grid.DemoPassword(bf.user)
	}
	bf.url = strings.TrimRight(bf.url, "/")
	client := &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: bf.clients, MaxConnsPerHost: bf.clients, IdleConnTimeout: time.Minute},
	}
	token, err := benchLogin(ctx, client, bf)
	if err != nil {
		return err
	}
	spots, err := benchSpots(ctx, client, bf.url, token)
	if err != nil {
		return err
	}
	pid := bf.pid
	if pid == 0 {
		pid = pidListeningOn(bf.url)
	}
	fmt.Fprintf(m.Stdout, "bench http: %s, %d clients for %s, mix %s, %d case locations, server pid %d\n",
		bf.url, bf.clients, bf.duration, bf.mix, len(spots), pid)

	runCtx, cancel := context.WithTimeout(ctx, bf.duration)
	defer cancel()
	samples := make(chan memSample, 1024)
	var sampler sync.WaitGroup
	if pid > 0 {
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			sampleMemory(runCtx, pid, bf.sample, samples)
		}()
	}
	stats := make([]*benchStats, bf.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range bf.clients {
		stats[i] = newBenchStats()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(bf.seed, uint64(i)))
			for runCtx.Err() == nil {
				ep := pickEndpoint(rng, weights)
				// The request runs on ctx, not runCtx: one in flight when the run ends
				// finishes, so a proposal the server saved is read and later rejected.
				req, err := benchRequest(ctx, rng, bf.url, token, ep, spots)
				if err != nil {
					stats[i].add(ep, 0, 0, err)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if runCtx.Err() != nil {
						return // the run has ended (or was interrupted): not counted
					}
					stats[i].add(ep, 0, time.Since(t0), err)
					continue
				}
				var n int64
				if resp.StatusCode/100 == 2 && ep == "propose" {
					n = stats[i].readProposal(resp.Body)
				} else if resp.StatusCode/100 == 2 {
					n, _ = io.Copy(io.Discard, resp.Body)
				} else if _, seen := stats[i].errs[ep]; !seen {
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
					stats[i].errs[ep] = fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b))
				}
				resp.Body.Close()
				stats[i].add(ep, resp.StatusCode, time.Since(t0), nil)
				stats[i].bytes[ep] += n
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	sampler.Wait()
	close(samples)
	total := newBenchStats()
	for _, s := range stats {
		total.merge(s)
	}
	total.report(m.Stdout, elapsed)
	var mem []memSample
	for s := range samples {
		mem = append(mem, s)
	}
	reportMemory(m.Stdout, mem)
	if !bf.keep && len(total.proposed) > 0 {
		rejectProposals(ctx, m.Stdout, client, bf.url, token, total.proposed)
	}
	if total.ok() == 0 {
		return errors.New("bench http: no request succeeded")
	}
	return nil
}

// parseMix reads "tile=70,households=20,..." into weights per endpoint.
func parseMix(s string) (map[string]int, error) {
	w := map[string]int{}
	sum := 0
	for _, part := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || !slices.Contains(benchEndpoints, name) {
			return nil, fmt.Errorf("--mix: %q is not ENDPOINT=WEIGHT with ENDPOINT one of %s", part, strings.Join(benchEndpoints, ", "))
		}
		w[name] = n
		sum += n
	}
	if sum == 0 {
		return nil, errors.New("--mix: the weights add up to 0")
	}
	return w, nil
}

func pickEndpoint(rng *rand.Rand, w map[string]int) string {
	sum := 0
	for _, ep := range benchEndpoints {
		sum += w[ep]
	}
	r := rng.IntN(sum)
	for _, ep := range benchEndpoints {
		if r < w[ep] {
			return ep
		}
		r -= w[ep]
	}
	return benchEndpoints[0]
}

func benchLogin(ctx context.Context, c *http.Client, bf benchHTTPFlags) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": bf.user, "password": bf.password})
	req, err := http.NewRequestWithContext(ctx, "POST", bf.url+"/api/v1/login", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("bench http: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("bench http: login: %w", err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Token == "" {
		return "", fmt.Errorf("bench http: login as %s: HTTP %d %v", bf.user, resp.StatusCode, err)
	}
	return out.Token, nil
}

// shanghaiBox is where requests go when the server has no cases: the box of the
// demo's households.
var shanghaiBox = [4]float64{121.2, 30.9, 121.8, 31.5}

// benchSpots reads up to 1,000 case locations, around which the requests cluster as
// a command map's do; without cases, points spread over Shanghai.
func benchSpots(ctx context.Context, c *http.Client, base, token string) ([][2]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/cases?limit=1000", nil)
	if err != nil {
		return nil, fmt.Errorf("bench http: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench http: cases: %w", err)
	}
	defer resp.Body.Close()
	var fc struct {
		Features []struct {
			Geometry struct{ Coordinates [2]float64 }
		}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench http: cases: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		return nil, fmt.Errorf("bench http: cases: %w", err)
	}
	var spots [][2]float64
	for _, f := range fc.Features {
		spots = append(spots, f.Geometry.Coordinates)
	}
	if len(spots) == 0 {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 100 {
			spots = append(spots, [2]float64{
				shanghaiBox[0] + rng.Float64()*(shanghaiBox[2]-shanghaiBox[0]),
				shanghaiBox[1] + rng.Float64()*(shanghaiBox[3]-shanghaiBox[1])})
		}
	}
	return spots, nil
}

// benchRequest builds one request of kind ep near a random spot.
func benchRequest(ctx context.Context, rng *rand.Rand, base, token, ep string, spots [][2]float64) (*http.Request, error) {
	p := spots[rng.IntN(len(spots))]
	box := func(half float64) string {
		return fmt.Sprintf("%.5f,%.5f,%.5f,%.5f", p[0]-half, p[1]-half, p[0]+half, p[1]+half)
	}
	var req *http.Request
	var err error
	switch ep {
	case "tile":
		z := 12 + rng.IntN(5) // 12–16: a district down to a few streets
		x, y := tileOf(p, z)
		layer := grid.TileLayers[rng.IntN(len(grid.TileLayers))]
		req, err = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", base, layer, z, x, y), nil)
	case "households":
		req, err = http.NewRequestWithContext(ctx, "GET", base+"/api/v1/households?limit=100&bbox="+box(0.005), nil)
	case "h3":
		req, err = http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/h3?res=%d&bbox=%s", base, 8+rng.IntN(3), box(0.02)), nil)
	case "propose":
		body := fmt.Sprintf(`{"bbox":[%s]}`, box(0.003))
		req, err = http.NewRequestWithContext(ctx, "POST", base+"/api/v1/zones/propose", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}

// tileOf is the Web Mercator tile holding p at zoom z.
func tileOf(p [2]float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	x := int((p[0] + 180) / 360 * n)
	lat := p[1] * math.Pi / 180
	y := int((1 - math.Log(math.Tan(lat)+1/math.Cos(lat))/math.Pi) / 2 * n)
	return x, y
}

// benchStats is one client's record (merged at the end, so no locks).
type benchStats struct {
	lat    map[string][]time.Duration // successful (2xx) requests
	status map[string]map[int]int     // 0: transport error
	bytes  map[string]int64
	errs   map[string]string // one failure (transport error or non-2xx answer) per endpoint
	// proposed are the ids of the zones the run's proposals saved.
	proposed []int64
}

// readProposal reads a proposal's answer, keeping the ids of the zones it saved, and
// returns the bytes read.
func (s *benchStats) readProposal(body io.Reader) int64 {
	cr := &countingReader{r: body}
	var fc struct {
		Features []struct {
			ID int64 `json:"id"`
		} `json:"features"`
	}
	if json.NewDecoder(cr).Decode(&fc) == nil {
		for _, f := range fc.Features {
			s.proposed = append(s.proposed, f.ID)
		}
	}
	_, _ = io.Copy(io.Discard, cr)
	return cr.n
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// rejectProposals closes the zones the run proposed (DELETE rejects a proposal and
// keeps its history), 8 at a time, and says how many and how long it took.
func rejectProposals(ctx context.Context, w io.Writer, c *http.Client, base, token string, ids []int64) {
	start := time.Now()
	next := make(chan int64)
	var failed, done atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				req, err := http.NewRequestWithContext(ctx, "DELETE", fmt.Sprintf("%s/api/v1/zones/%d?reason=bench+http", base, id), nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				// 409: already closed (accepted or rejected by someone meanwhile).
				if resp.StatusCode/100 == 2 {
					done.Add(1)
				} else if resp.StatusCode != http.StatusConflict {
					failed.Add(1)
				}
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		next <- id
	}
	close(next)
	wg.Wait()
	fmt.Fprintf(w, "rejected %d of the %d zones the run proposed in %s (%d failed; --keep-proposals keeps them)\n",
		done.Load(), len(ids), time.Since(start).Round(time.Millisecond), failed.Load())
}

func newBenchStats() *benchStats {
	return &benchStats{lat: map[string][]time.Duration{}, status: map[string]map[int]int{}, bytes: map[string]int64{}, errs: map[string]string{}}
}

func (s *benchStats) add(ep string, code int, d time.Duration, err error) {
	if s.status[ep] == nil {
		s.status[ep] = map[int]int{}
	}
	s.status[ep][code]++
	if err != nil {
		s.errs[ep] = err.Error()
		return
	}
	if code/100 == 2 {
		s.lat[ep] = append(s.lat[ep], d)
	}
}

func (s *benchStats) merge(o *benchStats) {
	for ep, l := range o.lat {
		s.lat[ep] = append(s.lat[ep], l...)
	}
	for ep, m := range o.status {
		if s.status[ep] == nil {
			s.status[ep] = map[int]int{}
		}
		for c, n := range m {
			s.status[ep][c] += n
		}
	}
	for ep, n := range o.bytes {
		s.bytes[ep] += n
	}
	s.proposed = append(s.proposed, o.proposed...)
	for ep, e := range o.errs {
		s.errs[ep] = e
	}
}

func (s *benchStats) ok() int {
	n := 0
	for _, l := range s.lat {
		n += len(l)
	}
	return n
}

func (s *benchStats) report(w io.Writer, elapsed time.Duration) {
	fmt.Fprintf(w, "%-11s %9s %9s %9s %9s %9s %9s  %s\n", "endpoint", "requests", "ok/s", "p50", "p95", "p99", "KB/ok", "answers")
	all := 0
	for _, ep := range benchEndpoints {
		var n int
		for _, c := range s.status[ep] {
			n += c
		}
		if n == 0 {
			continue
		}
		all += n
		l := s.lat[ep]
		slices.Sort(l)
		q := func(p float64) string {
			if len(l) == 0 {
				return "-"
			}
			return l[min(len(l)-1, int(p*float64(len(l))))].Round(100 * time.Microsecond).String()
		}
		kb := 0.0
		if len(l) > 0 {
			kb = float64(s.bytes[ep]) / 1024 / float64(len(l))
		}
		codes := slices.Sorted(mapKeys(s.status[ep]))
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", s.status[ep][c], c))
		}
		fmt.Fprintf(w, "%-11s %9d %9.1f %9s %9s %9s %9.1f  %s\n", ep, n, float64(len(l))/elapsed.Seconds(), q(.50), q(.95), q(.99), kb, strings.Join(parts, " "))
		if e := s.errs[ep]; e != "" {
			fmt.Fprintf(w, "            a failure (status 0: transport error): %s\n", e)
		}
	}
	fmt.Fprintf(w, "total: %d requests, %d ok, %.1f ok/s over %s\n", all, s.ok(), float64(s.ok())/elapsed.Seconds(), elapsed.Round(time.Millisecond))
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// memSample is the server's memory at one moment, from /proc/<pid>/status.
type memSample struct {
	at         time.Duration
	rssKB      int64
	hwmKB      int64
	threads    int64
	collectErr error
}

func sampleMemory(ctx context.Context, pid int, every time.Duration, out chan<- memSample) {
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s := readProcStatus(pid)
		s.at = time.Since(start)
		select {
		case out <- s:
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func readProcStatus(pid int) memSample {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{collectErr: err}
	}
	defer f.Close()
	var s memSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			s.rssKB = n
		case "VmHWM":
			s.hwmKB = n
		case "Threads":
			s.threads = n
		}
	}
	return s
}

func reportMemory(w io.Writer, mem []memSample) {
	if len(mem) == 0 {
		fmt.Fprintln(w, "server memory: not sampled (give --pid of a server on this machine)")
		return
	}
	fmt.Fprintln(w, "server memory over time (VmRSS from /proc/<pid>/status):")
	for _, s := range mem {
		if s.collectErr != nil {
			fmt.Fprintf(w, "  %8s  %v\n", s.at.Round(time.Second), s.collectErr)
			continue
		}
		fmt.Fprintf(w, "  %8s  rss %6.1f MB  peak %6.1f MB  threads %d\n", s.at.Round(time.Second), float64(s.rssKB)/1024, float64(s.hwmKB)/1024, s.threads)
	}
}

// pidListeningOn finds the local process listening on url's port through /proc
// (the socket's inode in /proc/net/tcp{,6}, then the process holding it); 0 when
// the server is not local or /proc cannot tell (another user's process).
func pidListeningOn(rawURL string) int {
	host := strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
	host, _, _ = strings.Cut(host, "/")
	_, portS, err := net.SplitHostPort(host)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 the inode.
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if link, err := os.Readlink(fd); err == nil && inodes[link] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}
