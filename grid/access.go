package grid

import (
	"context"
	"fmt"
	"strings"

	"github.com/paulmach/orb"
)

// Caller is the user on whose behalf a store method reads or writes: the role and
// areas decide what is visible and what is masked, and Route names the request in the
// audit log (e.g. "GET /api/v1/households/:id").
type Caller struct {
	User  User
	Route string
}

// Jurisdiction rules, in one place:
//   - An area is visible when its ancestors (district down to itself) overlap the
//     user's areas: the user's areas and everything below them. One GIN-indexed
//     array overlap.
//   - A household or case is visible when its area is. One with no area (outside
//     every polygon) is visible to admin only, who sees everything.
//   - The areas above a user's areas (the street over a grid worker's community) are
//     "context": listed with id, level, name and outline only, so a map can show
//     where the jurisdiction sits; nothing inside them outside the jurisdiction is.
//   - Anything else does not exist for the user: reads answer NotFound, never
//     Forbidden, so ids cannot be probed.

// seesAll reports whether u bypasses the jurisdiction filter.
func seesAll(u User) bool { return u.Role == Admin }

// userAreas is u's area ids, never nil, so SQL gets an empty array rather than NULL.
func userAreas(u User) []int64 {
	if u.AreaIDs == nil {
		return []int64{}
	}
	return u.AreaIDs
}

// where collects SQL conditions and their arguments; each "?" in a condition becomes
// the next "$n" (no condition here uses PostgreSQL's jsonb "?" operator).
type where struct {
	conds []string
	args  []any
}

// add appends a condition with one argument per "?".
func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	i := 0
	for _, r := range cond {
		if r == '?' && i < len(args) {
			w.args = append(w.args, args[i])
			i++
			fmt.Fprintf(&b, "$%d", len(w.args))
			continue
		}
		b.WriteRune(r)
	}
	w.conds = append(w.conds, b.String())
}

// arg appends one argument and returns its placeholder, for clauses outside WHERE.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// sql is the WHERE clause, or "" without conditions.
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// visibleAreaCol adds the condition that the area id in col is inside u's
// jurisdiction; a NULL area passes for admin only.
func (w *where) visibleAreaCol(u User, col string) {
	if seesAll(u) {
		return
	}
	w.add(col+" IN (SELECT id FROM areas WHERE ancestors && ?::bigint[])", userAreas(u))
}

// underArea adds the condition that the area id in col is area or below it.
func (w *where) underArea(col string, area int64) {
	w.add(col+" IN (SELECT id FROM areas WHERE ancestors @> ARRAY[?::bigint])", area)
}

// inBBox adds the condition that the geometry in col intersects b.
func (w *where) inBBox(col string, b orb.Bound) {
	w.add("ST_Intersects("+col+", ST_MakeEnvelope(?, ?, ?, ?, 4326))", b.Min[0], b.Min[1], b.Max[0], b.Max[1])
}

// Page selects a slice of a list ordered by a stable key. Lists page by offset: rows
// are ordered by id (or time, then id), new rows land at the end, so paging through a
// growing list neither skips nor repeats; a deletion while paging can shift a row,
// which Total (COUNT(*) OVER()) lets a client notice.
type Page struct {
	Limit  int // rows per page; 0 means the list's default
	Offset int // rows to skip
}

// MaxLimit caps every page: a page is one answer in memory, and a map asking for more
// than this many features should page or aggregate (H3).
const MaxLimit = 1000

// DefaultLimit is the page size of household and case lists when none is asked.
const DefaultLimit = 100

// normalize applies def to a zero limit and checks the bounds; errors name the query
// parameters "limit" and "offset".
func (p Page) normalize(def int) (Page, error) {
	if p.Limit == 0 {
		p.Limit = def
	}
	if p.Limit < 1 || p.Limit > MaxLimit {
		return p, Errorf(Invalid, "limit", "must be between 1 and %d", MaxLimit)
	}
	if p.Offset < 0 {
		return p, Errorf(Invalid, "offset", "must not be negative")
	}
	return p, nil
}

// sql is the LIMIT/OFFSET clause; the numbers are checked ints, safe to inline, and
// inlining leaves the where's arguments reusable for a recount.
func (p Page) sql() string {
	return fmt.Sprintf(" LIMIT %d OFFSET %d", p.Limit, p.Offset)
}

// recount counts the rows of from (a FROM clause with its alias) matching w. It is
// needed only when a page lies past the end: COUNT(*) OVER() then sees no row.
func (s *Store) recount(ctx context.Context, from string, w *where) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+from+w.sql(), w.args...).Scan(&n); err != nil {
		return 0, dbError("count "+from, err)
	}
	return n, nil
}
