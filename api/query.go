package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
)

// queryStrict refuses query parameters the route does not know, and repeated ones:
// a misspelt filter (?lvl=street) must fail loudly, not silently list everything.
func queryStrict(c echo.Context, known ...string) error {
	for k, vs := range c.QueryParams() {
		if !slices.Contains(known, k) {
			return grid.Errorf(grid.Invalid, k, "is not a query parameter of this route (known: %s)", strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return grid.Errorf(grid.Invalid, k, "is given more than once")
		}
	}
	return nil
}

// queryBBox reads a west,south,east,north box from the query parameter name; nil
// when absent. Errors name the parameter.
func queryBBox(c echo.Context, name string) (*orb.Bound, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	v := make([]float64, len(parts))
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, grid.Errorf(grid.Invalid, name, "must be four numbers west,south,east,north; %q is not a number", p)
		}
		v[i] = f
	}
	b, err := geo.ParseBBox(v)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, name, "%s", coordReason(err))
	}
	return &b, nil
}

// coordReason is the user-facing reason of a geo validation error.
func coordReason(err error) string {
	var ce *geo.CoordError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}

// queryInt reads an integer query parameter, def when absent.
func queryInt(c echo.Context, name string, def int) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, grid.Errorf(grid.Invalid, name, "must be an integer, not %q", s)
	}
	return n, nil
}

// queryID reads a positive id query parameter, 0 when absent.
func queryID(c echo.Context, name string) (int64, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	return parseID(name, s)
}

// pathID reads the positive id path parameter name.
func pathID(c echo.Context, name string) (int64, error) { return parseID(name, c.Param(name)) }

func parseID(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, grid.Errorf(grid.Invalid, name, "must be a positive integer id, not %q", s)
	}
	return n, nil
}

// queryTime reads an RFC 3339 time (with its zone: a bare date would be ambiguous
// between UTC and local time), nil when absent.
func queryTime(c echo.Context, name string) (*time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, name, "must be an RFC 3339 time such as 2022-04-04T00:00:00+08:00, not %q", s)
	}
	return &t, nil
}

// queryBool reads true/false (1/0), def when absent.
func queryBool(c echo.Context, name string, def bool) (bool, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, grid.Errorf(grid.Invalid, name, "must be true or false, not %q", s)
	}
	return b, nil
}

// queryPage reads limit and offset; their bounds are checked by the store.
func queryPage(c echo.Context) (grid.Page, error) {
	limit, err := queryInt(c, "limit", 0)
	if err != nil {
		return grid.Page{}, err
	}
	if c.QueryParam("limit") != "" && limit == 0 {
		return grid.Page{}, grid.Errorf(grid.Invalid, "limit", "must be between 1 and %d", grid.MaxLimit)
	}
	offset, err := queryInt(c, "offset", 0)
	if err != nil {
		return grid.Page{}, err
	}
	return grid.Page{Limit: limit, Offset: offset}, nil
}

// route names the request in the audit log: method and route pattern.
func route(c echo.Context) string { return c.Request().Method + " " + c.Path() }

// callerOf is the authenticated caller with the route, for stores that audit.
func callerOf(c echo.Context) grid.Caller { return grid.Caller{User: userOf(c), Route: route(c)} }

// writeGeoJSON answers with a GeoJSON document (RFC 7946 media type).
func writeGeoJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode geojson: %w", err)
	}
	return c.Blob(status, "application/geo+json", b)
}

// pageMembers are the paging members added to a FeatureCollection: total matching,
// the page asked, and next_offset when more follow.
func pageMembers(p grid.Page, n, total int) map[string]any {
	m := map[string]any{"total": total, "limit": p.Limit, "offset": p.Offset}
	if p.Offset+n < total {
		m["next_offset"] = p.Offset + n
	}
	return m
}

// idOrNull renders 0 as JSON null (no parent, no area).
func idOrNull(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// cellOrNull is an H3 cell as JSON: its hex string, or null for none (a finest cell
// withheld from a restricted reader).
func cellOrNull(c geo.Cell) any {
	if c == 0 {
		return nil
	}
	return c.String()
}
