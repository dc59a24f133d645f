package geo

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// FuzzValidatePolygon feeds GeoJSON geometries (real streets and zones from
// testdata/fuzz/FuzzValidatePolygon plus mutations) to ValidatePolygon and
// CheckPolygonal. Invariants: no panic; a refusal is a *CoordError naming the GeoJSON
// path and a reason; a polygon ValidatePolygon accepts passes CheckPolygonal (finite,
// in-range coordinates, closed rings of at least 4 points) and every ring encloses
// an area.
func FuzzValidatePolygon(f *testing.F) {
	f.Add([]byte(`{"type":"Polygon","coordinates":[[[121.47,31.23],[121.48,31.23],[121.48,31.24],[121.47,31.23]]]}`))
	f.Add([]byte(`{"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}`))
	f.Add([]byte(`{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,2],[2,2],[1,1]]]}`))
	f.Add([]byte(`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[0,0],[1,0],[1,1],[0,0]]]]}`))
	f.Add([]byte(`{"type":"Polygon","coordinates":[[[181,0],[1,0],[1,1],[181,0]]]}`))
	f.Add([]byte(`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, ok := decodeFuzzGeometry(data)
		if !ok {
			return
		}
		verr := ValidatePolygon(g)
		checkCoordError(t, "ValidatePolygon", verr)
		_, cerr := CheckPolygonal(g)
		checkCoordError(t, "CheckPolygonal", cerr)
		if verr != nil {
			return
		}
		if cerr != nil {
			t.Fatalf("ValidatePolygon accepts what CheckPolygonal refuses: %v", cerr)
		}
		var polys []orb.Polygon
		switch v := g.(type) {
		case orb.Polygon:
			polys = []orb.Polygon{v}
		case orb.MultiPolygon:
			polys = v
		}
		for pi, p := range polys {
			for ri, r := range p {
				if planar.Area(r) == 0 {
					t.Fatalf("polygon %d ring %d accepted with zero area: %v", pi, ri, r)
				}
			}
		}
	})
}

// checkCoordError fails unless err is nil or a *CoordError saying where and why.
func checkCoordError(t *testing.T, who string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ce *CoordError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v (%T) is not a *CoordError", who, err, err)
	}
	if ce.Reason == "" {
		t.Fatalf("%s: error %v has no reason", who, err)
	}
	if !strings.HasPrefix(ce.Field, "coordinates") && ce.Field != "type" && ce.Field != "geometry" {
		t.Fatalf("%s: error %v names field %q, not a GeoJSON path", who, err, ce.Field)
	}
}

// decodeFuzzGeometry reads a GeoJSON Polygon or MultiPolygon keeping its type; false
// for anything else (the JSON decoder is not what is fuzzed here).
func decodeFuzzGeometry(data []byte) (orb.Geometry, bool) {
	var g struct {
		Type        string
		Coordinates json.RawMessage
	}
	if json.Unmarshal(data, &g) != nil {
		return nil, false
	}
	ring := func(r [][2]float64) orb.Ring {
		out := make(orb.Ring, len(r))
		for i, p := range r {
			out[i] = orb.Point(p)
		}
		return out
	}
	poly := func(p [][][2]float64) orb.Polygon {
		out := make(orb.Polygon, len(p))
		for i, r := range p {
			out[i] = ring(r)
		}
		return out
	}
	switch g.Type {
	case "Polygon":
		var p [][][2]float64
		if json.Unmarshal(g.Coordinates, &p) != nil {
			return nil, false
		}
		return poly(p), true
	case "MultiPolygon":
		var mp [][][][2]float64
		if json.Unmarshal(g.Coordinates, &mp) != nil {
			return nil, false
		}
		out := make(orb.MultiPolygon, len(mp))
		for i, p := range mp {
			out[i] = poly(p)
		}
		return out, true
	}
	return nil, false
}
