package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/migrations/localpg"
)

// TestCommandStopsClusterItStarted runs `gridtrace migrate` on the throwaway
// cluster twice: when the command had to start the cluster it stops it on the way
// out (Ctrl-C on `make demo` leaves no PostgreSQL running), and when the cluster
// was already up (`gridtrace pg start`) it leaves it up.
func TestCommandStopsClusterItStarted(t *testing.T) {
	port := ownClusterPort(t)
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--local-port", strconv.Itoa(port)}
	cluster := &localpg.Cluster{Dir: filepath.Join(dataDir, "pg"), Port: port}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	listening := func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	run := func(cmd ...string) string {
		t.Helper()
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		if err := m.Run(context.Background(), append(cmd, args...)); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out.String())
		}
		return out.String()
	}

	out := run("migrate")
	if listening() {
		t.Fatalf("migrate started the cluster and left it running on %d:\n%s", port, out)
	}
	if !strings.Contains(out, "stopped local PostgreSQL") {
		t.Fatalf("migrate did not say it stopped the cluster:\n%s", out)
	}

	run("pg", "start")
	out = run("migrate")
	if !listening() {
		t.Fatalf("migrate stopped a cluster it had not started:\n%s", out)
	}
}
