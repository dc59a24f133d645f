package track

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// CSVHeader is the header of the ping CSV format: person id, time in RFC 3339 with a
// zone (2008-10-23T02:53:04Z or 2008-10-23T10:53:04+08:00, fractions allowed), and
// WGS84 latitude and longitude in degrees. Columns may come in any order; other
// columns are ignored.
const CSVHeader = "person,time,lat,lng"

// ReadCSV reads pings in the CSV format of CSVHeader. The header row is required (a
// leading byte-order mark is ignored). Rows need not be ordered: each person's pings
// are sorted by time (stable, so equal times keep file order). Times are converted to
// UTC. file names the input in errors.
//
// Errors: a *ParseError naming the line and field for a missing column, an empty
// person, a time without a zone or not RFC 3339, a number that does not parse, or a
// coordinate outside [-90, 90] × [-180, 180]. The result is ordered by person id.
func ReadCSV(r io.Reader, file string) ([]Trajectory, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{File: file, Line: 1, Field: "header", Err: fmt.Errorf("empty file; want the header %s", CSVHeader)}
	}
	if err != nil {
		return nil, csvError(file, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	for _, need := range strings.Split(CSVHeader, ",") {
		if _, ok := col[need]; !ok {
			return nil, &ParseError{File: file, Line: 1, Field: "header", Err: fmt.Errorf("no %q column; want the header %s", need, CSVHeader)}
		}
	}
	byPerson := map[string]int{}
	var out []Trajectory
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(file, err)
		}
		line, _ := cr.FieldPos(0)
		field := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		bad := func(name string, err error) error {
			return &ParseError{File: file, Line: line, Field: name, Err: err}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		person := field("person")
		if person == "" {
			return nil, bad("person", errors.New("is empty"))
		}
		ts := field("time")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, bad("time", fmt.Errorf("%q is not RFC 3339 with a zone (2008-10-23T02:53:04Z)", ts))
		}
		lat, err := strconv.ParseFloat(field("lat"), 64)
		if err != nil {
			return nil, bad("lat", fmt.Errorf("%q is not a number", field("lat")))
		}
		lng, err := strconv.ParseFloat(field("lng"), 64)
		if err != nil {
			return nil, bad("lng", fmt.Errorf("%q is not a number", field("lng")))
		}
		if err := geo.ValidLngLat(lng, lat); err != nil {
			var ce *geo.CoordError
			if errors.As(err, &ce) {
				return nil, bad(ce.Field, errors.New(ce.Reason))
			}
			return nil, bad("lnglat", err)
		}
		i, ok := byPerson[person]
		if !ok {
			i = len(out)
			byPerson[person] = i
			out = append(out, Trajectory{Person: person})
		}
		out[i].Pings = append(out[i].Pings, Ping{Time: t.UTC(), Point: orb.Point{lng, lat}})
	}
	for i := range out {
		SortPings(out[i].Pings)
	}
	sortTrajectories(out)
	return out, nil
}

func csvError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: file, Line: pe.Line, Field: "csv", Err: pe.Err}
	}
	return fmt.Errorf("read %s: %w", file, err)
}
