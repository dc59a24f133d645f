package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/track"
)

const importPingsUsage = `usage: gridtrace import pings PATH [--format plt|csv|gpx|geojson] [--person ID] [--source NAME]

Loads trajectories into the pings table (partitioned by UTC day; the partitions of
the days loaded are created on demand). PATH is one of:
  - a GeoLife Data folder: PATH/<person>/Trajectory/*.plt, the folder name is the
    person id (one load for the whole tree);
  - one GeoLife person folder (PATH/Trajectory/*.plt) or its Trajectory folder;
  - a .plt file (person: --person, else the GeoLife folder it sits in, else the
    file name);
  - a CSV file with the header person,time,lat,lng (RFC 3339 times with a zone);
  - a GPX file (track points with <time>; person: --person, else the file name);
  - a GeoJSON Feature or FeatureCollection of LineString, MultiLineString,
    MultiPoint or Point features with properties.times (or coordTimes, as GPX →
    GeoJSON converters write) or properties.time; person: properties.person, else
    --person, else the file name.
Files may be gzip-compressed; - reads standard input (give --format). The format
follows the extension unless --format is given. Each PATH loads in one
transaction: a bad line (reported as FILE:LINE: field: reason) changes nothing,
and loading the same pings twice is refused.
`

// importPingsFlags are the flags of import pings.
type importPingsFlags struct {
	format string
	person string
	source string
}

// runImportPings runs `gridtrace import pings PATH`.
func (m *Main) runImportPings(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import pings", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, importPingsUsage, "\nflags:\n"); fs.PrintDefaults() }
	var db dbFlags
	var f importPingsFlags
	m.bindDB(fs, &db)
	fs.StringVar(&f.format, "format", "", "plt, csv, gpx or geojson (default: from the file extension)")
	fs.StringVar(&f.person, "person", "", "person id of a single-person file (.plt, GPX, GeoJSON without properties.person)")
	fs.StringVar(&f.source, "source", "", "where the pings come from, recorded with each (default: the base name of PATH)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	path := pos[0]
	start := time.Now()
	trajs, err := readPingPath(path, f)
	if err != nil {
		return fmt.Errorf("import pings %s: nothing written: %s", path, userMessage(err))
	}
	read := time.Since(start)
	source := f.source
	if source == "" {
		source = filepath.Base(filepath.Clean(path))
	}
	log := m.logger(db.logLevel)
	pool, err := db.open(ctx, log)
	if err != nil {
		return err
	}
	defer db.close(pool, log)
	st, err := trace.NewStore(pool, trace.DefaultPolicy())
	if err != nil {
		return err
	}
	start = time.Now()
	rep, err := st.IngestPings(ctx, grid.Caller{Route: "gridtrace import pings"}, source, trajs)
	if err != nil {
		return fmt.Errorf("import pings %s: nothing written: %s", path, userMessage(err))
	}
	took := time.Since(start)
	fmt.Fprintf(m.Stdout, "pings: %d loaded for %d subjects (%d new), %s to %s, batch %d\n",
		rep.Pings, len(rep.Subjects), rep.NewSubjects, rep.First.Format(time.RFC3339), rep.Last.Format(time.RFC3339), rep.Batch)
	fmt.Fprintf(m.Stdout, "  read in %s; loaded in %s (%.0f pings/s); %d days, %d partitions created\n",
		read.Round(time.Millisecond), took.Round(time.Millisecond), float64(rep.Pings)/took.Seconds(), rep.Days, rep.Created)
	return nil
}

// userMessage is what to tell the user of an error: a domain error's message (which
// names file, line and field for bad input), else the error.
func userMessage(err error) string {
	var ge *grid.Error
	if errors.As(err, &ge) && ge.Kind != grid.Internal {
		if ge.Field != "" && !strings.Contains(ge.Message, ge.Field) {
			return ge.Field + ": " + ge.Message
		}
		return ge.Message
	}
	return err.Error()
}

// readPingPath reads PATH as the usage describes.
func readPingPath(path string, f importPingsFlags) ([]track.Trajectory, error) {
	if path != "-" {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return readPingDir(path, f.person)
		}
	}
	var format trace.Format
	var err error
	if f.format != "" {
		format, err = trace.ParseFormat(f.format)
	} else if ff, ok := trace.FormatOf(path); ok {
		format = ff
	} else {
		err = fmt.Errorf("cannot tell the format of %s from its name: give --format plt|csv|gpx|geojson", path)
	}
	if err != nil {
		return nil, err
	}
	person := f.person
	if person == "" && path != "-" {
		person = defaultPerson(path)
	}
	in, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	return trace.ReadPings(in, format, path, person)
}

// defaultPerson names the person of a single-person file: the GeoLife user folder
// of …/<person>/Trajectory/x.plt, else the file name without its extensions.
func defaultPerson(path string) string {
	dir := filepath.Dir(path)
	if filepath.Base(dir) == "Trajectory" && strings.EqualFold(filepath.Ext(strings.TrimSuffix(path, ".gz")), ".plt") {
		return filepath.Base(filepath.Dir(dir))
	}
	base := strings.TrimSuffix(filepath.Base(path), ".gz")
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// readPingDir reads a GeoLife Data folder, one person folder, or a Trajectory
// folder.
func readPingDir(path, person string) ([]track.Trajectory, error) {
	clean := filepath.Clean(path)
	trajDir := ""
	switch {
	case filepath.Base(clean) == "Trajectory":
		trajDir = clean
		if person == "" {
			person = filepath.Base(filepath.Dir(clean))
		}
	case isDir(filepath.Join(clean, "Trajectory")):
		trajDir = filepath.Join(clean, "Trajectory")
		if person == "" {
			person = filepath.Base(clean)
		}
	}
	if trajDir == "" {
		if person != "" {
			return nil, errors.New("--person applies to one person's folder or file, not to a GeoLife Data folder")
		}
		trajs, err := track.ReadGeoLife(os.DirFS(clean))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return trajs, nil
	}
	entries, err := os.ReadDir(trajDir)
	if err != nil {
		return nil, err
	}
	tr := track.Trajectory{Person: person}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".plt") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, n := range names {
		file := filepath.Join(trajDir, n)
		fh, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		ps, err := track.ReadPLT(fh, file)
		fh.Close()
		if err != nil {
			return nil, err
		}
		tr.Pings = append(tr.Pings, ps...)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .plt files", trajDir)
	}
	// Files of one person may overlap in time: merged by a stable sort, as the
	// GeoLife walker does.
	track.SortPings(tr.Pings)
	return []track.Trajectory{tr}, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
