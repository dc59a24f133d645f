package geo

import (
	"fmt"

	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// Cell is an H3 cell index as stored in PostGIS (bigint); the top bit of a valid
// cell is 0, so the conversion from h3's uint64 is lossless.
type Cell int64

// MaxRes is the finest H3 resolution.
const MaxRes = 15

// CellOf returns the H3 cell at resolution res (0–15) containing p ([lng, lat]).
func CellOf(p orb.Point, res int) (Cell, error) {
	if res < 0 || res > MaxRes {
		return 0, fmt.Errorf("h3 resolution %d out of range 0–%d", res, MaxRes)
	}
	if err := ValidLngLat(p.Lon(), p.Lat()); err != nil {
		return 0, err
	}
	c, err := h3.LatLngToCell(h3.NewLatLng(p.Lat(), p.Lon()), res)
	if err != nil {
		return 0, fmt.Errorf("h3 cell of %v at res %d: %w", p, res, err)
	}
	return Cell(c), nil
}

// Resolution is the cell's H3 resolution.
func (c Cell) Resolution() int { return h3.Cell(c).Resolution() }

// Valid reports whether c is a valid H3 cell index.
func (c Cell) Valid() bool { return h3.Cell(c).IsValid() }

// String is the cell's usual hexadecimal form (e.g. 8831aa5551fffff).
func (c Cell) String() string { return h3.Cell(c).String() }

// ParseCell reads a cell from its hexadecimal form.
func ParseCell(s string) (Cell, error) {
	c := h3.CellFromString(s)
	if !c.IsValid() {
		return 0, fmt.Errorf("%q is not an H3 cell", s)
	}
	return Cell(c), nil
}

// Parent is the cell's ancestor at the coarser resolution res.
func (c Cell) Parent(res int) (Cell, error) {
	p, err := h3.Cell(c).Parent(res)
	if err != nil {
		return 0, fmt.Errorf("parent of %s at res %d: %w", c, res, err)
	}
	return Cell(p), nil
}

// Center is the cell's centre as [lng, lat].
func (c Cell) Center() (orb.Point, error) {
	ll, err := h3.Cell(c).LatLng()
	if err != nil {
		return orb.Point{}, fmt.Errorf("centre of %s: %w", c, err)
	}
	return orb.Point{ll.Lng, ll.Lat}, nil
}

// Polygon is the cell's boundary as a closed counter-clockwise ring.
func (c Cell) Polygon() (orb.Polygon, error) {
	b, err := h3.Cell(c).Boundary()
	if err != nil {
		return nil, fmt.Errorf("boundary of %s: %w", c, err)
	}
	ring := make(orb.Ring, 0, len(b)+1)
	for _, ll := range b {
		ring = append(ring, orb.Point{ll.Lng, ll.Lat})
	}
	ring = append(ring, ring[0])
	return orb.Polygon{ring}, nil
}

// Disk returns the cells within k steps of c, c included.
func (c Cell) Disk(k int) ([]Cell, error) {
	cs, err := h3.Cell(c).GridDisk(k)
	if err != nil {
		return nil, fmt.Errorf("grid disk %s k=%d: %w", c, k, err)
	}
	out := make([]Cell, len(cs))
	for i, x := range cs {
		out[i] = Cell(x)
	}
	return out, nil
}

// PolygonCells returns the H3 cells at resolution res whose centres lie inside mp
// ([lng, lat] degrees; holes respected), each once, in h3's order. Cells are chosen by
// centre, so the union of the cells follows mp's outline to within half a cell.
func PolygonCells(mp orb.MultiPolygon, res int) ([]Cell, error) {
	if res < 0 || res > MaxRes {
		return nil, fmt.Errorf("h3 resolution %d out of range 0–%d", res, MaxRes)
	}
	seen := map[Cell]bool{}
	var out []Cell
	for i, poly := range mp {
		if len(poly) == 0 {
			continue
		}
		gp := h3.GeoPolygon{GeoLoop: loopOf(poly[0])}
		for _, hole := range poly[1:] {
			gp.Holes = append(gp.Holes, loopOf(hole))
		}
		cs, err := h3.PolygonToCells(gp, res)
		if err != nil {
			return nil, fmt.Errorf("h3 cells of polygon %d at res %d: %w", i, res, err)
		}
		for _, c := range cs {
			if !seen[Cell(c)] {
				seen[Cell(c)] = true
				out = append(out, Cell(c))
			}
		}
	}
	return out, nil
}

// loopOf converts a ring to h3's loop, dropping the closing point h3 does not want.
func loopOf(r orb.Ring) h3.GeoLoop {
	n := len(r)
	if n > 1 && r[0] == r[n-1] {
		n--
	}
	loop := make(h3.GeoLoop, n)
	for i := range n {
		loop[i] = h3.NewLatLng(r[i].Lat(), r[i].Lon())
	}
	return loop
}
