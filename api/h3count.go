package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

// handleH3Counts: GET /api/v1/h3?res=&bbox=&metric=&from=&to= as a FeatureCollection
// of cell polygons with properties {cell, count}, for heat maps; members res, metric,
// total and suppressed.
func (s *Server) handleH3Counts(c echo.Context) error {
	if err := queryStrict(c, "res", "bbox", "metric", "from", "to"); err != nil {
		return err
	}
	var q grid.H3Query
	var err error
	if c.QueryParam("res") == "" {
		return grid.Errorf(grid.Invalid, "res", "is required (%d to %d)", grid.MinH3Res, grid.MaxH3Res)
	}
	if q.Res, err = queryInt(c, "res", 0); err != nil {
		return err
	}
	bbox, err := queryBBox(c, "bbox")
	if err != nil {
		return err
	}
	if bbox == nil {
		return grid.Errorf(grid.Invalid, "bbox", "is required: west,south,east,north")
	}
	q.BBox = *bbox
	q.Metric = grid.MetricHouseholds
	if m := c.QueryParam("metric"); m != "" {
		if q.Metric, err = grid.ParseH3Metric(m); err != nil {
			return err
		}
	}
	if q.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if q.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	ans, err := s.cfg.Store.H3Counts(c.Request().Context(), userOf(c), q)
	if err != nil {
		return err
	}
	counts := ans.Cells
	fc := geojson.NewFeatureCollection()
	total := 0
	for _, n := range counts {
		poly, err := n.Cell.Polygon()
		if err != nil {
			return err
		}
		f := geojson.NewFeature(poly)
		f.ID = n.Cell.String()
		f.Properties = geojson.Properties{"cell": n.Cell.String(), "count": n.Count}
		fc.Append(f)
		total += n.Count
	}
	// res is the resolution served: coarser than asked for a role without personal
	// access, which also sees how many cells were withheld (grid.LocationPrivacy).
	fc.ExtraMembers = map[string]any{"res": ans.Res, "metric": q.Metric, "total": total, "suppressed": ans.Suppressed}
	return writeGeoJSON(c, http.StatusOK, fc)
}
