package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// TestBenchHTTPSmoke runs bench http for two seconds with 4 clients against a
// server on a database with three cases and nothing else: the tool logs in, sends every kind of request,
// samples the server's memory and reports successful requests. The figures
// themselves are for the README, not asserted.
func TestBenchHTTPSmoke(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := store.UpsertUser(ctx, "admin", grid.DemoPassword("admin"), grid.Admin, nil); err != nil {
		t.Fatal(err)
	}
	// Three cases, so the proposals around them save zones for the bench to reject.
	for i, at := range [][2]float64{{121.47, 31.23}, {121.48, 31.235}, {121.475, 31.24}} {
		r8, err8 := geo.CellOf(orb.Point(at), 8)
		r12, err12 := geo.CellOf(orb.Point(at), 12)
		if err8 != nil || err12 != nil {
			t.Fatal(err8, err12)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO cases (ext_id, kind, reported_at, address, geom, h3_r8, h3_r12)
			VALUES ($1, 'confirmed', now() - interval '1 day', 'bench', ST_SetSRID(ST_MakePoint($2, $3), 4326), $4, $5)`,
			fmt.Sprint("bench-", i), at[0], at[1], int64(r8), int64(r12)); err != nil {
			t.Fatal(err)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	var log syncBuffer
	srv := &Main{Stdout: &log, Stderr: &log, Getenv: func(string) string { return "" }}
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- srv.serve(sctx, store, serveFlags{addr: "127.0.0.1:0"}, true, ready) }()
	defer func() {
		stop()
		<-served
	}()
	addr := <-ready

	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	err := m.Run(ctx, []string{"bench", "http", "--url", "http://" + addr, "--clients", "4", "--duration", "2s",
		"--sample", "500ms", "--pid", strconv.Itoa(os.Getpid()), "--mix", "tile=1,households=1,h3=1,propose=1"})
	t.Logf("bench http:\n%s", out.String())
	if err != nil {
		t.Fatalf("bench http: %v\n%s", err, log.String())
	}
	total := regexp.MustCompile(`total: (\d+) requests, (\d+) ok`).FindStringSubmatch(out.String())
	if total == nil {
		t.Fatalf("no total line in\n%s", out.String())
	}
	if ok, _ := strconv.Atoi(total[2]); ok == 0 {
		t.Errorf("no successful request")
	}
	for _, ep := range benchEndpoints {
		line := regexp.MustCompile(`(?m)^` + ep + ` +\d+ +(\d+\.\d)`).FindStringSubmatch(out.String())
		if line == nil || line[1] == "0.0" {
			t.Errorf("no successful %s request in the report", ep)
		}
	}
	if !regexp.MustCompile(`rss +\d+\.\d MB`).MatchString(out.String()) {
		t.Errorf("no memory sample in the report")
	}
	// The run's proposals are rejected at the end: none is left open, and the ones
	// rejected are as many as the bench says.
	rejected := regexp.MustCompile(`rejected (\d+) of the (\d+) zones`).FindStringSubmatch(out.String())
	var open, closed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'proposed'),
		count(*) FILTER (WHERE status = 'rejected') FROM zones`).Scan(&open, &closed); err != nil {
		t.Fatal(err)
	}
	if rejected == nil || rejected[1] != rejected[2] || rejected[1] == "0" || open != 0 || fmt.Sprint(closed) != rejected[1] {
		t.Errorf("after the run: %d proposals open, %d rejected; the bench said %v", open, closed, rejected)
	}
}
