package route

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Instance is a planar instance in the simple TSPLIB-like format of
// shared/data/tsplib: a first line with the node count N, then N lines `id x y`.
// Node i of the solvers is the i-th line; IDs[i] is the id the file gave it.
type Instance struct {
	IDs    []int
	Points [][2]float64
}

// ParseError is a malformed instance or tour file; Line is 1-based (0 when the
// problem is the file as a whole, such as a missing node).
type ParseError struct {
	Line int
	Msg  string
}

// Error is "line N: what is wrong", or just what is wrong for the whole file.
func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// maxInstanceN bounds the declared node count, so a corrupt header cannot make the
// reader allocate gigabytes before it notices the lines are missing.
const maxInstanceN = 1_000_000

// ReadInstance reads an instance: the count, then exactly that many `id x y` lines
// (blank lines and a final `EOF` line are ignored). ids must be distinct integers and
// coordinates finite numbers. Errors are *ParseError naming the line.
func ReadInstance(r io.Reader) (*Instance, error) {
	sc := bufio.NewScanner(r)
	line := 0
	n := -1
	in := &Instance{}
	seen := map[int]int{}
	done := false
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if done {
			if len(f) == 1 && f[0] == "EOF" {
				continue
			}
			return nil, &ParseError{line, fmt.Sprintf("more than the %d nodes declared on the first line", n)}
		}
		if n < 0 {
			v, err := strconv.Atoi(f[0])
			if len(f) != 1 || err != nil || v < 1 || v > maxInstanceN {
				return nil, &ParseError{line, fmt.Sprintf("want the node count (1…%d), got %q", maxInstanceN, sc.Text())}
			}
			n = v
			in.IDs = make([]int, 0, n)
			in.Points = make([][2]float64, 0, n)
			continue
		}
		if len(f) != 3 {
			return nil, &ParseError{line, fmt.Sprintf("want `id x y`, got %d fields", len(f))}
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, &ParseError{line, fmt.Sprintf("id %q is not an integer", f[0])}
		}
		if prev, dup := seen[id]; dup {
			return nil, &ParseError{line, fmt.Sprintf("id %d already used on line %d", id, prev)}
		}
		seen[id] = line
		var p [2]float64
		for k, name := range [2]string{"x", "y"} {
			v, err := strconv.ParseFloat(f[1+k], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &ParseError{line, fmt.Sprintf("%s %q is not a finite number", name, f[1+k])}
			}
			p[k] = v
		}
		in.IDs = append(in.IDs, id)
		in.Points = append(in.Points, p)
		done = len(in.IDs) == n
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{line, err.Error()}
	}
	if n < 0 {
		return nil, &ParseError{0, "empty instance: no node count"}
	}
	if len(in.IDs) != n {
		return nil, &ParseError{0, fmt.Sprintf("the first line declares %d nodes, the file has %d", n, len(in.IDs))}
	}
	return in, nil
}

// Dist is the instance's TSPLIB EUC_2D distance (Euclidean, rounded to the nearest
// integer).
func (in *Instance) Dist() Dist { return EuclidRounded(in.Points) }

// TourLength is the length of the closed tour of node indexes under EUC_2D, exact
// in integers as TSPLIB states optima.
func (in *Instance) TourLength(tour []int) int {
	d := in.Dist()
	var sum int
	for i := range tour {
		sum += int(d(tour[i], tour[(i+1)%len(tour)]))
	}
	return sum
}

// ReadTour reads an optimal-tour file for in: node ids separated by white space
// (one a line in shared/data/tsplib), optionally ended by `-1` or `EOF`. It returns
// node indexes and checks the ids form a permutation of the instance's. Errors are
// *ParseError naming the line.
func ReadTour(r io.Reader, in *Instance) ([]int, error) {
	index := make(map[int]int, len(in.IDs))
	for i, id := range in.IDs {
		index[id] = i
	}
	sc := bufio.NewScanner(r)
	line := 0
	tour := make([]int, 0, len(in.IDs))
	seen := make(map[int]int, len(in.IDs))
scan:
	for sc.Scan() {
		line++
		for _, tok := range strings.Fields(sc.Text()) {
			if tok == "-1" || tok == "EOF" {
				break scan
			}
			id, err := strconv.Atoi(tok)
			if err != nil {
				return nil, &ParseError{line, fmt.Sprintf("id %q is not an integer", tok)}
			}
			i, ok := index[id]
			if !ok {
				return nil, &ParseError{line, fmt.Sprintf("id %d is not in the instance", id)}
			}
			if prev, dup := seen[id]; dup {
				return nil, &ParseError{line, fmt.Sprintf("id %d already visited on line %d", id, prev)}
			}
			seen[id] = line
			tour = append(tour, i)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{line, err.Error()}
	}
	if len(tour) != len(in.IDs) {
		return nil, &ParseError{0, fmt.Sprintf("tour visits %d of the %d nodes", len(tour), len(in.IDs))}
	}
	return tour, nil
}
