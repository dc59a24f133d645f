package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps the dependency direction cmd → api → trace → grid → geo: no
// package imports a layer above it (so only cmd imports api), and the pure packages
// (geo and the algorithm sub-packages of grid and trace) never reach the database,
// HTTP or websocket libraries.
func TestLayering(t *testing.T) {
	const mod = "github.com/gridtrace/gridtrace/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rank := map[string]int{"geo": 0, "grid": 1, "trace": 2, "api": 3, "cmd": 4}
	layerOf := func(pkg string) (string, bool) {
		rel := strings.TrimPrefix(pkg, mod)
		top := strings.SplitN(rel, "/", 2)[0]
		_, ok := rank[top]
		return top, ok
	}
	impure := []string{"github.com/jackc/pgx", "github.com/labstack/echo", "github.com/gorilla/websocket", "database/sql", "net/http"}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 5 {
		t.Fatalf("go list found only %d packages", len(lines))
	}
	for _, line := range lines {
		parts := strings.SplitN(line, "|", 3)
		pkg, imports, deps := parts[0], strings.Fields(parts[1]), strings.Fields(parts[2])
		from, layered := layerOf(pkg)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			to, ok := layerOf(imp)
			if !ok || !layered {
				continue
			}
			if rank[to] > rank[from] {
				t.Errorf("%s imports %s: %s may not depend on %s", pkg, imp, from, to)
			}
		}
		rel := strings.TrimPrefix(pkg, mod)
		pure := rel == "geo" || strings.HasPrefix(rel, "geo/") ||
			(strings.HasPrefix(rel, "grid/") || strings.HasPrefix(rel, "trace/"))
		if !pure {
			continue
		}
		for _, d := range deps {
			for _, bad := range impure {
				if d == bad || strings.HasPrefix(d, bad+"/") {
					t.Errorf("pure package %s depends on %s", pkg, d)
				}
			}
		}
	}
}
