package geo

import (
	"fmt"

	"github.com/paulmach/orb"
)

// CheckPolygonal returns g as a MultiPolygon when it is a Polygon or MultiPolygon
// whose rings are closed, have at least 4 points and whose every coordinate passes
// ValidLngLat. Otherwise it returns a *CoordError whose Field is the GeoJSON path of
// the first fault ("type", "coordinates", "coordinates[0][2]", ...).
//
// It checks only what PostGIS cannot report precisely: an unclosed or short ring or a
// NaN makes PostGIS fail with the generic XX000. Topological validity (self-
// intersections, overlapping rings) is left to GEOS via ST_IsValid, its reference.
func CheckPolygonal(g orb.Geometry) (orb.MultiPolygon, error) {
	switch v := g.(type) {
	case orb.Polygon:
		if err := checkPolygon(v, "coordinates"); err != nil {
			return nil, err
		}
		return orb.MultiPolygon{v}, nil
	case orb.MultiPolygon:
		if len(v) == 0 {
			return nil, &CoordError{Field: "coordinates", Reason: "is empty"}
		}
		for i, p := range v {
			if err := checkPolygon(p, fmt.Sprintf("coordinates[%d]", i)); err != nil {
				return nil, err
			}
		}
		return v, nil
	case nil:
		return nil, &CoordError{Field: "geometry", Reason: "is missing"}
	}
	return nil, &CoordError{Field: "type", Reason: fmt.Sprintf("is %s; want Polygon or MultiPolygon", g.GeoJSONType())}
}

func checkPolygon(p orb.Polygon, path string) error {
	if len(p) == 0 {
		return &CoordError{Field: path, Reason: "has no ring"}
	}
	for i, r := range p {
		rp := fmt.Sprintf("%s[%d]", path, i)
		if len(r) < 4 {
			return &CoordError{Field: rp, Reason: fmt.Sprintf("has %d points; a ring needs at least 4", len(r))}
		}
		for j, pt := range r {
			if err := ValidLngLat(pt.Lon(), pt.Lat()); err != nil {
				return &CoordError{Field: fmt.Sprintf("%s[%d]", rp, j), Reason: err.Error()}
			}
		}
		if r[0] != r[len(r)-1] {
			return &CoordError{Field: rp, Reason: "is not closed (first point differs from last)"}
		}
	}
	return nil
}
