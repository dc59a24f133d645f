package geo

import (
	"errors"
	"math"
	"testing"

	"github.com/paulmach/orb"
)

func TestCheckPolygonal(t *testing.T) {
	square := orb.Ring{{121, 31}, {121.1, 31}, {121.1, 31.1}, {121, 31.1}, {121, 31}}
	tests := []struct {
		name      string
		g         orb.Geometry
		wantField string // empty: valid
	}{
		{"polygon", orb.Polygon{square}, ""},
		{"multipolygon", orb.MultiPolygon{{square}, {square}}, ""},
		{"point", orb.Point{121, 31}, "type"},
		{"line", orb.LineString{{121, 31}, {122, 31}}, "type"},
		{"nil", nil, "geometry"},
		{"empty multipolygon", orb.MultiPolygon{}, "coordinates"},
		{"polygon without ring", orb.Polygon{}, "coordinates"},
		{"short ring", orb.Polygon{{{121, 31}, {122, 31}, {121, 31}}}, "coordinates[0]"},
		{"open ring", orb.Polygon{{{121, 31}, {122, 31}, {122, 32}, {121, 32}}}, "coordinates[0]"},
		{"lng out of range", orb.MultiPolygon{{square}, {{{121, 31}, {200, 31}, {121, 32}, {121, 31}}}}, "coordinates[1][0][1]"},
		{"lat NaN", orb.Polygon{square, {{121, 31}, {121, math.NaN()}, {121, 32}, {121, 31}}}, "coordinates[1][1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mp, err := CheckPolygonal(tc.g)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if len(mp) == 0 {
					t.Fatal("no multipolygon returned")
				}
				return
			}
			var ce *CoordError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *CoordError", err)
			}
			if ce.Field != tc.wantField {
				t.Fatalf("field %q (%v), want %q", ce.Field, err, tc.wantField)
			}
		})
	}
}
