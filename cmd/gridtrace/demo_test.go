package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// TestDemo loads the demo with 2,000 households into a fresh database, checks what
// the issue promises, serves it until /readyz answers, then loads it again and
// checks nothing was added.
func TestDemo(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func() {
		t.Helper()
		var stderr bytes.Buffer
		m := &Main{Stdout: &stderr, Stderr: &stderr, Getenv: func(string) string { return "" }}
		start := time.Now()
		if err := m.Run(ctx, []string{"demo", "--no-serve", "--households", "2000", "--db", url}); err != nil {
			t.Fatalf("demo: %v\n%s", err, stderr.String())
		}
		t.Logf("demo took %v:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	}
	run()

	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	want := func(name string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	want("streets", count(`SELECT count(*) FROM areas WHERE level = 'street'`), 214)
	want("districts", count(`SELECT count(*) FROM areas WHERE level = 'district'`), 16)
	if n := count(`SELECT count(*) FROM cases`); n < 3600 {
		t.Errorf("%d cases, want 3,600+", n)
	}
	if n := count(`SELECT count(*) FROM areas WHERE level = 'community'`); n < 2*214 {
		t.Errorf("%d communities", n)
	}
	if n := count(`SELECT count(*) FROM areas WHERE level = 'grid'`); n < 3*2*214 {
		t.Errorf("%d grids", n)
	}
	want("grids whose parent is not a community of a street", count(`
		SELECT count(*) FROM areas g
		LEFT JOIN areas c ON c.id = g.parent_id AND c.level = 'community'
		LEFT JOIN areas s ON s.id = c.parent_id AND s.level = 'street'
		WHERE g.level = 'grid' AND (s.id IS NULL OR g.ancestors <> s.ancestors || c.id || g.id)`), 0)
	want("grids reaching outside their community's street", count(`
		SELECT count(*) FROM areas g JOIN areas c ON c.id = g.parent_id JOIN areas s ON s.id = c.parent_id
		WHERE g.level = 'grid' AND ST_Area(ST_Difference(g.geom, s.geom)::geography) > 1`), 0)
	want("households", count(`SELECT count(*) FROM households WHERE ext_id LIKE 'demo-1-%'`), 2000)
	want("households not in a grid", count(`
		SELECT count(*) FROM households h LEFT JOIN areas a ON a.id = h.area_id
		WHERE a.level IS DISTINCT FROM 'grid'`), 0)
	want("households outside their grid", count(`
		SELECT count(*) FROM households h JOIN areas a ON a.id = h.area_id WHERE NOT ST_Intersects(a.geom, h.geom)`), 0)
	want("households without H3 cells", count(`SELECT count(*) FROM households WHERE h3_r8 = 0 OR h3_r12 = 0`), 0)
	want("households with fewer than 1 or more than 5 persons", count(`
		SELECT count(*) FROM households h
		LEFT JOIN LATERAL (SELECT count(*) AS n FROM persons p WHERE p.household_id = h.id) p ON true
		WHERE p.n < 1 OR p.n > 5`), 0)
	persons := count(`SELECT count(*) FROM persons`)
	if persons < 2000*21/10 || persons > 2000*25/10 {
		t.Errorf("%d persons for 2,000 households", persons)
	}
	for _, v := range []grid.Vulnerability{grid.ElderlyAlone, grid.Disabled, grid.LeftBehindChild} {
		if n := count(`SELECT count(*) FROM persons WHERE $1 = ANY(vulnerability)`, string(v)); n == 0 {
			t.Errorf("no person is %s", v)
		}
	}
	if n := count(`SELECT count(*) FROM persons WHERE vulnerability <> '{}'`); n < persons/100 || n > persons/10 {
		t.Errorf("%d of %d persons vulnerable, want a few percent", n, persons)
	}
	want("persons with a malformed ID number", count(`SELECT count(*) FROM persons WHERE id_number !~ '^310[0-9]{14}[0-9X]$'`), 0)
	want("users", count(`SELECT count(*) FROM users`), 6)
	want("users named after their role", count(`SELECT count(*) FROM users WHERE name = role`), 6)
	want("grid worker's areas", count(`
		SELECT count(*) FROM user_areas ua JOIN users u ON u.id = ua.user_id JOIN areas a ON a.id = ua.area_id
		WHERE u.name = 'grid_worker' AND a.level = 'community'`), 1)
	want("others' areas that are not the 16 districts", count(`
		SELECT count(*) FROM users u WHERE u.name <> 'grid_worker' AND
		  (SELECT count(*) FROM user_areas ua JOIN areas a ON a.id = ua.area_id
		   WHERE ua.user_id = u.id AND a.level = 'district') <> 16`), 0)
	// The grid worker's community is the one holding the most households.
	mine := count(`SELECT count(*) FROM households h JOIN areas a ON a.id = h.area_id JOIN user_areas ua ON ua.area_id = ANY(a.ancestors)
		JOIN users u ON u.id = ua.user_id WHERE u.name = 'grid_worker'`)
	most := count(`SELECT max(n) FROM (SELECT count(*) AS n FROM households h JOIN areas g ON g.id = h.area_id GROUP BY g.parent_id) x`)
	if mine == 0 || mine != most {
		t.Errorf("the grid worker's community holds %d households, the busiest %d", mine, most)
	}
	want("sampling points, one per community", count(`SELECT count(*) FROM sampling_points`), count(`SELECT count(*) FROM areas WHERE level = 'community'`))
	want("sampling points outside their community or serving none of its grids", count(`
		SELECT count(*) FROM sampling_points p LEFT JOIN areas g ON g.id = p.area_id
		WHERE g.level IS DISTINCT FROM 'grid' OR NOT ST_Intersects(g.geom, p.geom) OR NOT g.id = ANY(p.grid_ids)`), 0)
	store := grid.NewStore(pool)
	if _, err := store.Login(ctx, "commander", "commander-demo", time.Hour); err != nil {
		t.Errorf("commander cannot log in with the demo password: %v", err)
	}

	// The loaded database serves: /readyz answers 200.
	serveReady(t, ctx, store)

	// Loading again adds nothing.
	tables := []string{"areas", "households", "persons", "cases", "users", "user_areas", "sampling_points"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = count(`SELECT count(*) FROM ` + tb)
	}
	run()
	for _, tb := range tables {
		if n := count(`SELECT count(*) FROM ` + tb); n != before[tb] {
			t.Errorf("re-run: %s went from %d to %d rows", tb, before[tb], n)
		}
	}
}

// serveReady starts the server on the store as `demo` does after loading and waits
// for /readyz to answer 200.
func serveReady(t *testing.T, ctx context.Context, store *grid.Store) {
	t.Helper()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- m.serve(sctx, store, serveFlags{addr: "127.0.0.1:0"}, true, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %s", resp.Status)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestDemoHouseholdsGrow: a larger --households adds only the missing households,
// the first ones unchanged.
func TestDemoHouseholdsGrow(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func(n string) {
		t.Helper()
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		if err := m.Run(ctx, []string{"demo", "--no-serve", "--households", n, "--seed", "5", "--db", url}); err != nil {
			t.Fatalf("demo: %v\n%s", err, out.String())
		}
	}
	fingerprint := func(p *pgxpool.Pool, upTo int) string {
		var fp string
		if err := p.QueryRow(ctx, `SELECT md5(string_agg(h.ext_id || h.address || ST_AsText(h.geom) || p.name || p.id_number, ',' ORDER BY h.ext_id, p.id))
			FROM households h JOIN persons p ON p.household_id = h.id
			WHERE split_part(h.ext_id, '-', 3)::int <= $1`, upTo).Scan(&fp); err != nil {
			t.Fatal(err)
		}
		return fp
	}
	run("300")
	first := fingerprint(pool, 300)
	run("700")
	var n, distinct int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT ext_id) FROM households`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 700 || distinct != 700 {
		t.Fatalf("%d households (%d distinct), want 700", n, distinct)
	}
	if fingerprint(pool, 300) != first {
		t.Fatal("the first 300 households changed when 400 were added")
	}
}
