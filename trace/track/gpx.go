package track

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// gpxLocalTime is a GPX time without a zone, which the GPX 1.0 and 1.1 schemas define
// as UTC.
const gpxLocalTime = "2006-01-02T15:04:05.999999999"

// ReadGPX reads the track points of a GPX 1.0 or 1.1 file as the trajectory of one
// person: every <trkpt lat=".." lon=".."> of every <trk>/<trkseg>, with its <time>
// (xsd:dateTime; without a zone it is UTC, as the GPX schema says). Waypoints and
// route points are ignored: they are places, not positions over time. Elements are
// matched by local name, so either schema namespace (or none) is accepted. The file
// is read as a stream of XML tokens.
//
// Inside one <trkseg> time must never go backwards (a logger appends; see the package
// comment); segments and tracks are then merged by a stable sort on time, since files
// that join several recordings need not list them in order.
//
// Errors: a *ParseError naming the file, the line and the field (lat, lon, time,
// order, xml, header) for a document whose root is not <gpx>, malformed XML, a
// missing or unparsable coordinate or time, a coordinate out of range, or a time
// before the previous point of its segment. person must not be empty.
func ReadGPX(r io.Reader, file, person string) (Trajectory, error) {
	if person == "" {
		return Trajectory{}, &ParseError{File: file, Field: "person", Err: errors.New("no person id for the GPX track")}
	}
	dec := xml.NewDecoder(r)
	tr := Trajectory{Person: person, Pings: []Ping{}}
	var (
		root      bool
		inPt      bool
		pt        Ping
		ptLine    int
		hasTime   bool
		prev      time.Time
		prevLine  int
		unordered bool
	)
	line := func() int { l, _ := dec.InputPos(); return l }
	fail := func(l int, field string, err error) (Trajectory, error) {
		return Trajectory{}, &ParseError{File: file, Line: l, Field: field, Err: err}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fail(se.Line, "xml", errors.New(se.Msg))
			}
			return fail(line(), "xml", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if !root {
				if name != "gpx" {
					return fail(line(), "header", fmt.Errorf("root element <%s>: not a GPX file (want <gpx>)", name))
				}
				root = true
				continue
			}
			switch {
			case name == "trkseg":
				prevLine = 0
			case name == "trkpt":
				inPt, hasTime, ptLine = true, false, line()
				p, field, err := gpxPoint(t.Attr)
				if err != nil {
					return fail(ptLine, field, err)
				}
				pt = Ping{Point: p}
			case name == "time" && inPt:
				var s string
				if err := dec.DecodeElement(&s, &t); err != nil {
					return fail(line(), "time", err)
				}
				ts, err := parseGPXTime(strings.TrimSpace(s))
				if err != nil {
					return fail(line(), "time", err)
				}
				pt.Time, hasTime = ts, true
			case inPt:
				// ele, sat, extensions ...: not needed.
				if err := dec.Skip(); err != nil {
					return fail(line(), "xml", err)
				}
			}
		case xml.EndElement:
			if t.Name.Local != "trkpt" || !inPt {
				continue
			}
			inPt = false
			if !hasTime {
				return fail(ptLine, "time", errors.New("track point has no <time>"))
			}
			if prevLine > 0 && pt.Time.Before(prev) {
				return fail(ptLine, "time", fmt.Errorf("%s goes back in time from %s on line %d", pt.Time.Format(time.RFC3339Nano), prev.Format(time.RFC3339Nano), prevLine))
			}
			if n := len(tr.Pings); n > 0 && pt.Time.Before(tr.Pings[n-1].Time) {
				unordered = true // a later segment starts earlier: sort below
			}
			prev, prevLine = pt.Time, ptLine
			tr.Pings = append(tr.Pings, pt)
		}
	}
	if !root {
		return fail(1, "header", errors.New("no <gpx> element: not a GPX file"))
	}
	if unordered {
		SortPings(tr.Pings)
	}
	return tr, nil
}

// gpxPoint reads the lat and lon attributes of a track point.
func gpxPoint(attrs []xml.Attr) (orb.Point, string, error) {
	var lat, lon *float64
	for _, a := range attrs {
		if a.Name.Local != "lat" && a.Name.Local != "lon" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(a.Value), 64)
		if err != nil {
			return orb.Point{}, a.Name.Local, fmt.Errorf("%q is not a number", a.Value)
		}
		if a.Name.Local == "lat" {
			lat = &v
		} else {
			lon = &v
		}
	}
	if lat == nil {
		return orb.Point{}, "lat", errors.New("track point has no lat attribute")
	}
	if lon == nil {
		return orb.Point{}, "lon", errors.New("track point has no lon attribute")
	}
	if err := geo.ValidLngLat(*lon, *lat); err != nil {
		var ce *geo.CoordError
		if errors.As(err, &ce) {
			field := ce.Field
			if field == "lng" {
				field = "lon" // GPX's own attribute name
			}
			return orb.Point{}, field, errors.New(ce.Reason)
		}
		return orb.Point{}, "lat", err
	}
	return orb.Point{*lon, *lat}, "", nil
}

func parseGPXTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation(gpxLocalTime, s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an xsd:dateTime such as 2008-10-23T02:53:04Z", s)
}
