package api

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
)

// maxZoneBody caps the body of every zone route. A hand-drawn zone has tens to a few
// thousand vertices (100 KB at most); 5 MB leaves room for detailed MultiPolygons
// while a runaway upload is refused before it is read, instead of at the API's 64 MB.
const maxZoneBody = 5 << 20

// zoneRoutes registers the zone policy and the zones on the authenticated group.
// Everyone authenticated reads the zones reaching into their jurisdiction; drawing,
// proposing and deciding are for grid.ZoneWriters (command staff and admin), the
// policy for admin.
func (s *Server) zoneRoutes(g *echo.Group) {
	limit := bodyLimit(maxZoneBody)
	writers := requireRole(grid.ZoneWriters()...)
	g.GET("/zone-policy", s.handleZonePolicyGet)
	g.PUT("/zone-policy", s.handleZonePolicyPut, requireRole(grid.ZonePolicyWriters()...), limit)
	g.GET("/zones", s.handleZoneList)
	g.POST("/zones", s.handleZoneCreate, writers, limit)
	g.POST("/zones/propose", s.handleZonePropose, writers, limit)
	g.GET("/zones/dashboard", s.handleZoneDashboard)
	g.GET("/zones/:id", s.handleZoneGet)
	g.PUT("/zones/:id", s.handleZoneUpdate, writers, limit)
	g.DELETE("/zones/:id", s.handleZoneDelete, writers, limit)
	g.GET("/zones/:id/versions", s.handleZoneVersions)
	g.GET("/zones/:id/households", s.handleZoneHouseholds)
	g.GET("/zones/:id/summary", s.handleZoneSummary)
	for _, a := range []string{grid.ZoneAccept, grid.ZoneReject, grid.ZoneDowngrade, grid.ZoneLift} {
		g.POST("/zones/:id/"+a, s.handleZoneDecision(a), writers, limit)
	}
}

// bodyLimit refuses bodies over n bytes with 413: at once when Content-Length says
// so, else when reading passes n (http.MaxBytesReader, which bindJSON reports as
// 413), so nothing is written either way.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d MB", n>>20))
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			return next(c)
		}
	}
}

// zonePolicyJSON is the zone policy as answered and as PUT: the version it is (or,
// on PUT, the version it edits) and the policy.
type zonePolicyJSON struct {
	Version   *int             `json:"version"`
	CreatedBy *int64           `json:"created_by,omitempty"`
	CreatedAt *time.Time       `json:"created_at,omitempty"`
	Policy    *grid.ZonePolicy `json:"policy"`
}

func toZonePolicyJSON(p grid.StoredZonePolicy) zonePolicyJSON {
	at := p.CreatedAt.UTC()
	out := zonePolicyJSON{Version: &p.Version, CreatedAt: &at, Policy: &p.Policy}
	if p.CreatedBy != 0 {
		out.CreatedBy = &p.CreatedBy
	}
	return out
}

// handleZonePolicyGet: GET /api/v1/zone-policy, the current policy.
func (s *Server) handleZonePolicyGet(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	p, err := s.cfg.Store.CurrentZonePolicy(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toZonePolicyJSON(p))
}

// requirePolicyEdit checks a policy PUT body {version, policy}: both are required,
// the version being the one the editor read (a stale one is the store's 409).
func requirePolicyEdit[P any](version *int, policy *P) error {
	if version == nil {
		return grid.Errorf(grid.Invalid, "version", "is required: the policy version you edit")
	}
	if policy == nil {
		return grid.Errorf(grid.Invalid, "policy", "is required")
	}
	return nil
}

// handleZonePolicyPut: PUT /api/v1/zone-policy {version, policy}, admin only; the
// whole policy is replaced by a new version (409 naming the current one when
// version is stale).
func (s *Server) handleZonePolicyPut(c echo.Context) error {
	var req zonePolicyJSON
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := requirePolicyEdit(req.Version, req.Policy); err != nil {
		return err
	}
	p, err := s.cfg.Store.UpdateZonePolicy(c.Request().Context(), callerOf(c), *req.Version, *req.Policy)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toZonePolicyJSON(p))
}

// zoneFeature renders a zone; its id is the zone id. Enforced zones carry their
// lifting status: days since the last case inside and the day they become eligible.
func zoneFeature(z grid.Zone) *geojson.Feature {
	f := geojson.NewFeature(z.Geom)
	f.ID = z.ID
	f.Properties = geojson.Properties{
		"id": z.ID, "kind": z.Kind, "status": z.Status, "source": z.Source, "version": z.Version,
		"area_id": idOrNull(z.AreaID), "policy_version": idOrNull(int64(z.PolicyVersion)), "case_ids": z.CaseIDs,
		"escalation": nullIfEmpty(z.Escalation), "reason": z.Reason, "created_by": idOrNull(z.CreatedBy),
		"created_at": z.CreatedAt.UTC(), "updated_at": z.UpdatedAt.UTC(), "activated_at": utcOrNil(z.ActivatedAt),
		"lifted_at": utcOrNil(z.LiftedAt), "lifted_by": idOrNull(z.LiftedBy),
	}
	if z.Repaired != "" {
		f.Properties["repaired"] = z.Repaired
	}
	if l := z.Lift; l != nil {
		var days any
		if l.DaysSinceLastCase != nil {
			days = *l.DaysSinceLastCase
		}
		f.Properties["last_case_at"] = utcOrNil(l.LastCaseAt)
		f.Properties["days_since_last_case"] = days
		f.Properties["eligible_to_lift_on"] = l.EligibleOn.Format(time.DateOnly)
		f.Properties["lift_conditions_met"] = l.ConditionsMet
		f.Properties["lift_waiting_for"] = l.Waiting
		f.Properties["lift_negative_round_id"] = idOrNull(l.NegativeRoundID)
		f.Properties["lift_policy_version"] = l.PolicyVersion
	}
	return f
}

func utcOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// parseZoneGeometry reads a GeoJSON geometry member: nil for absent or null.
func parseZoneGeometry(raw json.RawMessage) (orb.Geometry, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	g, err := geojson.UnmarshalGeometry(raw)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, "geometry", "is not a GeoJSON geometry: %v", err)
	}
	if g.Coordinates == nil {
		return nil, grid.Errorf(grid.Invalid, "geometry", "must be a Polygon or MultiPolygon, not %s", g.Type)
	}
	return g.Coordinates, nil
}

// zoneCreateRequest is the body of POST /api/v1/zones.
type zoneCreateRequest struct {
	Kind     string          `json:"kind"`
	Geometry json.RawMessage `json:"geometry"`
	Reason   string          `json:"reason"`
	Status   string          `json:"status"` // "" or active; proposed for a draft
}

// handleZoneCreate: POST /api/v1/zones; 201 with the zone as a Feature and Location.
func (s *Server) handleZoneCreate(c echo.Context) error {
	var req zoneCreateRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	g, err := parseZoneGeometry(req.Geometry)
	if err != nil {
		return err
	}
	z, err := s.cfg.Store.CreateZone(c.Request().Context(), callerOf(c), grid.ZoneDraft{
		Kind: req.Kind, Geometry: g, Reason: req.Reason, Status: req.Status})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/v1/zones/%d", z.ID))
	return writeGeoJSON(c, http.StatusCreated, zoneFeature(z))
}

// zoneUpdateRequest is the body of PUT /api/v1/zones/:id; absent fields are kept.
type zoneUpdateRequest struct {
	Version  *int            `json:"version"`
	Kind     *string         `json:"kind"`
	Geometry json.RawMessage `json:"geometry"`
	Status   *string         `json:"status"`
	Reason   string          `json:"reason"`
	Force    bool            `json:"force"`
}

// handleZoneUpdate: PUT /api/v1/zones/:id with the version edited; a stale one is
// 409 naming the current version.
func (s *Server) handleZoneUpdate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req zoneUpdateRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Version == nil {
		return grid.Errorf(grid.Invalid, "version", "is required: the version you last read")
	}
	g, err := parseZoneGeometry(req.Geometry)
	if err != nil {
		return err
	}
	z, err := s.cfg.Store.UpdateZone(c.Request().Context(), callerOf(c), id, grid.ZoneEdit{
		Version: *req.Version, Kind: req.Kind, Geometry: g, Status: req.Status, Reason: req.Reason, Force: req.Force})
	if err != nil {
		return err
	}
	return writeGeoJSON(c, http.StatusOK, zoneFeature(z))
}

// zoneDecisionRequest is the optional body of POST /api/v1/zones/:id/{accept,...}.
type zoneDecisionRequest struct {
	Version int    `json:"version"`
	Reason  string `json:"reason"`
	Force   bool   `json:"force"`
}

// handleZoneDecision: POST /api/v1/zones/:id/{accept,reject,downgrade,lift}
// {version, reason, force}; the body may be omitted to accept the current version.
func (s *Server) handleZoneDecision(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		var req zoneDecisionRequest
		if c.Request().ContentLength != 0 {
			if err := bindJSON(c, &req); err != nil {
				return err
			}
		}
		z, err := s.cfg.Store.DecideZone(c.Request().Context(), callerOf(c), id, grid.ZoneDecision{
			Action: action, Version: req.Version, Reason: req.Reason, Force: req.Force})
		if err != nil {
			return err
		}
		return writeGeoJSON(c, http.StatusOK, zoneFeature(z))
	}
}

// handleZoneDelete: DELETE /api/v1/zones/:id?version=&reason=&force= closes the zone
// and keeps it with its history: a proposal is rejected, an enforced zone lifted
// (under the lifting conditions unless force, which needs a reason).
func (s *Server) handleZoneDelete(c echo.Context) error {
	if err := queryStrict(c, "version", "reason", "force"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	version, err := queryInt(c, "version", 0)
	if err != nil {
		return err
	}
	force, err := queryBool(c, "force", false)
	if err != nil {
		return err
	}
	z, err := s.cfg.Store.DeleteZone(c.Request().Context(), callerOf(c), id, version, c.QueryParam("reason"), force)
	if err != nil {
		return err
	}
	return writeGeoJSON(c, http.StatusOK, zoneFeature(z))
}

// handleZoneGet: GET /api/v1/zones/:id as a Feature.
func (s *Server) handleZoneGet(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	z, err := s.cfg.Store.GetZone(c.Request().Context(), userOf(c), id)
	if err != nil {
		return err
	}
	return writeGeoJSON(c, http.StatusOK, zoneFeature(z))
}

// handleZoneList: GET /api/v1/zones?bbox=&status=&kind=&limit=&offset=; status and
// kind take comma-separated lists (status=active,proposed).
func (s *Server) handleZoneList(c echo.Context) error {
	if err := queryStrict(c, "bbox", "status", "kind", "limit", "offset"); err != nil {
		return err
	}
	var f grid.ZoneFilter
	var err error
	if f.BBox, err = queryBBox(c, "bbox"); err != nil {
		return err
	}
	for _, v := range queryList(c, "status") {
		st, err := grid.ParseZoneStatus("status", v)
		if err != nil {
			return err
		}
		f.Statuses = append(f.Statuses, st)
	}
	for _, v := range queryList(c, "kind") {
		k, err := grid.ParseZoneKind(v)
		if err != nil {
			return err
		}
		f.Kinds = append(f.Kinds, k)
	}
	if f.Page, err = queryPage(c); err != nil {
		return err
	}
	page, err := s.cfg.Store.ListZones(c.Request().Context(), userOf(c), f)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, z := range page.Zones {
		fc.Append(zoneFeature(z))
	}
	fc.ExtraMembers = pageMembers(page.Page, len(page.Zones), page.Total)
	return writeGeoJSON(c, http.StatusOK, fc)
}

// queryList splits a comma-separated query parameter, dropping empty items.
func queryList(c echo.Context, name string) []string {
	var out []string
	for _, v := range strings.Split(c.QueryParam(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// zoneProposeRequest is the body of POST /api/v1/zones/propose.
type zoneProposeRequest struct {
	BBox    []float64 `json:"bbox"` // [west, south, east, north]
	AreaIDs []int64   `json:"area_ids"`
	CaseIDs []int64   `json:"case_ids"`
	From    string    `json:"from"` // RFC 3339
	To      string    `json:"to"`
}

// handleZonePropose: POST /api/v1/zones/propose computes zones from the selected
// cases under the current policy and answers the saved proposals as a
// FeatureCollection, with policy_version, cases, cells and dropped members.
func (s *Server) handleZonePropose(c echo.Context) error {
	var req zoneProposeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	sel := grid.ZoneSelection{AreaIDs: req.AreaIDs, CaseIDs: req.CaseIDs}
	if req.BBox != nil {
		b, err := geo.ParseBBox(req.BBox)
		if err != nil {
			return grid.Errorf(grid.Invalid, "bbox", "%s", coordReason(err))
		}
		sel.BBox = &b
	}
	for _, t := range []struct {
		name string
		s    string
		dst  **time.Time
	}{{"from", req.From, &sel.From}, {"to", req.To, &sel.To}} {
		if t.s == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.s)
		if err != nil {
			return grid.Errorf(grid.Invalid, t.name, "must be an RFC 3339 time such as 2022-04-04T00:00:00+08:00, not %q", t.s)
		}
		*t.dst = &v
	}
	p, err := s.cfg.Store.ProposeZones(c.Request().Context(), callerOf(c), sel)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, z := range p.Zones {
		fc.Append(zoneFeature(z))
	}
	fc.ExtraMembers = map[string]any{"policy_version": p.PolicyVersion, "cases": p.Cases, "cells": p.Cells, "dropped": p.Dropped}
	return writeGeoJSON(c, http.StatusOK, fc)
}

// handleZoneVersions: GET /api/v1/zones/:id/versions, every version oldest first as
// a FeatureCollection: geometry, kind, status, who, when, why.
func (s *Server) handleZoneVersions(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	vs, err := s.cfg.Store.ZoneVersions(c.Request().Context(), userOf(c), id)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, v := range vs {
		f := geojson.NewFeature(v.Geom)
		f.Properties = geojson.Properties{
			"zone_id": v.ZoneID, "version": v.Version, "action": v.Action, "kind": v.Kind, "status": v.Status,
			"changed_by": idOrNull(v.ChangedBy), "changed_by_name": v.ChangedByName, "changed_at": v.ChangedAt.UTC(),
			"reason": v.Reason, "repaired": v.Repaired, "forced": v.Forced,
		}
		fc.Append(f)
	}
	return writeGeoJSON(c, http.StatusOK, fc)
}

// handleZoneHouseholds: GET /api/v1/zones/:id/households?persons=&limit=&offset=,
// the households inside as the household list answers them (masked, audited).
func (s *Server) handleZoneHouseholds(c echo.Context) error {
	if err := queryStrict(c, "persons", "limit", "offset"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	withPersons, err := queryBool(c, "persons", true)
	if err != nil {
		return err
	}
	page, err := queryPage(c)
	if err != nil {
		return err
	}
	hp, err := s.cfg.Store.ListZoneHouseholds(c.Request().Context(), callerOf(c), id, withPersons, page)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, h := range hp.Households {
		fc.Append(householdFeature(h))
	}
	fc.ExtraMembers = pageMembers(hp.Page, len(hp.Households), hp.Total)
	return writeGeoJSON(c, http.StatusOK, fc)
}

// insidePersonJSON is a vulnerable resident in a zone summary.
type insidePersonJSON struct {
	personJSON
	HouseholdID int64   `json:"household_id"`
	Address     string  `json:"address"`
	Building    string  `json:"building"`
	Unit        string  `json:"unit"`
	AreaID      any     `json:"area_id"`
	Lng         float64 `json:"lng"`
	Lat         float64 `json:"lat"`
}

// handleZoneSummary: GET /api/v1/zones/:id/summary?format=json|csv. JSON: counts by
// person status and vulnerability, the vulnerable listed first; CSV: everyone inside,
// the vulnerable first, one row per person (masked per role, audited).
func (s *Server) handleZoneSummary(c echo.Context) error {
	if err := queryStrict(c, "format"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	switch c.QueryParam("format") {
	case "", "json":
	case "csv":
		return s.zonePersonsCSV(c, id)
	default:
		return grid.Errorf(grid.Invalid, "format", "must be json or csv")
	}
	sum, err := s.cfg.Store.ZoneSummary(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	vuln := make([]insidePersonJSON, len(sum.Vulnerable))
	for i, p := range sum.Vulnerable {
		vuln[i] = insidePerson(p, sum.Shown)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"zone_id": sum.ZoneID, "households": sum.Households, "persons": sum.Persons,
		"by_status": sum.ByStatus, "by_vulnerability": sum.ByVulnerability,
		"vulnerable": vuln, "vulnerable_total": sum.VulnerableTotal,
		"vulnerable_first": grid.VulnerablePriority(), "masked": sum.Shown.MaskedFields(),
	})
}

func insidePerson(p grid.PersonInside, shown grid.MaskPolicy) insidePersonJSON {
	h := grid.HouseholdView{Household: grid.Household{ID: p.HouseholdID, Persons: []grid.Person{p.Person}}, Shown: shown}
	pj := householdFeature(h).Properties["persons"].([]personJSON)[0]
	return insidePersonJSON{personJSON: pj, HouseholdID: p.HouseholdID, Address: p.Address, Building: p.Building,
		Unit: p.Unit, AreaID: idOrNull(p.AreaID), Lng: p.Location[0], Lat: p.Location[1]}
}

// zonePersonsCSV writes everyone inside zone id as CSV, the vulnerable first.
func (s *Server) zonePersonsCSV(c echo.Context, id int64) error {
	ps, shown, err := s.cfg.Store.ZonePersons(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="zone-%d-persons.csv"`, id))
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"household_id", "address", "building", "unit", "lng", "lat", "person_id", "name", "id_number",
		"phone", "birth_date", "sex", "status", "vulnerability", "health_code"})
	for _, p := range ps {
		birth := ""
		if p.BirthDate != nil {
			birth = strconv.Itoa(p.BirthDate.Year())
			if shown.BirthDate {
				birth = p.BirthDate.Format(time.DateOnly)
			}
		}
		vuln := make([]string, len(p.Vulnerability))
		for i, v := range p.Vulnerability {
			vuln[i] = string(v)
		}
		_ = w.Write([]string{strconv.FormatInt(p.HouseholdID, 10), csvText(p.Address), csvText(p.Building), csvText(p.Unit),
			strconv.FormatFloat(p.Location[0], 'f', -1, 64), strconv.FormatFloat(p.Location[1], 'f', -1, 64),
			strconv.FormatInt(p.ID, 10), csvText(p.Name), p.IDNumber, p.Phone, birth, p.Sex, p.Status,
			strings.Join(vuln, ";"), p.HealthCode})
	}
	w.Flush()
	return w.Error()
}

// csvText defuses a free-text cell that a spreadsheet would run as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// handleZoneDashboard: GET /api/v1/zones/dashboard?level=street|community, counts per
// zone kind per area, every kind and area present (zero reporting).
func (s *Server) handleZoneDashboard(c echo.Context) error {
	if err := queryStrict(c, "level"); err != nil {
		return err
	}
	level := grid.Level(c.QueryParam("level"))
	if level == "" {
		level = grid.Street
	}
	rows, err := s.cfg.Store.ZoneDashboard(c.Request().Context(), userOf(c), level)
	if err != nil {
		return err
	}
	type counts struct {
		Zones      int `json:"zones"`
		Households int `json:"households"`
		Persons    int `json:"persons"`
		Vulnerable int `json:"vulnerable"`
	}
	areas := make([]map[string]any, len(rows))
	for i, r := range rows {
		a := map[string]any{"area_id": r.AreaID, "name": r.Name, "level": r.Level, "context": r.Context}
		for k, n := range r.Kinds {
			a[string(k)] = counts(n)
		}
		areas[i] = a
	}
	return c.JSON(http.StatusOK, map[string]any{"level": level, "areas": areas})
}
