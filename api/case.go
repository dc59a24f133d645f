package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

// handleCaseList: GET /api/v1/cases?bbox=&area=&from=&to=&kind=&limit=&offset= as a
// FeatureCollection of points, oldest report first.
func (s *Server) handleCaseList(c echo.Context) error {
	if err := queryStrict(c, "bbox", "area", "from", "to", "kind", "limit", "offset"); err != nil {
		return err
	}
	var f grid.CaseFilter
	var err error
	if f.BBox, err = queryBBox(c, "bbox"); err != nil {
		return err
	}
	if f.Area, err = queryID(c, "area"); err != nil {
		return err
	}
	if f.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	if k := c.QueryParam("kind"); k != "" {
		if f.Kind, err = grid.ParseCaseKind(k); err != nil {
			return err
		}
	}
	if f.Page, err = queryPage(c); err != nil {
		return err
	}
	page, err := s.cfg.Store.ListCases(c.Request().Context(), userOf(c), f)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, x := range page.Cases {
		fc.Append(caseFeature(x))
	}
	fc.ExtraMembers = pageMembers(page.Page, len(page.Cases), page.Total)
	return writeGeoJSON(c, http.StatusOK, fc)
}

func caseFeature(x grid.Case) *geojson.Feature {
	f := geojson.NewFeature(x.Location)
	f.ID = x.ID
	var onset any
	if x.OnsetAt != nil {
		onset = x.OnsetAt.UTC()
	}
	f.Properties = geojson.Properties{
		"id": x.ID, "ext_id": x.ExtID, "kind": x.Kind, "reported_at": x.ReportedAt.UTC(), "onset_at": onset,
		"address": x.Address, "area_id": idOrNull(x.AreaID), "household_id": idOrNull(x.HouseholdID),
		"person_id": idOrNull(x.PersonID), "h3_r8": x.H3R8.String(), "h3_r12": cellOrNull(x.H3R12),
	}
	return f
}
