package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

// householdRequest is the body of POST /api/v1/households and PUT
// /api/v1/households/:id.
type householdRequest struct {
	Version  *int     `json:"version"` // PUT: the version last read
	ExtID    string   `json:"ext_id"`
	Address  string   `json:"address"`
	Building string   `json:"building"`
	Unit     string   `json:"unit"`
	Lng      *float64 `json:"lng"`
	Lat      *float64 `json:"lat"`
	Flags    []string `json:"flags"`
	// Persons absent (or null) on PUT leaves the residents unchanged; a list, even
	// empty, is the full new list.
	Persons []personRequest `json:"persons"`
}

type personRequest struct {
	ID            int64    `json:"id"` // absent: a new resident
	Name          string   `json:"name"`
	IDNumber      string   `json:"id_number"`
	Phone         string   `json:"phone"`
	BirthDate     string   `json:"birth_date"` // YYYY-MM-DD
	Sex           string   `json:"sex"`
	Status        string   `json:"status"`
	Vulnerability []string `json:"vulnerability"`
	HealthCode    string   `json:"health_code"`
}

// edit converts the request to the domain's edit; only shapes are checked here
// (required coordinates, date format), the rest by grid.HouseholdEdit.Validate.
func (r householdRequest) edit() (grid.HouseholdEdit, error) {
	if r.Lng == nil {
		return grid.HouseholdEdit{}, grid.Errorf(grid.Invalid, "lng", "is required")
	}
	if r.Lat == nil {
		return grid.HouseholdEdit{}, grid.Errorf(grid.Invalid, "lat", "is required")
	}
	e := grid.HouseholdEdit{
		ExtID: r.ExtID, Address: r.Address, Building: r.Building, Unit: r.Unit,
		Location: orb.Point{*r.Lng, *r.Lat}, Flags: r.Flags,
		ReplacePersons: r.Persons != nil,
	}
	if r.Version != nil {
		e.Version = *r.Version
	}
	for i, p := range r.Persons {
		pe := grid.PersonEdit{
			ID: p.ID, Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone, Sex: p.Sex,
			Status: p.Status, HealthCode: p.HealthCode,
		}
		if p.BirthDate != "" {
			d, err := time.Parse(time.DateOnly, p.BirthDate)
			if err != nil {
				return e, grid.Errorf(grid.Invalid, fmt.Sprintf("persons[%d].birth_date", i), "must be a date YYYY-MM-DD, not %q", p.BirthDate)
			}
			pe.BirthDate = &d
		}
		for _, v := range p.Vulnerability {
			pe.Vulnerability = append(pe.Vulnerability, grid.Vulnerability(v))
		}
		e.Persons = append(e.Persons, pe)
	}
	return e, nil
}

// handleHouseholdList: GET /api/v1/households?bbox=&area=&persons=&limit=&offset= as
// a FeatureCollection of points, residents masked per role (persons=false leaves
// them out).
func (s *Server) handleHouseholdList(c echo.Context) error {
	if err := queryStrict(c, "bbox", "area", "persons", "limit", "offset"); err != nil {
		return err
	}
	var f grid.HouseholdFilter
	var err error
	if f.BBox, err = queryBBox(c, "bbox"); err != nil {
		return err
	}
	if f.Area, err = queryID(c, "area"); err != nil {
		return err
	}
	if f.WithPersons, err = queryBool(c, "persons", true); err != nil {
		return err
	}
	if f.Page, err = queryPage(c); err != nil {
		return err
	}
	page, err := s.cfg.Store.ListHouseholds(c.Request().Context(), callerOf(c), f)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, h := range page.Households {
		fc.Append(householdFeature(h))
	}
	fc.ExtraMembers = pageMembers(page.Page, len(page.Households), page.Total)
	return writeGeoJSON(c, http.StatusOK, fc)
}

// handleHouseholdGet: GET /api/v1/households/:id as a Feature with its residents.
func (s *Server) handleHouseholdGet(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	h, err := s.cfg.Store.GetHousehold(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	return writeGeoJSON(c, http.StatusOK, householdFeature(h))
}

// handleHouseholdCreate: POST /api/v1/households; 201 with the Feature and Location.
func (s *Server) handleHouseholdCreate(c echo.Context) error {
	var req householdRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Version != nil {
		return grid.Errorf(grid.Invalid, "version", "is set by the server on create")
	}
	e, err := req.edit()
	if err != nil {
		return err
	}
	h, err := s.cfg.Store.CreateHousehold(c.Request().Context(), callerOf(c), e)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/v1/households/%d", h.ID))
	return writeGeoJSON(c, http.StatusCreated, householdFeature(h))
}

// handleHouseholdUpdate: PUT /api/v1/households/:id with the version last read; a
// stale version is 409 naming the current one.
func (s *Server) handleHouseholdUpdate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req householdRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Version == nil {
		return grid.Errorf(grid.Invalid, "version", "is required: the version you last read")
	}
	e, err := req.edit()
	if err != nil {
		return err
	}
	h, err := s.cfg.Store.UpdateHousehold(c.Request().Context(), callerOf(c), id, e)
	if err != nil {
		return err
	}
	return writeGeoJSON(c, http.StatusOK, householdFeature(h))
}

// personJSON is a resident as answered: masked fields carry asterisks, a masked
// birth date is null with its year kept in birth_year, and masked lists them.
type personJSON struct {
	ID            int64    `json:"id"`
	Name          string   `json:"name"`
	IDNumber      string   `json:"id_number"`
	Phone         string   `json:"phone"`
	BirthDate     *string  `json:"birth_date"`
	BirthYear     *int     `json:"birth_year"`
	Sex           string   `json:"sex"`
	Status        string   `json:"status"`
	Vulnerability []string `json:"vulnerability"`
	HealthCode    string   `json:"health_code"`
	Version       int      `json:"version"`
	Masked        []string `json:"masked"`
}

func householdFeature(h grid.HouseholdView) *geojson.Feature {
	f := geojson.NewFeature(h.Location)
	f.ID = h.ID
	f.Properties = geojson.Properties{
		"id": h.ID, "area_id": idOrNull(h.AreaID), "ext_id": h.ExtID, "address": h.Address,
		"building": h.Building, "unit": h.Unit, "flags": h.Flags, "version": h.Version,
		"h3_r8": h.H3R8.String(), "h3_r12": cellOrNull(h.H3R12),
	}
	if h.Persons == nil {
		return f
	}
	masked := h.Shown.MaskedFields()
	ps := make([]personJSON, len(h.Persons))
	for i, p := range h.Persons {
		vuln := make([]string, len(p.Vulnerability))
		for j, v := range p.Vulnerability {
			vuln[j] = string(v)
		}
		pj := personJSON{
			ID: p.ID, Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone, Sex: p.Sex, Status: p.Status,
			Vulnerability: vuln, HealthCode: p.HealthCode, Version: p.Version, Masked: masked,
		}
		if p.BirthDate != nil {
			y := p.BirthDate.Year()
			pj.BirthYear = &y
			if h.Shown.BirthDate {
				d := p.BirthDate.Format(time.DateOnly)
				pj.BirthDate = &d
			}
		}
		ps[i] = pj
	}
	f.Properties["persons"] = ps
	return f
}
