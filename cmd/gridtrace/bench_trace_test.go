package main

import (
	"strings"
	"testing"

	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// TestBenchTraceSmall runs the benchmark at a small size: it loads, searches both
// ways and finds the same contacts for every case (the timings are not checked).
func TestBenchTraceSmall(t *testing.T) {
	t.Parallel()
	_, url := dbtest.New(t)
	out, stderr, err := runCmd(t, "bench", "trace", "--people", "300", "--days", "3", "--pings", "60000", "--cases", "3",
		"--repeat", "1", "--db", url, "--log-level", "warn")
	if err != nil {
		t.Fatalf("bench trace: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "ingest synthetic: 60000 pings") || strings.Count(out, "same contacts and minutes / same contacts and minutes") != 3 {
		t.Fatalf("bench said:\n%s", out)
	}
}
