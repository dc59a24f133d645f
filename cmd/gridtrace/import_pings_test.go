package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
)

// TestImportPingsCommand loads the GeoLife sample as a folder tree, then single
// files of every kind; bad files name the line and write nothing.
func TestImportPingsCommand(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t)
	ctx := context.Background()
	pings := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pings`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dir := geolifetest.Dir(t)
	trajs, committed := geolifetest.Trajectories(t)
	total := 0
	for _, tr := range trajs {
		total += len(tr.Pings)
	}
	out, stderr, err := runCmd(t, "import", "pings", dir, "--db", url, "--log-level", "warn")
	if err != nil {
		t.Fatalf("import pings: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "loaded for 8 subjects (8 new)") && committed {
		t.Errorf("summary %q", out)
	}
	if !strings.Contains(out, "pings/s") || pings() != total {
		t.Fatalf("summary %q; %d pings stored, %d in the files", out, pings(), total)
	}
	// The same tree again is refused.
	if _, _, err := runCmd(t, "import", "pings", dir, "--db", url, "--log-level", "warn"); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Fatalf("second import: %v", err)
	}

	files := map[string]string{
		"walk.gpx": `<gpx><trk><trkseg><trkpt lat="39.9" lon="116.3"><time>2022-04-01T08:00:00Z</time></trkpt></trkseg></trk></gpx>`,
		"t.geojson": `{"type":"Feature","properties":{"person":"gj","times":["2022-04-01T08:00:00Z","2022-04-01T08:01:00Z"]},` +
			`"geometry":{"type":"LineString","coordinates":[[116.3,39.9],[116.31,39.91]]}}`,
		"p.csv": "person,time,lat,lng\ncsv1,2022-04-01T08:00:00+08:00,39.9,116.3\n",
	}
	for name, body := range files {
		if _, stderr, err := runCmd(t, "import", "pings", writeFile(t, name, body), "--db", url, "--log-level", "warn"); err != nil {
			t.Fatalf("import %s: %v\n%s", name, err, stderr)
		}
	}
	var gpxPerson string
	if err := pool.QueryRow(ctx, `SELECT ext_id FROM trace_subjects WHERE ext_id = 'walk'`).Scan(&gpxPerson); err != nil {
		t.Fatalf("the GPX file's person is its name: %v", err)
	}
	before := pings()
	for name, tc := range map[string]struct{ body, want string }{
		"bad.csv": {"person,time,lat,lng\nx,2022-04-01T08:00:00Z,39.9,116.3\nx,2022-04-01 08:01,39.9,116.3\n", "bad.csv:3: time:"},
		"bad.plt": {"a\nb\nc\nd\ne\nf\n39.9,116.3,0,0,0,2022-04-01,08:00:00\n39.9,116.3,0,0,0,2022-04-01,07:00:00\n", "bad.plt:8: time: 2022-04-01 07:00:00 goes back in time"},
		"bad.gpx": {`<gpx><trk><trkseg><trkpt lat="99" lon="116.3"><time>2022-04-01T08:00:00Z</time></trkpt></trkseg></trk></gpx>`, "bad.gpx:1: lat: 99 is outside"},
	} {
		_, _, err := runCmd(t, "import", "pings", writeFile(t, name, tc.body), "--db", url, "--log-level", "warn")
		if err == nil || !strings.Contains(err.Error(), "nothing written") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("import %s: %v, want %q", name, err, tc.want)
		}
	}
	if pings() != before {
		t.Fatalf("bad files wrote pings: %d, was %d", pings(), before)
	}
	// A person's Trajectory folder names the person: 003's pings again, as another
	// load (not the same content as the whole tree), land on subject 003; the same
	// folder once more is refused.
	if committed {
		out, _, err := runCmd(t, "import", "pings", filepath.Join(dir, "003", "Trajectory"), "--db", url, "--log-level", "warn")
		if err != nil || !strings.Contains(out, "loaded for 1 subjects (0 new)") {
			t.Errorf("003's folder: %q %v", out, err)
		}
		if _, _, err := runCmd(t, "import", "pings", filepath.Join(dir, "003"), "--db", url, "--log-level", "warn"); err == nil || !strings.Contains(err.Error(), "already loaded") {
			t.Errorf("003's folder again: %v", err)
		}
	}
}
