package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gridtrace/gridtrace/geo/route"
)

// tsplibDir holds the TSPLIB copies the route package tests with.
var tsplibDir = filepath.Join("..", "..", "geo", "route", "testdata")

func runRouteCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), append([]string{"route"}, args...))
	return out.String(), errOut.String(), err
}

// TestRouteTSPLIB checks the output contract: the file's ids on one line, a
// permutation, then length=<integer> equal to that tour's EUC_2D length. --kicks
// makes the result independent of the machine, so the optimum can be asserted.
func TestRouteTSPLIB(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		opt  int // 0: not asserted
	}{
		{"berlin52 flags after file", []string{"tsplib", filepath.Join(tsplibDir, "berlin52.tsp"), "--kicks", "3000", "--seed", "1"}, 7542},
		{"st70 flags before file", []string{"tsplib", "--seed", "2", "--kicks", "3000", filepath.Join(tsplibDir, "st70.tsp")}, 675},
		{"eil76 budget only", []string{"tsplib", filepath.Join(tsplibDir, "eil76.tsp"), "--budget", "100ms"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runRouteCmd(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "length=") {
				t.Fatalf("output %q: want two lines, the last length=", out)
			}
			file := tc.args[slices.IndexFunc(tc.args, func(a string) bool { return strings.HasSuffix(a, ".tsp") })]
			fh, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			in, err := route.ReadInstance(fh)
			if err != nil {
				t.Fatal(err)
			}
			// The ids line is a tour file: ReadTour checks it is a permutation.
			tour, err := route.ReadTour(strings.NewReader(lines[0]), in)
			if err != nil {
				t.Fatalf("ids line: %v", err)
			}
			got, err := strconv.Atoi(strings.TrimPrefix(lines[1], "length="))
			if err != nil || got != in.TourLength(tour) {
				t.Fatalf("%s, recomputed %d", lines[1], in.TourLength(tour))
			}
			if tc.opt > 0 && got != tc.opt {
				t.Fatalf("length %d, optimum %d", got, tc.opt)
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.tsp")
	if err := os.WriteFile(bad, []byte("3\n1 0 0\n2 1 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		args      []string
		usage     bool
		errSubstr string
	}{
		{"no sub-command", nil, true, ""},
		{"unknown sub-command", []string{"tsp"}, true, ""},
		{"no file", []string{"tsplib"}, true, ""},
		{"two files", []string{"tsplib", "a.tsp", "b.tsp"}, true, ""},
		{"negative budget", []string{"tsplib", "a.tsp", "--budget", "-1s"}, true, ""},
		{"missing file", []string{"tsplib", filepath.Join(t.TempDir(), "none.tsp")}, false, "no such file"},
		{"short file", []string{"tsplib", bad}, false, "declares 3 nodes, the file has 2"},
		{"bench without tours", []string{"bench", t.TempDir()}, false, "no *.opt.tour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runRouteCmd(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.usage != errors.Is(err, errUsage) {
				t.Fatalf("err = %v, usage error: %v", err, tc.usage)
			}
			if tc.errSubstr != "" && !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("err = %v, want %q", err, tc.errSubstr)
			}
		})
	}
}
