package track

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// PLTHeaderLines is the number of header lines of a GeoLife .plt file; they carry no
// data (format name, datum, units and OziExplorer track settings).
const PLTHeaderLines = 6

// pltTimeLayout is the date and time columns joined by a space. GeoLife records them
// in UTC (GMT in the dataset's user guide).
const pltTimeLayout = "2006-01-02 15:04:05"

// maxLineBytes bounds one line, so a file that is not text fails instead of growing
// a buffer without limit; a .plt data line is about 65 bytes.
const maxLineBytes = 64 << 10

// PLT streams the pings of one GeoLife .plt file: PLTHeaderLines header lines, then
// lines "lat,lng,0,altitude_ft,days,date,time" (days since 1899-12-30, ignored: the
// date and time columns are the authority and are UTC). Blank lines are skipped and a
// trailing \r is ignored. file names the input in errors.
//
// The sequence yields each ping with a nil error; on the first line it cannot accept
// it yields a zero Ping with a *ParseError (file, line, field) and stops. Rejected:
// a missing header, a line without 7 columns, an unparsable number or time, a
// coordinate outside [-90, 90] × [-180, 180], and a time before the previous line's
// (see the package comment for why that is an error).
func PLT(r io.Reader, file string) iter.Seq2[Ping, error] {
	return func(yield func(Ping, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
		line := 0
		var prev time.Time
		prevLine := 0
		fail := func(field string, err error) {
			yield(Ping{}, &ParseError{File: file, Line: line, Field: field, Err: err})
		}
		for sc.Scan() {
			line++
			if line <= PLTHeaderLines {
				continue
			}
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			p, field, err := parsePLTLine(text)
			if err != nil {
				fail(field, err)
				return
			}
			if prevLine > 0 && p.Time.Before(prev) {
				fail("time", fmt.Errorf("%s goes back in time from %s on line %d", p.Time.Format(pltTimeLayout), prev.Format(pltTimeLayout), prevLine))
				return
			}
			prev, prevLine = p.Time, line
			if !yield(p, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			line++
			if errors.Is(err, bufio.ErrTooLong) {
				fail("", fmt.Errorf("line longer than %d bytes: not a .plt file?", maxLineBytes))
				return
			}
			fail("", err)
			return
		}
		if line < PLTHeaderLines {
			fail("header", fmt.Errorf("file ends after %d lines; a .plt file starts with %d header lines", line, PLTHeaderLines))
		}
	}
}

// parsePLTLine reads one data line; on error it names the field at fault.
func parsePLTLine(text string) (Ping, string, error) {
	cols := strings.Split(text, ",")
	if len(cols) != 7 {
		return Ping{}, "", fmt.Errorf("want 7 comma-separated columns lat,lng,0,alt,days,date,time; got %d", len(cols))
	}
	lat, err := strconv.ParseFloat(strings.TrimSpace(cols[0]), 64)
	if err != nil {
		return Ping{}, "lat", fmt.Errorf("%q is not a number", cols[0])
	}
	lng, err := strconv.ParseFloat(strings.TrimSpace(cols[1]), 64)
	if err != nil {
		return Ping{}, "lng", fmt.Errorf("%q is not a number", cols[1])
	}
	if err := geo.ValidLngLat(lng, lat); err != nil {
		var ce *geo.CoordError
		if errors.As(err, &ce) {
			return Ping{}, ce.Field, errors.New(ce.Reason)
		}
		return Ping{}, "lnglat", err
	}
	ts := strings.TrimSpace(cols[5]) + " " + strings.TrimSpace(cols[6])
	t, err := time.ParseInLocation(pltTimeLayout, ts, time.UTC)
	if err != nil {
		return Ping{}, "time", fmt.Errorf("%q is not a date and time YYYY-MM-DD,HH:MM:SS", cols[5]+","+cols[6])
	}
	return Ping{Time: t, Point: orb.Point{lng, lat}}, "", nil
}

// ReadPLT reads a whole .plt file; see PLT.
func ReadPLT(r io.Reader, file string) ([]Ping, error) {
	var out []Ping
	for p, err := range PLT(r, file) {
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ReadGeoLife reads a GeoLife folder: fsys holds one folder per person,
// <person>/Trajectory/*.plt (the layout of the dataset's Data folder), and the folder
// name is the person id. Each person's files are read in name order and their pings
// merged by a stable sort on time, so overlapping files interleave and equal times keep
// file order. A person folder with a Trajectory folder but no .plt file yields a
// trajectory without pings (known person, nothing recorded), which callers can tell
// apart from an unknown person. Folders without a Trajectory sub-folder and other files
// are ignored. Errors: a ParseError naming the file (as a path inside fsys) and line,
// or an error when no person folder exists at all.
//
// The result is ordered by person id. Files are streamed, so memory is the pings
// themselves (40 bytes each).
func ReadGeoLife(fsys fs.FS) ([]Trajectory, error) {
	top, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read geolife folder: %w", err)
	}
	var out []Trajectory
	for _, d := range top {
		if !d.IsDir() {
			continue
		}
		dir := path.Join(d.Name(), "Trajectory")
		files, err := fs.ReadDir(fsys, dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
		tr := Trajectory{Person: d.Name(), Pings: []Ping{}}
		sorted := true
		for _, f := range files {
			if f.IsDir() || !strings.EqualFold(path.Ext(f.Name()), ".plt") {
				continue
			}
			name := path.Join(dir, f.Name())
			n := len(tr.Pings)
			if err := readPLTFile(fsys, name, &tr.Pings); err != nil {
				return nil, err
			}
			if n > 0 && len(tr.Pings) > n && tr.Pings[n].Time.Before(tr.Pings[n-1].Time) {
				sorted = false
			}
		}
		if !sorted {
			SortPings(tr.Pings)
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		return nil, errors.New("no person folders <person>/Trajectory/ found (point at the GeoLife Data folder)")
	}
	sortTrajectories(out)
	return out, nil
}

func readPLTFile(fsys fs.FS, name string, dst *[]Ping) error {
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	for p, err := range PLT(f, name) {
		if err != nil {
			return err
		}
		*dst = append(*dst, p)
	}
	return nil
}
