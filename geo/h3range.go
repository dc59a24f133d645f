package geo

import "fmt"

// H3 index layout (h3geo.org/docs/core-library/h3Indexing): the resolution sits in
// bits 52–55 and digit i (1–15) in bits 3·(15−i) … 3·(15−i)+2, unused digits set to 7.
const (
	h3ResShift  = 52
	h3ResMask   = int64(15) << h3ResShift
	h3DigitBits = 3
)

// DescendantRange returns the smallest and largest H3 index that a descendant of c at
// the finer (or equal) resolution res can have: every cell at res inside c lies in
// [lo, hi] in integer order, and every valid res cell in that range is inside c. So a
// B-tree on cells stored at res finds the descendants of a coarser cell with one
// range scan (the range also holds index values that are not cells, e.g. a
// pentagon's deleted sub-sequence, which no stored cell can take). Errors: res
// coarser than c's resolution or beyond MaxRes.
func (c Cell) DescendantRange(res int) (lo, hi Cell, err error) {
	r := c.Resolution()
	if res < r || res > MaxRes {
		return 0, 0, fmt.Errorf("descendants of %s (res %d) at res %d: want %d–%d", c, r, res, r, MaxRes)
	}
	base := (int64(c) &^ h3ResMask) | int64(res)<<h3ResShift
	// Digits r+1 … res run from 0 to 6 (7 means unused); the finer ones stay 7.
	var free, six int64
	for d := r + 1; d <= res; d++ {
		shift := uint(h3DigitBits * (MaxRes - d))
		free |= int64(7) << shift
		six |= int64(6) << shift
	}
	return Cell(base &^ free), Cell(base&^free | six), nil
}
