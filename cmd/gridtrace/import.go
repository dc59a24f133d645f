package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

const importUsage = `usage:
  gridtrace import areas FILE.geojson [--level street] [--name-field STREET] [--parent-field AREA]
  gridtrace import households FILE.csv
  gridtrace import cases FILE.csv [--date 2022-04-04] [--kind confirmed] [--source shanghai-2022-04-04]
  gridtrace import pings PATH   (GeoLife folder, .plt, CSV, GPX or GeoJSON; import pings -h)

FILE may be gzip-compressed, or - for standard input. Each file loads in one
transaction: a bad row (reported as "line N: field: reason") changes nothing.
The formats are described in README.md, "Import formats".
`

type importFlags struct {
	level       string
	nameField   string
	parentField string
	date        string
	kind        string
	source      string
	batch       int
}

func (m *Main) runImport(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "pings" {
		return m.runImportPings(ctx, args[1:])
	}
	if len(args) == 0 || (args[0] != "areas" && args[0] != "households" && args[0] != "cases") {
		fmt.Fprint(m.Stderr, importUsage)
		return errUsage
	}
	what := args[0]
	fs := flag.NewFlagSet("import "+what, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, importUsage, "\nflags:\n"); fs.PrintDefaults() }
	var db dbFlags
	var f importFlags
	m.bindDB(fs, &db)
	switch what {
	case "areas":
		fs.StringVar(&f.level, "level", "street", "level of every feature: district, street, community or grid")
		fs.StringVar(&f.nameField, "name-field", "STREET", "property holding an area's name")
		fs.StringVar(&f.parentField, "parent-field", "AREA", "property holding the parent's code (a street's district name); empty: the parent is found spatially")
	case "cases":
		fs.StringVar(&f.date, "date", "", "day the cases were reported, YYYY-MM-DD (China time) or RFC 3339; default: the date in the file name")
		fs.StringVar(&f.kind, "kind", string(grid.Confirmed), "kind of cases whose row names none: confirmed, asymptomatic or suspected")
		fs.StringVar(&f.source, "source", "", "geocoded format: ext_id prefix, ext_id = SOURCE/<row id> (default shanghai-DATE)")
	}
	if what != "areas" {
		fs.IntVar(&f.batch, "batch", grid.DefaultBatch, "rows per COPY batch (bounds memory; the load is one transaction either way)")
	}
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	path := pos[0]
	r, err := openInput(path)
	if err != nil {
		return err
	}
	defer r.Close()
	log := m.logger(db.logLevel)
	pool, err := db.open(ctx, log)
	if err != nil {
		return err
	}
	defer db.close(pool, log)
	store := grid.NewStore(pool)
	var rep grid.LoadReport
	switch what {
	case "areas":
		level, lerr := grid.ParseLevel(f.level)
		if lerr != nil {
			return lerr
		}
		rep, err = importAreas(ctx, store, r, grid.AreaImportOptions{Level: level, NameField: f.nameField, ParentField: f.parentField})
	case "households":
		rep, err = importHouseholds(ctx, store, r, f.batch)
	case "cases":
		opt, oerr := f.caseOptions(path)
		if oerr != nil {
			return oerr
		}
		rep, err = importCases(ctx, store, r, opt, f.batch)
	}
	// Bad rows go to stderr one per line whether or not they failed the file (the
	// cases without coordinates do not).
	for _, e := range rep.Rejected {
		fmt.Fprintln(m.Stderr, e.Error())
	}
	if err != nil {
		var ge *grid.Error
		if errors.As(err, &ge) && ge.Kind == grid.Invalid && len(rep.Rejected) > 0 {
			return fmt.Errorf("import %s %s: nothing written (%d bad rows listed above)", what, path, len(rep.Rejected))
		}
		return fmt.Errorf("import %s %s: %w", what, path, err)
	}
	fmt.Fprintln(m.Stdout, summary(what, rep))
	return nil
}

// summary is the one line a successful import prints.
func summary(what string, rep grid.LoadReport) string {
	switch what {
	case "areas":
		return fmt.Sprintf("areas: %d inserted, %d updated, %d unchanged, %d repaired with ST_MakeValid, %d parents derived",
			rep.Inserted, rep.Updated, rep.Skipped, rep.Repaired, rep.Derived)
	case "households":
		return fmt.Sprintf("households: %d inserted with %d persons, %d already present, %d outside every area",
			rep.Inserted, rep.Persons, rep.Skipped, rep.Unassigned)
	}
	return fmt.Sprintf("cases: %d inserted, %d already present, %d outside every area, %d rows skipped",
		rep.Inserted, rep.Skipped, rep.Unassigned, len(rep.Rejected))
}

// importAreas reads a GeoJSON FeatureCollection and imports it. An area file is
// small (Shanghai's 214 streets are 7 MB), so it is read whole.
func importAreas(ctx context.Context, store *grid.Store, r io.Reader, opt grid.AreaImportOptions) (grid.LoadReport, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return grid.LoadReport{}, fmt.Errorf("read: %w", err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return grid.LoadReport{}, grid.Errorf(grid.Invalid, "file", "not a GeoJSON FeatureCollection: %v", err)
	}
	return store.ImportAreas(ctx, fc, opt)
}

// importHouseholds streams a households CSV into the store in batches.
func importHouseholds(ctx context.Context, store *grid.Store, r io.Reader, batch int) (grid.LoadReport, error) {
	hr, err := grid.NewHouseholdCSV(r)
	if err != nil {
		return grid.LoadReport{}, err
	}
	return store.LoadHouseholds(ctx, hr.Batches(batch))
}

// importCases streams a cases CSV into the store. On success the report's Rejected
// lists the rows left out without failing the file (no coordinates).
func importCases(ctx context.Context, store *grid.Store, r io.Reader, opt grid.CaseCSVOptions, batch int) (grid.LoadReport, error) {
	cr, err := grid.NewCaseCSV(r, opt)
	if err != nil {
		return grid.LoadReport{}, err
	}
	rep, err := store.LoadCases(ctx, cr.Batches(batch))
	if err == nil {
		rep.Rejected = cr.Skipped()
	}
	return rep, err
}

// caseOptions turns the flags into reader options; the date defaults to the one in
// the file name (cases-2022-04-04.csv), as published lists are named by day.
func (f importFlags) caseOptions(path string) (grid.CaseCSVOptions, error) {
	opt := grid.CaseCSVOptions{Kind: grid.CaseKind(f.kind), Source: f.source}
	date := f.date
	if date == "" {
		date = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`).FindString(filepath.Base(path))
	}
	if date != "" {
		t, err := grid.ParseTime(date, nil)
		if err != nil {
			return opt, grid.Errorf(grid.Invalid, "date", "%v", err)
		}
		opt.ReportedAt = t
		if opt.Source == "" {
			opt.Source = "shanghai-" + date
		}
	}
	return opt, nil
}

// openInput opens a file, or standard input for "-", decompressing gzip when the
// content starts with its magic bytes (whatever the name).
func openInput(path string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	if path == "-" {
		rc = io.NopCloser(os.Stdin)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		rc = f
	}
	br := bufio.NewReaderSize(rc, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return readCloser{z, rc}, nil
	}
	return readCloser{br, rc}, nil
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// parseInterleaved parses flags placed before, between or after the positional
// arguments (Go's flag package stops at the first positional one), so that
// "import areas FILE --level street" works as documented.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
