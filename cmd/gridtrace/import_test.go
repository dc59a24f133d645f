package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// runCmd runs gridtrace in process and returns its stdout, stderr and error.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	err := m.Run(context.Background(), args)
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportCommand(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t)
	ctx := context.Background()
	count := func(q string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Areas, from the gzip-compressed demo copy, flags after the file as documented.
	out, stderr, err := runCmd(t, "import", "areas", "demodata/streets.geojson.gz", "--level", "street",
		"--name-field", "STREET", "--parent-field", "AREA", "--db", url, "--log-level", "warn")
	if err != nil {
		t.Fatalf("import areas: %v\n%s", err, stderr)
	}
	if want := "areas: 214 inserted, 0 updated, 0 unchanged, 1 repaired with ST_MakeValid, 16 parents derived\n"; out != want {
		t.Fatalf("areas said %q, want %q", out, want)
	}

	// Cases: the date and source come from the file name; the 32 rows without
	// coordinates go to stderr, one per line, and do not fail the import.
	dir := t.TempDir()
	cases := filepath.Join(dir, "cases-2022-04-04.csv.gz")
	b, err := os.ReadFile("demodata/cases-2022-04-04.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cases, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runCmd(t, "import", "cases", cases, "--db", url, "--log-level", "warn")
	if err != nil {
		t.Fatalf("import cases: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(out, "cases: 3658 inserted, 0 already present,") || !strings.HasSuffix(out, "32 rows skipped\n") {
		t.Fatalf("cases said %q", out)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 32 || lines[0] != "line 95: latitude: is empty: the address was not geocoded; row skipped" {
		t.Fatalf("stderr has %d lines, first %q", len(lines), lines[0])
	}
	if n := count(`SELECT count(*) FROM cases WHERE ext_id LIKE 'shanghai-2022-04-04/%'`); n != 3658 {
		t.Fatalf("%d cases", n)
	}

	// Households: a bad file names every bad row and changes nothing; the good one loads.
	bad := writeFile(t, "bad.csv", grid.HouseholdCSVHeader+`
H1,121.4737,31.2304,人民大道200号,,,张三,,,,,,
H2,121.4737,95,某路,,,,,,,,,
H3,121.4737,31.2304,,,,李四,,,,,sick,
`)
	out, stderr, err = runCmd(t, "import", "households", bad, "--db", url, "--log-level", "warn")
	if err == nil || out != "" {
		t.Fatalf("bad file accepted: %q", out)
	}
	wantErr := "line 3: lat: 95 is outside [-90, 90]\nline 4: address: is required\nline 4: status: "
	if !strings.HasPrefix(stderr, wantErr) || !strings.Contains(err.Error(), "nothing written (3 bad rows listed above)") {
		t.Fatalf("stderr %q, error %v", stderr, err)
	}
	if n := count(`SELECT count(*) FROM households`); n != 0 {
		t.Fatalf("%d households written by a bad file", n)
	}
	good := writeFile(t, "good.csv", grid.HouseholdCSVHeader+`
H1,121.4737,31.2304,人民大道200号,,,张三,,,,男,,
H1,,,,,,李四,,,,,,
`)
	out, stderr, err = runCmd(t, "import", "households", "--db", url, "--log-level", "warn", good)
	if err != nil || out != "households: 1 inserted with 2 persons, 0 already present, 0 outside every area\n" {
		t.Fatalf("good file: %q %v\n%s", out, err, stderr)
	}

	// Usage errors.
	for _, args := range [][]string{{"import"}, {"import", "zones", "x"}, {"import", "households"}} {
		if _, _, err := runCmd(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestBenchHouseholdsCSVIsDeterministicAndValid(t *testing.T) {
	var a, b bytes.Buffer
	ca, err := writeBenchHouseholds(&a, 3000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeBenchHouseholds(&b, 3000, 7); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a.Bytes()) != sha256.Sum256(b.Bytes()) {
		t.Fatal("the same seed wrote different files")
	}
	r, err := grid.NewHouseholdCSV(&a)
	if err != nil {
		t.Fatal(err)
	}
	households, persons := 0, 0
	for batch, err := range r.Batches(0) {
		if err != nil {
			t.Fatalf("generated a bad row: %v", err)
		}
		for _, h := range batch {
			households++
			persons += len(h.Persons)
			if h.Location[0] < 121.2 || h.Location[0] > 121.8 || h.Location[1] < 30.9 || h.Location[1] > 31.5 {
				t.Fatalf("%s at %v, outside the box", h.ExtID, h.Location)
			}
		}
	}
	if households != ca.households || persons != ca.persons || households != 3000 {
		t.Fatalf("read %d households, %d persons; wrote %+v", households, persons, ca)
	}
}

func TestBenchImportCommand(t *testing.T) {
	t.Parallel()
	_, url := dbtest.New(t)
	out, stderr, err := runCmd(t, "bench", "import", "--households", "2000", "--db", url, "--log-level", "warn")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(out, "bench import: 2000 households + ") || !strings.Contains(out, "households/s") || !strings.Contains(out, "max RSS") {
		t.Fatalf("bench said %q", out)
	}
}
