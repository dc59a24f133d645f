package geo

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"
)

// EarthRadiusM is the mean Earth radius in metres (IUGG), the radius every distance
// of the project uses so that independent implementations agree to the centimetre.
const EarthRadiusM = 6371008.8

// DistanceM is the great-circle (haversine) distance in metres between two [lng, lat]
// points.
func DistanceM(a, b orb.Point) float64 {
	lat1, lat2 := a.Lat()*math.Pi/180, b.Lat()*math.Pi/180
	dLat := lat2 - lat1
	dLng := (b.Lon() - a.Lon()) * math.Pi / 180
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// ValidLngLat reports, as an error naming the coordinate, a longitude outside
// [-180, 180] or a latitude outside [-90, 90] or either not a finite number.
func ValidLngLat(lng, lat float64) error {
	switch {
	case math.IsNaN(lng) || math.IsInf(lng, 0):
		return &CoordError{Field: "lng", Reason: "is not a finite number"}
	case math.IsNaN(lat) || math.IsInf(lat, 0):
		return &CoordError{Field: "lat", Reason: "is not a finite number"}
	case lng < -180 || lng > 180:
		return &CoordError{Field: "lng", Reason: fmt.Sprintf("%g is outside [-180, 180]", lng)}
	case lat < -90 || lat > 90:
		return &CoordError{Field: "lat", Reason: fmt.Sprintf("%g is outside [-90, 90]", lat)}
	}
	return nil
}

// CoordError is an invalid coordinate or geometry; Field names what is wrong
// (lng, lat, or a path such as coordinates[0][3]).
type CoordError struct {
	Field  string
	Reason string
}

func (e *CoordError) Error() string { return e.Field + " " + e.Reason }

// ParseBBox checks a [west, south, east, north] box.
func ParseBBox(v []float64) (orb.Bound, error) {
	if len(v) != 4 {
		return orb.Bound{}, &CoordError{Field: "bbox", Reason: fmt.Sprintf("needs 4 numbers west,south,east,north; got %d", len(v))}
	}
	for i, x := range v {
		var err error
		if i%2 == 0 {
			err = ValidLngLat(x, 0)
		} else {
			err = ValidLngLat(0, x)
		}
		if err != nil {
			return orb.Bound{}, &CoordError{Field: "bbox", Reason: err.Error()}
		}
	}
	if v[0] > v[2] || v[1] > v[3] {
		return orb.Bound{}, &CoordError{Field: "bbox", Reason: "west must be ≤ east and south ≤ north"}
	}
	return orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
}
