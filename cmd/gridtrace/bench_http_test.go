package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// TestBenchHTTPSmoke runs bench http for two seconds with 4 clients against a
// server on an empty database: the tool logs in, sends every kind of request,
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
}
