package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
)

// samplingRoutes registers sampling points, rounds, swabs, pools, coverage and
// door-to-door routes (issue 4) on the authenticated group. Everyone authenticated
// reads points, rounds, coverage numbers and routes in their jurisdiction; command
// staff and admin manage points and rounds, report pools and plan routes; samplers
// (and command staff) record swabs and stop outcomes; the missing list with names
// is for grid.SamplingNameReaders.
func (s *Server) samplingRoutes(g *echo.Group) {
	limit := bodyLimit(MaxJSONBody)
	managers := requireRole(grid.SamplingManagers()...)
	recorders := requireRole(grid.SamplingRecorders()...)
	g.GET("/sampling/points", s.handlePointList)
	g.POST("/sampling/points", s.handlePointCreate, managers, limit)
	g.GET("/sampling/points/:id", s.handlePointGet)
	g.PUT("/sampling/points/:id", s.handlePointUpdate, managers, limit)
	g.DELETE("/sampling/points/:id", s.handlePointDelete, managers, limit)
	g.GET("/sampling/rounds", s.handleRoundList)
	g.POST("/sampling/rounds", s.handleRoundCreate, managers, limit)
	g.GET("/sampling/rounds/:id", s.handleRoundGet)
	g.POST("/sampling/rounds/:id/close", s.handleRoundClose, managers, limit)
	g.GET("/sampling/rounds/:id/assignments", s.handleRoundAssignments)
	g.POST("/sampling/rounds/:id/swabs", s.handleSwabCreate, recorders, limit)
	g.GET("/sampling/rounds/:id/pools", s.handlePoolList)
	g.POST("/sampling/pools/:pool_id/result", s.handlePoolResult, managers, limit)
	g.GET("/sampling/rounds/:id/coverage", s.handleCoverage)
	g.GET("/sampling/rounds/:id/missing", s.handleMissing, requireRole(grid.SamplingNameReaders()...))
	g.POST("/sampling/rounds/:id/routes", s.handleRoutesPlan, managers, limit)
	g.GET("/sampling/rounds/:id/routes", s.handleRoutesGet)
	g.GET("/sampling/my-route", s.handleMyRoute)
	g.POST("/sampling/rounds/:id/stops/:household_id", s.handleStopOutcome, recorders, limit)
}

// pointJSON is a sampling point as answered.
type pointJSON struct {
	ID              int64          `json:"id"`
	Name            string         `json:"name"`
	Lng             float64        `json:"lng"`
	Lat             float64        `json:"lat"`
	CapacityPerHour int            `json:"capacity_per_hour"`
	Opens           string         `json:"opens"`
	Closes          string         `json:"closes"`
	GridIDs         []int64        `json:"grid_ids"`
	AreaID          any            `json:"area_id"`
	Load            *pointLoadJSON `json:"load"`
	Version         int            `json:"version"`
}

type pointLoadJSON struct {
	RoundID  int64 `json:"round_id"`
	Assigned int   `json:"assigned"`
	Capacity int   `json:"capacity"`
}

func toPointJSON(p grid.SamplingPoint) pointJSON {
	out := pointJSON{ID: p.ID, Name: p.Name, Lng: p.Loc[0], Lat: p.Loc[1], CapacityPerHour: p.CapacityPerHour,
		Opens: p.Opens, Closes: p.Closes, GridIDs: p.GridIDs, AreaID: idOrNull(p.AreaID), Version: p.Version}
	if l := p.Load; l != nil {
		out.Load = &pointLoadJSON{RoundID: l.RoundID, Assigned: l.Assigned, Capacity: l.Capacity}
	}
	return out
}

// pointRequest is the body of POST and PUT /sampling/points.
type pointRequest struct {
	Name            string   `json:"name"`
	Lng             *float64 `json:"lng"`
	Lat             *float64 `json:"lat"`
	CapacityPerHour int      `json:"capacity_per_hour"`
	Opens           string   `json:"opens"`
	Closes          string   `json:"closes"`
	GridIDs         []int64  `json:"grid_ids"`
	Version         int      `json:"version"`
}

func (r pointRequest) input() grid.SamplingPointInput {
	return grid.SamplingPointInput{Name: r.Name, Lng: r.Lng, Lat: r.Lat, CapacityPerHour: r.CapacityPerHour,
		Opens: r.Opens, Closes: r.Closes, GridIDs: r.GridIDs, Version: r.Version}
}

// handlePointList: GET /api/v1/sampling/points[?bbox=w,s,e,n].
func (s *Server) handlePointList(c echo.Context) error {
	if err := queryStrict(c, "bbox"); err != nil {
		return err
	}
	bbox, err := queryBBox(c, "bbox")
	if err != nil {
		return err
	}
	ps, err := s.cfg.Store.ListSamplingPoints(c.Request().Context(), userOf(c), bbox)
	if err != nil {
		return err
	}
	out := make([]pointJSON, len(ps))
	for i, p := range ps {
		out[i] = toPointJSON(p)
	}
	return c.JSON(http.StatusOK, map[string]any{"points": out})
}

// handlePointGet: GET /api/v1/sampling/points/:id.
func (s *Server) handlePointGet(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := s.cfg.Store.GetSamplingPoint(c.Request().Context(), userOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPointJSON(p))
}

// handlePointCreate: POST /api/v1/sampling/points → 201.
func (s *Server) handlePointCreate(c echo.Context) error {
	var req pointRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	p, err := s.cfg.Store.CreateSamplingPoint(c.Request().Context(), callerOf(c), req.input())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/v1/sampling/points/%d", p.ID))
	return c.JSON(http.StatusCreated, toPointJSON(p))
}

// handlePointUpdate: PUT /api/v1/sampling/points/:id (409 on a stale version).
func (s *Server) handlePointUpdate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req pointRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	p, err := s.cfg.Store.UpdateSamplingPoint(c.Request().Context(), callerOf(c), id, req.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPointJSON(p))
}

// handlePointDelete: DELETE /api/v1/sampling/points/:id → 204 (409 while used).
func (s *Server) handlePointDelete(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteSamplingPoint(c.Request().Context(), callerOf(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// roundJSON is a round as answered.
type roundJSON struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	AreaID      any       `json:"area_id"`
	ZoneIDs     []int64   `json:"zone_ids"`
	Date        string    `json:"date"`
	Start       string    `json:"start"`
	SlotMinutes int       `json:"slot_minutes"`
	WalkLimitM  float64   `json:"walk_limit_m"`
	WalkKmh     float64   `json:"walk_kmh"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	ClosedAt    any       `json:"closed_at"`
	grid.RoundStats
}

func toRoundJSON(r grid.Round) roundJSON {
	return roundJSON{ID: r.ID, Name: r.Name, AreaID: idOrNull(r.AreaID), ZoneIDs: r.ZoneIDs, Date: r.Date, Start: r.Start,
		SlotMinutes: r.SlotMinutes, WalkLimitM: r.WalkLimitM, WalkKmh: r.WalkKmh, Status: r.Status,
		CreatedAt: r.CreatedAt.UTC(), ClosedAt: utcOrNil(r.ClosedAt), RoundStats: r.Stats}
}

// roundRequest is the body of POST /sampling/rounds.
type roundRequest struct {
	Name             string  `json:"name"`
	AreaID           int64   `json:"area_id"`
	ZoneIDs          []int64 `json:"zone_ids"`
	Date             string  `json:"date"`
	Start            string  `json:"start"`
	SlotMinutes      int     `json:"slot_minutes"`
	WalkLimitMinutes int     `json:"walk_limit_minutes"`
	WalkKmh          float64 `json:"walk_kmh"`
}

// handleRoundList: GET /api/v1/sampling/rounds, newest first.
func (s *Server) handleRoundList(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	rs, err := s.cfg.Store.ListRounds(c.Request().Context(), userOf(c))
	if err != nil {
		return err
	}
	out := make([]roundJSON, len(rs))
	for i, r := range rs {
		out[i] = toRoundJSON(r)
	}
	return c.JSON(http.StatusOK, map[string]any{"rounds": out})
}

// handleRoundCreate: POST /api/v1/sampling/rounds → 201, assignment included.
func (s *Server) handleRoundCreate(c echo.Context) error {
	var req roundRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	r, err := s.cfg.Store.CreateRound(c.Request().Context(), callerOf(c), grid.RoundInput{
		Name: req.Name, AreaID: req.AreaID, ZoneIDs: req.ZoneIDs, Date: req.Date, Start: req.Start,
		SlotMinutes: req.SlotMinutes, WalkLimitMinutes: req.WalkLimitMinutes, WalkKmh: req.WalkKmh})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/v1/sampling/rounds/%d", r.ID))
	return c.JSON(http.StatusCreated, toRoundJSON(r))
}

// handleRoundGet: GET /api/v1/sampling/rounds/:id.
func (s *Server) handleRoundGet(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	r, err := s.cfg.Store.GetRound(c.Request().Context(), userOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRoundJSON(r))
}

// handleRoundClose: POST /api/v1/sampling/rounds/:id/close.
func (s *Server) handleRoundClose(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	r, err := s.cfg.Store.CloseRound(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRoundJSON(r))
}

// handleRoundAssignments: GET /api/v1/sampling/rounds/:id/assignments?grid_id=&point_id=.
func (s *Server) handleRoundAssignments(c echo.Context) error {
	if err := queryStrict(c, "grid_id", "point_id"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	gridID, err := queryID(c, "grid_id")
	if err != nil {
		return err
	}
	pointID, err := queryID(c, "point_id")
	if err != nil {
		return err
	}
	as, err := s.cfg.Store.RoundAssignments(c.Request().Context(), userOf(c), id, gridID, pointID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(as))
	for i, a := range as {
		out[i] = map[string]any{"household_id": a.HouseholdID, "address": a.Address, "grid_id": idOrNull(a.GridID),
			"point_id": idOrNull(a.PointID), "slot_start": a.SlotStart, "slot_end": a.SlotEnd, "walk_m": a.WalkM,
			"persons": a.Persons, "door_to_door": a.DoorToDoor, "reason": nullIfEmpty(a.Reason)}
	}
	return c.JSON(http.StatusOK, map[string]any{"assignments": out})
}

// code is a barcode sent as a JSON string or number (scanners type digits).
type code string

func (c *code) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = code(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*c = code(n.String())
	return nil
}

// swabRequest is the body of POST /sampling/rounds/:id/swabs.
type swabRequest struct {
	PersonID int64      `json:"person_id"`
	TubeID   code       `json:"tube_id"`
	PoolID   code       `json:"pool_id"`
	TakenAt  *time.Time `json:"taken_at"`
}

func poolJSON(p grid.Pool) map[string]any {
	return map[string]any{"id": p.ID, "round_id": p.RoundID, "size": p.Size, "result": p.Result}
}

// handleSwabCreate: POST /api/v1/sampling/rounds/:id/swabs → 201, or 200 with the
// stored swab when the same tube is scanned again for the same person.
func (s *Server) handleSwabCreate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req swabRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	sw, pool, created, err := s.cfg.Store.RecordSwab(c.Request().Context(), callerOf(c), id, grid.SwabInput{
		PersonID: req.PersonID, TubeID: string(req.TubeID), PoolID: string(req.PoolID), TakenAt: req.TakenAt})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, map[string]any{
		"swab": map[string]any{"id": sw.ID, "round_id": sw.RoundID, "person_id": sw.PersonID, "household_id": sw.HouseholdID,
			"tube_id": sw.TubeID, "pool_id": sw.PoolID, "taken_at": sw.TakenAt.UTC(), "sampler_id": idOrNull(sw.SamplerID)},
		"pool": poolJSON(pool)})
}

// handlePoolList: GET /api/v1/sampling/rounds/:id/pools[?result=].
func (s *Server) handlePoolList(c echo.Context) error {
	if err := queryStrict(c, "result"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ps, err := s.cfg.Store.RoundPools(c.Request().Context(), userOf(c), id, c.QueryParam("result"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"pools": renderAll(ps, poolJSON)})
}

// handlePoolResult: POST /api/v1/sampling/pools/:pool_id/result {"result"}.
func (s *Server) handlePoolResult(c echo.Context) error {
	var req struct {
		Result string `json:"result"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	rep, err := s.cfg.Store.ReportPool(c.Request().Context(), callerOf(c), c.Param("pool_id"), req.Result)
	if err != nil {
		return err
	}
	retest := make([]map[string]any, len(rep.Retest))
	for i, r := range rep.Retest {
		retest[i] = map[string]any{"person_id": r.PersonID, "name": r.Name, "household_id": r.HouseholdID}
	}
	sealing := make([]map[string]any, len(rep.Sealing))
	for i, sp := range rep.Sealing {
		sealing[i] = map[string]any{"household_id": sp.HouseholdID, "address": sp.Address, "lng": sp.Loc[0], "lat": sp.Loc[1]}
	}
	return c.JSON(http.StatusOK, map[string]any{"pool": poolJSON(rep.Pool), "retest": retest, "sealing_proposals": sealing})
}

// handleCoverage: GET /api/v1/sampling/rounds/:id/coverage?level=grid|community|street|district.
func (s *Server) handleCoverage(c echo.Context) error {
	if err := queryStrict(c, "level"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	lv := grid.GridLevel
	if q := c.QueryParam("level"); q != "" {
		if lv, err = grid.ParseLevel(q); err != nil {
			return err
		}
	}
	rows, err := s.cfg.Store.RoundCoverage(c.Request().Context(), userOf(c), id, lv)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		out[i] = map[string]any{"area_id": r.AreaID, "name": r.Name, "level": r.Level, "direct": r.Direct, "expected": r.Expected,
			"swabbed": r.Swabbed, "missing": r.Missing}
	}
	return c.JSON(http.StatusOK, map[string]any{"rows": out})
}

// handleMissing: GET /api/v1/sampling/rounds/:id/missing[?area_id=], masked per role.
func (s *Server) handleMissing(c echo.Context) error {
	if err := queryStrict(c, "area_id"); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	area, err := queryID(c, "area_id")
	if err != nil {
		return err
	}
	ms, err := s.cfg.Store.RoundMissing(c.Request().Context(), callerOf(c), id, area)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = map[string]any{"person_id": m.PersonID, "name": m.Name, "phone": m.Phone, "household_id": m.HouseholdID,
			"address": m.Address, "grid_id": idOrNull(m.GridID), "outcome": nullIfEmpty(m.Outcome)}
	}
	return c.JSON(http.StatusOK, map[string]any{"persons": out})
}

// routesRequest is the body of POST /sampling/rounds/:id/routes.
type routesRequest struct {
	Teams []struct {
		Name   string `json:"name"`
		UserID int64  `json:"user_id"`
		Depot  *struct {
			Lng *float64 `json:"lng"`
			Lat *float64 `json:"lat"`
		} `json:"depot"`
		ShiftMinutes *int `json:"shift_minutes"`
	} `json:"teams"`
	Seed           uint64  `json:"seed"`
	BudgetMS       int     `json:"budget_ms"`
	WalkKmh        float64 `json:"walk_kmh"`
	MinutesPerStop float64 `json:"minutes_per_stop"`
}

// teamJSON renders one team's route: stops in order with ETAs, and the line.
func teamJSON(t grid.TeamRoute) map[string]any {
	stops := make([]map[string]any, len(t.Stops))
	for i, st := range t.Stops {
		stops[i] = map[string]any{"seq": st.Seq, "household_id": st.HouseholdID, "address": st.Address,
			"lng": st.Loc[0], "lat": st.Loc[1], "eta": st.ETA, "outcome": nullIfEmpty(st.Outcome)}
	}
	var line any
	if len(t.Line) >= 2 {
		line = geojson.NewGeometry(t.Line)
	}
	return map[string]any{"team": t.Name, "team_index": t.Team, "user_id": idOrNull(t.UserID),
		"depot": map[string]float64{"lng": t.Depot[0], "lat": t.Depot[1]}, "shift_minutes": t.ShiftMinutes,
		"stops": stops, "route": line, "walk_m": t.WalkM, "minutes": t.Minutes}
}

func planJSON(p grid.RoutePlan) map[string]any {
	teams := renderAll(p.Teams, teamJSON)
	ids := make([]int64, len(p.Unassigned))
	for i, u := range p.Unassigned {
		ids[i] = u.HouseholdID
	}
	var est any
	if e := p.Estimate; e != nil {
		est = map[string]any{"teams_planned": e.Teams, "unassigned": e.Unassigned, "unreachable": e.Unreachable,
			"shift_minutes": e.ShiftMinutes, "work_minutes": e.WorkMinutes, "teams_needed": e.TeamsNeeded,
			"verified": e.Verified, "resolves": e.Resolves}
	}
	return map[string]any{"teams": teams, "unassigned": ids, "unassigned_count": len(ids), "unassigned_reasons": p.Unassigned,
		"estimate": est}
}

// handleRoutesPlan: POST /api/v1/sampling/rounds/:id/routes → 201, replacing the
// round's routes.
func (s *Server) handleRoutesPlan(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req routesRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	in := grid.RoutesInput{Seed: req.Seed, BudgetMS: req.BudgetMS, WalkKmh: req.WalkKmh, MinutesPerStop: req.MinutesPerStop}
	for i, t := range req.Teams {
		f := "teams[" + strconv.Itoa(i) + "]"
		if t.Depot == nil || t.Depot.Lng == nil || t.Depot.Lat == nil {
			return grid.Errorf(grid.Invalid, f+".depot", "is required: {\"lng\", \"lat\"}")
		}
		shift := 240
		if t.ShiftMinutes != nil {
			shift = *t.ShiftMinutes
		}
		in.Teams = append(in.Teams, grid.TeamInput{Name: t.Name, UserID: t.UserID,
			Depot: orb.Point{*t.Depot.Lng, *t.Depot.Lat}, ShiftMinutes: shift})
	}
	plan, err := s.cfg.Store.PlanRoutes(c.Request().Context(), callerOf(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, planJSON(plan))
}

// handleRoutesGet: GET /api/v1/sampling/rounds/:id/routes.
func (s *Server) handleRoutesGet(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	plan, err := s.cfg.Store.RoundRoutes(c.Request().Context(), userOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, planJSON(plan))
}

// handleMyRoute: GET /api/v1/sampling/my-route, the caller's team route in an open
// round (404 when none).
func (s *Server) handleMyRoute(c echo.Context) error {
	t, err := s.cfg.Store.MyRoute(c.Request().Context(), userOf(c))
	if err != nil {
		return err
	}
	out := teamJSON(t)
	out["round_id"] = t.RoundID
	return c.JSON(http.StatusOK, out)
}

// handleStopOutcome: POST /api/v1/sampling/rounds/:id/stops/:household_id {"outcome"}.
func (s *Server) handleStopOutcome(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	hid, err := pathID(c, "household_id")
	if err != nil {
		return err
	}
	var req struct {
		Outcome string `json:"outcome"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	st, err := s.cfg.Store.SetStopOutcome(c.Request().Context(), callerOf(c), id, hid, req.Outcome)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"round_id": st.RoundID, "household_id": st.HouseholdID, "address": st.Address,
		"lng": st.Loc[0], "lat": st.Loc[1], "team_index": st.Team, "seq": st.Seq, "eta": st.ETA, "outcome": st.Outcome})
}
