package track

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/paulmach/orb"
)

// Ping is one position fix of one person.
type Ping struct {
	// Time is when the fix was taken, in UTC.
	Time time.Time
	// Point is where, as [lng, lat] in WGS84 degrees.
	Point orb.Point
}

// Trajectory is everything known about where one person was: Pings ordered by Time
// (non-decreasing; equal times may repeat).
type Trajectory struct {
	// Person identifies the person; for GeoLife it is the user folder name ("003").
	Person string
	Pings  []Ping
}

// Between returns the sub-slice of pings (ordered by time) with from ≤ Time ≤ to; a
// zero from or to leaves that side open. It does not copy.
func Between(pings []Ping, from, to time.Time) []Ping {
	lo, hi := 0, len(pings)
	if !from.IsZero() {
		lo, _ = slices.BinarySearchFunc(pings, from, func(p Ping, t time.Time) int { return p.Time.Compare(t) })
	}
	if !to.IsZero() {
		// The first ping strictly after to.
		hi, _ = slices.BinarySearchFunc(pings, to, func(p Ping, t time.Time) int {
			if p.Time.After(t) {
				return 1
			}
			return -1
		})
	}
	if hi < lo {
		return pings[:0]
	}
	return pings[lo:hi]
}

// SortPings orders pings by time; pings with equal times keep their order, so the
// result is the same on every run.
func SortPings(pings []Ping) {
	slices.SortStableFunc(pings, func(a, b Ping) int { return a.Time.Compare(b.Time) })
}

// CheckOrder returns an error naming the first ping whose time is before its
// predecessor's, or nil when pings are ordered by time.
func CheckOrder(pings []Ping) error {
	for i := 1; i < len(pings); i++ {
		if pings[i].Time.Before(pings[i-1].Time) {
			return fmt.Errorf("ping %d at %s is before ping %d at %s", i, pings[i].Time.Format(time.RFC3339Nano), i-1, pings[i-1].Time.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// sortTrajectories orders trajectories by person id, the order every reader returns.
func sortTrajectories(ts []Trajectory) {
	slices.SortFunc(ts, func(a, b Trajectory) int { return cmp.Compare(a.Person, b.Person) })
}

// ParseError is a line of an input file that cannot be read. File is the name the
// caller gave the reader (a path for the GeoLife walker), Line counts from 1 (0 when
// the format has no useful line, as in GeoJSON, where Field is the JSON path of the
// value instead), and Field names the column or check that failed (time, lat, lng,
// order, header, features[3].properties.times[7], ...).
type ParseError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *ParseError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", where, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", where, e.Field, e.Err)
}

// Unwrap gives the underlying cause (a strconv, time or geo error).
func (e *ParseError) Unwrap() error { return e.Err }
