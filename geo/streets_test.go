package geo

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

// Test data: a committed sample of real streets, and the full 214 streets when the
// shared data directory sits beside the repository (it does on the team's machines).
const (
	sampleStreetsPath = "testdata/streets-sample.geojson.gz"
	fullStreetsPath   = "../../shared/data/shanghai/streets.geojson"
)

// street is one feature of streets.geojson.
type street struct {
	Name string // AREA/STREET, e.g. 闵行区/浦江镇
	Geom orb.MultiPolygon
}

// loadStreets reads a GeoJSON FeatureCollection of Polygons and MultiPolygons,
// gzip-compressed when the name ends in .gz. It decodes with encoding/json rather
// than orb/geojson because that package pulls in the MongoDB BSON driver.
func loadStreets(tb testing.TB, path string) []street {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		r = zr
	}
	var fc struct {
		Features []struct {
			Properties map[string]any
			Geometry   json.RawMessage
		}
	}
	if err := json.NewDecoder(r).Decode(&fc); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	out := make([]street, 0, len(fc.Features))
	for i, ft := range fc.Features {
		g, err := decodeGeoJSONPolygonal(ft.Geometry)
		if err != nil {
			tb.Fatalf("%s feature %d: %v", path, i, err)
		}
		out = append(out, street{Name: fmt.Sprintf("%v/%v", ft.Properties["AREA"], ft.Properties["STREET"]), Geom: g})
	}
	return out
}

// decodeGeoJSONPolygonal turns a GeoJSON Polygon or MultiPolygon into a MultiPolygon.
func decodeGeoJSONPolygonal(raw json.RawMessage) (orb.MultiPolygon, error) {
	var g struct {
		Type        string
		Coordinates json.RawMessage
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, err
	}
	var polys [][][][2]float64
	switch g.Type {
	case "Polygon":
		var p [][][2]float64
		if err := json.Unmarshal(g.Coordinates, &p); err != nil {
			return nil, err
		}
		polys = [][][][2]float64{p}
	case "MultiPolygon":
		if err := json.Unmarshal(g.Coordinates, &polys); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("geometry type %q, want Polygon or MultiPolygon", g.Type)
	}
	mp := make(orb.MultiPolygon, len(polys))
	for i, p := range polys {
		mp[i] = make(orb.Polygon, len(p))
		for j, r := range p {
			ring := make(orb.Ring, len(r))
			for k, c := range r {
				ring[k] = orb.Point(c)
			}
			mp[i][j] = ring
		}
	}
	return mp, nil
}

// indexItems gives street i the id i+1, as a fresh areas table would.
func indexItems(streets []street) []IndexedPolygon {
	items := make([]IndexedPolygon, len(streets))
	for i, s := range streets {
		items[i] = IndexedPolygon{ID: int64(i + 1), Geom: s.Geom}
	}
	return items
}

// streetsBound is the bounding box of all streets.
func streetsBound(streets []street) orb.Bound {
	b := streets[0].Geom.Bound()
	for _, s := range streets[1:] {
		b = b.Union(s.Geom.Bound())
	}
	return b
}
