package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

// handleAreaList: GET /api/v1/areas?level=&parent=&bbox=&limit=&offset= as a
// FeatureCollection.
func (s *Server) handleAreaList(c echo.Context) error {
	if err := queryStrict(c, "level", "parent", "bbox", "limit", "offset"); err != nil {
		return err
	}
	var f grid.AreaFilter
	var err error
	if l := c.QueryParam("level"); l != "" {
		if f.Level, err = grid.ParseLevel(l); err != nil {
			return err
		}
	}
	if f.Parent, err = queryID(c, "parent"); err != nil {
		return err
	}
	if f.BBox, err = queryBBox(c, "bbox"); err != nil {
		return err
	}
	if f.Page, err = queryPage(c); err != nil {
		return err
	}
	page, err := s.cfg.Store.ListAreas(c.Request().Context(), userOf(c), f)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, a := range page.Areas {
		fc.Append(areaFeature(a))
	}
	fc.ExtraMembers = pageMembers(page.Page, len(page.Areas), page.Total)
	return writeGeoJSON(c, http.StatusOK, fc)
}

// handleAreaGet: GET /api/v1/areas/:id as a Feature.
func (s *Server) handleAreaGet(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.cfg.Store.GetArea(c.Request().Context(), userOf(c), id)
	if err != nil {
		return err
	}
	return writeGeoJSON(c, http.StatusOK, areaFeature(a))
}

// areaFeature renders an area; a context area (above the caller's jurisdiction)
// carries its id, parent, level and name only.
func areaFeature(a grid.AreaView) *geojson.Feature {
	f := geojson.NewFeature(a.Geom)
	f.ID = a.ID
	f.Properties = geojson.Properties{
		"id": a.ID, "parent_id": idOrNull(a.ParentID), "level": a.Level, "name": a.Name, "context": a.Context,
	}
	if !a.Context {
		props := a.Props
		if props == nil {
			props = map[string]any{}
		}
		f.Properties["code"] = a.Code
		f.Properties["ancestors"] = a.Ancestors
		f.Properties["props"] = props
	}
	return f
}
