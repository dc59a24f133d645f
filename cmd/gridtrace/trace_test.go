package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/track"
)

// runTraceCmd runs `gridtrace trace ...` in process and returns stdout.
func runTraceCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), append([]string{"trace"}, args...))
	return out.String(), err
}

type contactLine struct {
	Person     string `json:"person"`
	Degree     int    `json:"degree"`
	Via        string `json:"via"`
	Minutes    int    `json:"minutes"`
	Encounters []struct {
		Start        time.Time  `json:"start"`
		End          time.Time  `json:"end"`
		Minutes      int        `json:"minutes"`
		MinDistanceM float64    `json:"min_distance_m"`
		Where        [2]float64 `json:"where"`
	} `json:"encounters"`
	Rule string `json:"rule"`
}

func parseContactLines(t *testing.T, out string) []contactLine {
	t.Helper()
	var cs []contactLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var c contactLine
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		cs = append(cs, c)
	}
	return cs
}

func TestTraceContactsCommand(t *testing.T) {
	dir := geolifetest.Dir(t)
	if os.Getenv(geolifetest.EnvDir) != "" {
		t.Skip("the pinned answers are those of the committed sample")
	}
	tests := []struct {
		name string
		args []string
		want string // person/degree/via/minutes/encounters, one per contact
	}{
		{"defaults", []string{"--case", "003"}, "005/1//135/7 004/1//95/10"},
		{"degree 2", []string{"--case", "004", "--degree", "2"}, "003/1//95/10 005/2/003/135/7"},
		{"window", []string{"--case", "003", "--from", "2008-10-27", "--to", "2008-10-28T00:00:00Z"}, "005/1//102/4"},
		{"looser rule", []string{"--case", "000", "--distance", "100", "--tolerance", "10m", "--min-duration", "5m"}, "003/1//18/2 004/1//6/1 001/1//5/1"},
		{"nobody", []string{"--case", "000"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTraceCmd(t, append([]string{"contacts", "--geolife", dir}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range parseContactLines(t, out) {
				got = append(got, fmt.Sprintf("%s/%d/%s/%d/%d", c.Person, c.Degree, c.Via, c.Minutes, len(c.Encounters)))
				if !strings.Contains(c.Rule, "close-contact") {
					t.Errorf("rule %q", c.Rule)
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("contacts %q, want %q", g, tc.want)
			}
		})
	}
	// The first line, field by field, as an independent reader would see it.
	out, _ := runTraceCmd(t, "contacts", "--geolife", dir, "--case", "003")
	first := strings.SplitN(out, "\n", 2)[0]
	if !strings.HasPrefix(first, `{"person":"005","degree":1,"minutes":135,"encounters":[{"start":"2008-10-27T09:26:00Z","end":"2008-10-27T09:54:00Z","minutes":25,"min_distance_m":0.819`) {
		t.Errorf("first line %s", first)
	}
	again, _ := runTraceCmd(t, "contacts", "--geolife", dir, "--case", "003")
	if again != out {
		t.Error("two runs differ")
	}
}

// TestTraceWindowIsExact: the command trims pings far from the window before
// indexing; the answer must equal the search over every ping.
func TestTraceWindowIsExact(t *testing.T) {
	dir := geolifetest.Dir(t)
	trajs, err := track.ReadGeoLife(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	rule := trace.DefaultPolicy().ContactRule()
	rule.DistanceM, rule.MinDuration = 100, 2*time.Minute
	ix, err := copresence.NewIndex(trajs, rule)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]string{{"2008-10-24T02:05:30Z", "2008-10-25T18:27:10Z"}, {"2008-10-27T09:25:59Z", "2008-10-29T09:40:00Z"}} {
		for _, tr := range trajs {
			from, _ := time.Parse(time.RFC3339, w[0])
			to, _ := time.Parse(time.RFC3339, w[1])
			want, err := ix.Trace(copresence.Query{Case: tr.Person, From: from, To: to, Depth: 2})
			if errors.Is(err, copresence.ErrNoPings) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := writeContacts(&b, want); err != nil {
				t.Fatal(err)
			}
			got, err := runTraceCmd(t, "contacts", "--geolife", dir, "--case", tr.Person, "--distance", "100", "--min-duration", "2m", "--degree", "2", "--from", w[0], "--to", w[1])
			if err != nil {
				t.Fatal(err)
			}
			if got != b.String() {
				t.Errorf("case %s, window %v: command\n%s\nfull search\n%s", tr.Person, w, got, b.String())
			}
		}
	}
}

// TestTraceCSVMatchesGeoLife: the same pings given as CSV (times in China time)
// give the same answer.
func TestTraceCSVMatchesGeoLife(t *testing.T) {
	dir := geolifetest.Dir(t)
	trajs, err := track.ReadGeoLife(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("person,time,lat,lng\n")
	cst := time.FixedZone("CST", 8*3600)
	for _, tr := range trajs {
		for _, p := range tr.Pings {
			fmt.Fprintf(&b, "%s,%s,%v,%v\n", tr.Person, p.Time.In(cst).Format(time.RFC3339), p.Point[1], p.Point[0])
		}
	}
	csv := filepath.Join(t.TempDir(), "pings.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"003", "005"} {
		fromCSV, err := runTraceCmd(t, "contacts", "--csv", csv, "--case", c, "--degree", "2")
		if err != nil {
			t.Fatal(err)
		}
		fromPLT, err := runTraceCmd(t, "contacts", "--geolife", dir, "--case", c, "--degree", "2")
		if err != nil {
			t.Fatal(err)
		}
		if fromCSV != fromPLT {
			t.Errorf("case %s: CSV and GeoLife answers differ:\n%s\n%s", c, fromCSV, fromPLT)
		}
	}
}

func TestTraceCommandErrors(t *testing.T) {
	dir := geolifetest.Dir(t)
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "100", "Trajectory"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bad, "200", "Trajectory"), 0o755); err != nil {
		t.Fatal(err)
	}
	plt := "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n" +
		"39.9847,116.3184,0,492,39744.12,2008-10-23,02:53:04\n39.9847,116.3184,0,492,39744.12,2008-10-23,02:50:00\n"
	if err := os.WriteFile(filepath.Join(bad, "200", "Trajectory", "a.plt"), []byte(plt), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool   // exit code 2
		msg   string // in the error
	}{
		{"unknown case", []string{"contacts", "--geolife", dir, "--case", "999"}, false, `case "999" is not in`},
		{"case with no pings", []string{"contacts", "--geolife", empty, "--case", "100"}, false, `case "100" has no pings at all`},
		{"no pings in the window", []string{"contacts", "--geolife", dir, "--case", "003", "--from", "2009-01-01"}, false, `case "003" has no pings from 2009-01-01T00:00:00Z`},
		{"time going backwards", []string{"contacts", "--geolife", bad, "--case", "200"}, false, "200/Trajectory/a.plt:8: time: 2008-10-23 02:50:00 goes back in time"},
		{"missing folder", []string{"contacts", "--geolife", filepath.Join(empty, "nope"), "--case", "1"}, false, "no such file"},
		{"bad time", []string{"contacts", "--geolife", dir, "--case", "003", "--from", "yesterday"}, false, `--from "yesterday": want RFC 3339`},
		{"window backwards", []string{"contacts", "--geolife", dir, "--case", "003", "--from", "2008-10-25", "--to", "2008-10-24"}, false, "is before --from"},
		{"zero distance", []string{"contacts", "--geolife", dir, "--case", "003", "--distance", "0"}, false, "distance 0"},
		{"degree 3", []string{"contacts", "--geolife", dir, "--case", "003", "--degree", "3"}, false, "depth 3"},
		{"bare number tolerance", []string{"contacts", "--geolife", dir, "--case", "003", "--tolerance", "5"}, true, "want a duration such as 5m"},
		{"no case", []string{"contacts", "--geolife", dir}, true, "usage"},
		{"no input", []string{"contacts", "--case", "003"}, true, "usage"},
		{"two inputs", []string{"contacts", "--geolife", dir, "--csv", "x.csv", "--case", "003"}, true, "usage"},
		{"unknown sub-command", []string{"neighbours"}, true, "usage"},
		{"unknown stays person", []string{"stays", "--geolife", dir, "--person", "999"}, false, `person "999" is not in`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTraceCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
			if got := exitCode(err) == 2; got != tc.usage || errors.Is(err, errUsage) != tc.usage {
				t.Errorf("exit code %d", exitCode(err))
			}
			if out != "" {
				t.Errorf("stdout %q on error", out)
			}
		})
	}
}

func TestTraceCompanionsAndStays(t *testing.T) {
	dir := geolifetest.Dir(t)
	out, err := runTraceCmd(t, "companions", "--geolife", dir, "--case", "003")
	if err != nil {
		t.Fatal(err)
	}
	cs := parseContactLines(t, out)
	if len(cs) == 0 || !strings.Contains(cs[0].Rule, "companion res=8") {
		t.Fatalf("companions %q", out)
	}
	out, err = runTraceCmd(t, "stays", "--geolife", dir, "--person", "003")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s struct {
		Arrival, Departure time.Time
		Minutes            float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &s); err != nil || s.Minutes < 30 || !s.Departure.After(s.Arrival) {
		t.Fatalf("first stay %s: %v", lines[0], err)
	}
}
