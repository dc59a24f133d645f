package track

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// ReadGeoJSON reads pings from a GeoJSON FeatureCollection or a single Feature. Each
// feature is one person's positions with their times:
//   - LineString or MultiPoint with properties.times, an array of RFC 3339 time
//     strings (with a zone), one per position; properties.coordTimes is accepted as
//     well, the name that GPX → GeoJSON converters write (Mapbox's togeojson, and the
//     tools built on it);
//   - MultiLineString with coordTimes (or times) as an array of arrays, one per line,
//     as togeojson writes a track of several segments; a flat array with one time per
//     position of all lines is accepted too;
//   - Point with properties.time (or a one-element times array).
//
// The person is properties.person (a string or a number); when absent, person is used,
// and a feature with neither is an error. Positions are [lng, lat] or [lng, lat, alt]
// (altitude ignored). Along a LineString, and along each line of a MultiLineString,
// time must never go backwards (a recorded path; see the package comment); MultiPoint
// and Point features are sets of fixes, merged like CSV rows. Each person's pings
// from all features are merged by a stable sort on time; the result is ordered by
// person id.
//
// The document is decoded whole (tracks are a few MB; callers bound the size).
// Errors: a *ParseError naming the file and, as Field, the JSON path of the value at
// fault (features[3].properties.times[17]); JSON syntax errors name the line.
func ReadGeoJSON(r io.Reader, file, person string) ([]Trajectory, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var doc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, geoJSONSyntax(file, data, "", err)
	}
	var feats []json.RawMessage
	path := func(i int) string { return fmt.Sprintf("features[%d]", i) }
	switch doc.Type {
	case "FeatureCollection":
		feats = doc.Features
	case "Feature":
		feats = []json.RawMessage{data}
		path = func(int) string { return "feature" }
	default:
		return nil, &ParseError{File: file, Field: "type", Err: fmt.Errorf("%q: want a FeatureCollection or a Feature", doc.Type)}
	}
	byPerson := map[string]int{}
	var out []Trajectory
	for i, raw := range feats {
		who, pings, err := geoJSONFeature(raw, path(i), person)
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				pe.File = file
				return nil, pe
			}
			return nil, geoJSONSyntax(file, data, path(i), err)
		}
		k, ok := byPerson[who]
		if !ok {
			k = len(out)
			byPerson[who] = k
			out = append(out, Trajectory{Person: who})
		}
		out[k].Pings = append(out[k].Pings, pings...)
	}
	for i := range out {
		SortPings(out[i].Pings)
	}
	sortTrajectories(out)
	return out, nil
}

// geoJSONSyntax turns a JSON decoding error into a ParseError with the line of the
// offending byte when the decoder tells it.
func geoJSONSyntax(file string, data []byte, path string, err error) error {
	pe := &ParseError{File: file, Field: path, Err: err}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		pe.Line = 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		pe.Field, pe.Err = "json", errors.New(se.Error())
	case errors.As(err, &te):
		if te.Field != "" {
			pe.Field = joinPath(path, te.Field)
		}
		pe.Err = fmt.Errorf("is %s, want %s", te.Value, jsonKind(te.Type.String()))
	}
	if pe.Field == "" {
		// The document itself is the wrong kind of value (a number, an array):
		// found by FuzzReadGeoJSON, whose contract is that every error says where.
		pe.Field = "json"
	}
	return pe
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "[]json.RawMessage":
		return "an array"
	}
	return "an object"
}

type geoJSONGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// geoJSONFeature reads one feature; errors are ParseErrors without the file name,
// or JSON type errors for the caller to place.
func geoJSONFeature(raw json.RawMessage, path, person string) (string, []Ping, error) {
	var f struct {
		Type       string                     `json:"type"`
		Geometry   *geoJSONGeometry           `json:"geometry"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return "", nil, err
	}
	bad := func(field string, err error) error { return &ParseError{Field: joinPath(path, field), Err: err} }
	if f.Type != "Feature" {
		return "", nil, bad("type", fmt.Errorf("%q: want Feature", f.Type))
	}
	who := person
	if v, ok := f.Properties["person"]; ok && string(v) != "null" {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return "", nil, bad("properties.person", errors.New("want a string or a number"))
			}
			s = n.String()
		}
		who = s
	}
	if who == "" {
		return "", nil, bad("properties.person", errors.New("no person id: set properties.person or name the person for the whole file"))
	}
	if f.Geometry == nil {
		return "", nil, bad("geometry", errors.New("is null; want a LineString, MultiLineString, MultiPoint or Point"))
	}
	timesKey := "times"
	if _, ok := f.Properties["times"]; !ok {
		if _, ok := f.Properties["coordTimes"]; ok {
			timesKey = "coordTimes"
		}
	}
	geom := f.Geometry
	switch geom.Type {
	case "Point":
		var c []float64
		if err := json.Unmarshal(geom.Coordinates, &c); err != nil {
			return "", nil, bad("geometry.coordinates", errors.New("want a position [lng, lat]"))
		}
		p, err := geoJSONPosition(c)
		if err != nil {
			return "", nil, bad("geometry.coordinates", err)
		}
		raw, key := f.Properties["time"], "properties.time"
		if raw == nil {
			var ts []json.RawMessage
			if err := json.Unmarshal(f.Properties[timesKey], &ts); err != nil || len(ts) != 1 {
				return "", nil, bad("properties.time", errors.New("a Point needs properties.time (an RFC 3339 string)"))
			}
			raw, key = ts[0], "properties."+timesKey+"[0]"
		}
		t, err := geoJSONTime(raw)
		if err != nil {
			return "", nil, bad(key, err)
		}
		return who, []Ping{{Time: t, Point: p}}, nil
	case "LineString", "MultiPoint":
		var cs [][]float64
		if err := json.Unmarshal(geom.Coordinates, &cs); err != nil {
			return "", nil, bad("geometry.coordinates", errors.New("want an array of positions [lng, lat]"))
		}
		times, err := geoJSONTimes(f.Properties, timesKey, len(cs))
		if err != nil {
			return "", nil, bad("properties."+timesKey, err)
		}
		pings, err := geoJSONLine(cs, times, "geometry.coordinates", "properties."+timesKey, geom.Type == "LineString")
		if err != nil {
			return "", nil, prefix(path, err)
		}
		return who, pings, nil
	case "MultiLineString":
		var lines [][][]float64
		if err := json.Unmarshal(geom.Coordinates, &lines); err != nil {
			return "", nil, bad("geometry.coordinates", errors.New("want an array of lines of positions"))
		}
		var nested [][]json.RawMessage
		flat := true
		if raw, ok := f.Properties[timesKey]; ok {
			if err := json.Unmarshal(raw, &nested); err == nil {
				flat = false
			}
		}
		var pings []Ping
		if flat {
			total := 0
			for _, l := range lines {
				total += len(l)
			}
			times, err := geoJSONTimes(f.Properties, timesKey, total)
			if err != nil {
				return "", nil, bad("properties."+timesKey, err)
			}
			for i, l := range lines {
				ps, err := geoJSONLine(l, times[:len(l)], fmt.Sprintf("geometry.coordinates[%d]", i), "properties."+timesKey, true)
				if err != nil {
					return "", nil, prefix(path, err)
				}
				times = times[len(l):]
				pings = append(pings, ps...)
			}
			return who, pings, nil
		}
		if len(nested) != len(lines) {
			return "", nil, bad("properties."+timesKey, fmt.Errorf("has %d arrays of times for %d lines", len(nested), len(lines)))
		}
		for i, l := range lines {
			key := fmt.Sprintf("properties.%s[%d]", timesKey, i)
			if len(nested[i]) != len(l) {
				return "", nil, bad(key, fmt.Errorf("has %d times for %d positions", len(nested[i]), len(l)))
			}
			ps, err := geoJSONLine(l, nested[i], fmt.Sprintf("geometry.coordinates[%d]", i), key, true)
			if err != nil {
				return "", nil, prefix(path, err)
			}
			pings = append(pings, ps...)
		}
		return who, pings, nil
	}
	return "", nil, bad("geometry.type", fmt.Errorf("%q: want a LineString, MultiLineString, MultiPoint or Point", geom.Type))
}

func prefix(path string, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Field = joinPath(path, pe.Field)
	}
	return err
}

// geoJSONTimes reads the raw time array of a feature, which must hold n entries.
func geoJSONTimes(props map[string]json.RawMessage, key string, n int) ([]json.RawMessage, error) {
	raw, ok := props[key]
	if !ok {
		return nil, errors.New("missing: give one RFC 3339 time per position in properties.times (or coordTimes)")
	}
	var ts []json.RawMessage
	if err := json.Unmarshal(raw, &ts); err != nil {
		return nil, errors.New("want an array of RFC 3339 time strings")
	}
	if len(ts) != n {
		return nil, fmt.Errorf("has %d times for %d positions", len(ts), n)
	}
	return ts, nil
}

// geoJSONLine pairs positions with times; ordered lines must not go back in time.
func geoJSONLine(cs [][]float64, times []json.RawMessage, coordPath, timePath string, ordered bool) ([]Ping, error) {
	out := make([]Ping, len(cs))
	for i, c := range cs {
		p, err := geoJSONPosition(c)
		if err != nil {
			return nil, &ParseError{Field: fmt.Sprintf("%s[%d]", coordPath, i), Err: err}
		}
		t, err := geoJSONTime(times[i])
		if err != nil {
			return nil, &ParseError{Field: fmt.Sprintf("%s[%d]", timePath, i), Err: err}
		}
		if ordered && i > 0 && t.Before(out[i-1].Time) {
			return nil, &ParseError{Field: fmt.Sprintf("%s[%d]", timePath, i),
				Err: fmt.Errorf("%s goes back in time from %s at [%d]", t.Format(time.RFC3339Nano), out[i-1].Time.Format(time.RFC3339Nano), i-1)}
		}
		out[i] = Ping{Time: t, Point: p}
	}
	return out, nil
}

func geoJSONPosition(c []float64) (orb.Point, error) {
	if len(c) < 2 {
		return orb.Point{}, fmt.Errorf("position has %d numbers; want [lng, lat]", len(c))
	}
	if err := geo.ValidLngLat(c[0], c[1]); err != nil {
		var ce *geo.CoordError
		if errors.As(err, &ce) {
			return orb.Point{}, fmt.Errorf("%s %s", ce.Field, ce.Reason)
		}
		return orb.Point{}, err
	}
	return orb.Point{c[0], c[1]}, nil
}

func geoJSONTime(raw json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("%s is not a string; want an RFC 3339 time such as 2008-10-23T02:53:04Z", strconv.Quote(string(raw)))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339 with a zone (2008-10-23T02:53:04Z)", s)
	}
	return t.UTC(), nil
}
