package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/grid/care"
)

// careRoutes registers isolation, check-ins, sites, transfers, the vulnerable,
// deliveries and alerts. Everyone authenticated reads inside their jurisdiction
// (persons masked per role); grid.CareWriters (grid workers, command staff, admin)
// place spells, record check-ins and contacts, open deliveries and handle alerts;
// grid.CommandWriters (command staff, admin) run sites, transfers and the
// assignment of workers; admin edits the care policy. Ids outside the jurisdiction
// answer 404.
func (s *Server) careRoutes(g *echo.Group) {
	limit := bodyLimit(MaxJSONBody)
	writers := requireRole(grid.CareWriters()...)
	command := requireRole(grid.CommandWriters()...)
	g.GET("/care-policy", s.handleCarePolicyGet)
	g.PUT("/care-policy", s.handleCarePolicyPut, requireRole(grid.CarePolicyWriters()...), limit)
	g.POST("/isolations/eligibility", s.handleEligibility, writers, limit)
	g.GET("/isolations", s.handleIsolationList)
	g.POST("/isolations", s.handleIsolationCreate, writers, limit)
	g.GET("/isolations/:id", s.handleIsolationGet)
	g.GET("/isolations/:id/checkins", s.handleCheckInList)
	g.POST("/isolations/:id/checkins", s.handleCheckInCreate, writers, limit)
	g.GET("/sites", s.handleSiteList)
	g.POST("/sites", s.handleSiteCreate, command, limit)
	g.GET("/transfers", listByStatus(s.cfg.Store.ListTransfers, "transfers", transferJSON))
	g.POST("/transfers", s.handleTransferCreate, command, limit)
	for _, a := range []string{grid.TransferDepart, grid.TransferArrive, grid.TransferCancel} {
		g.POST("/transfers/:id/"+a, advance(s.cfg.Store.AdvanceTransfer, a, transferJSON), command, limit)
	}
	g.GET("/vulnerable", s.handleVulnerableList)
	g.PUT("/vulnerable/:id/worker", s.handleCareWorkerPut, command, limit)
	g.POST("/vulnerable/:id/contacts", s.handleContactCreate, writers, limit)
	g.GET("/deliveries", listByStatus(s.cfg.Store.ListDeliveries, "deliveries", deliveryJSON))
	g.POST("/deliveries", s.handleDeliveryCreate, writers, limit)
	for _, a := range []string{"dispatch", "deliver", "cancel"} {
		g.POST("/deliveries/:id/"+a, advance(s.cfg.Store.AdvanceDelivery, a, deliveryJSON), writers, limit)
	}
	g.GET("/alerts", s.handleAlertList)
	for _, a := range []string{grid.AlertAcknowledge, grid.AlertClose} {
		g.POST("/alerts/:id/"+a, advance(s.cfg.Store.UpdateAlert, a, alertJSON), writers, limit)
	}
}

// parseDate reads a YYYY-MM-DD date (a calendar day, no zone) named field; required
// when req.
func parseDate(field, v string, req bool) (*time.Time, error) {
	if v == "" {
		if req {
			return nil, grid.Errorf(grid.Invalid, field, "is required, as YYYY-MM-DD")
		}
		return nil, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, field, "must be a date YYYY-MM-DD, not %q", v)
	}
	return &d, nil
}

func dateOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Format(time.DateOnly)
}

type carePolicyJSON struct {
	Version   *int         `json:"version"`
	CreatedAt *time.Time   `json:"created_at,omitempty"`
	Policy    *care.Policy `json:"policy"`
}

func (s *Server) handleCarePolicyGet(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	p, err := s.cfg.Store.CurrentCarePolicy(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, carePolicyJSON{Version: &p.Version, Policy: &p.Policy})
}

func (s *Server) handleCarePolicyPut(c echo.Context) error {
	var req carePolicyJSON
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := requirePolicyEdit(req.Version, req.Policy); err != nil {
		return err
	}
	p, err := s.cfg.Store.UpdateCarePolicy(c.Request().Context(), callerOf(c), *req.Version, *req.Policy)
	if err != nil {
		return err
	}
	at := p.CreatedAt.UTC()
	return c.JSON(http.StatusOK, carePolicyJSON{Version: &p.Version, CreatedAt: &at, Policy: &p.Policy})
}

// spellStart checks the person and the start day (nil: today) that an eligibility
// check and a placement both take, so the two answer a bad request alike.
func spellStart(personID int64, startDate string) (*time.Time, error) {
	if personID < 1 {
		return nil, grid.Errorf(grid.Invalid, "person_id", "is required")
	}
	return parseDate("start_date", startDate, false)
}

type eligibilityRequest struct {
	PersonID  int64  `json:"person_id"`
	StartDate string `json:"start_date"`
	care.Conditions
}

func (s *Server) handleEligibility(c echo.Context) error {
	var req eligibilityRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	start, err := spellStart(req.PersonID, req.StartDate)
	if err != nil {
		return err
	}
	e, err := s.cfg.Store.CheckEligibility(c.Request().Context(), callerOf(c), req.PersonID, start, req.Conditions, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, e)
}

type isolationRequest struct {
	PersonID   int64  `json:"person_id"`
	Kind       string `json:"kind"`
	Reason     string `json:"reason"`
	StartDate  string `json:"start_date"`
	PeriodDays int    `json:"period_days"`
	care.Conditions
}

func isolationJSON(x grid.Isolation) map[string]any {
	var elig any
	if x.Eligibility != nil {
		elig = x.Eligibility
	}
	var temp any
	if x.LastTemperature != nil {
		temp = *x.LastTemperature
	}
	return map[string]any{
		"id": x.ID, "person_id": x.PersonID, "person_name": x.PersonName, "phone": x.Phone, "household_id": x.HouseholdID,
		"area_id": idOrNull(x.AreaID), "address": x.Address, "location": []float64{x.Location[0], x.Location[1]},
		"kind": x.Kind, "reason": x.Reason, "start_date": x.StartDate.Format(time.DateOnly), "period_days": x.PeriodDays,
		"last_day": x.LastDay.Format(time.DateOnly), "began_on": x.BeganOn.Format(time.DateOnly), "status": x.Status,
		"ended_on": dateOrNil(x.EndedOn), "site_id": idOrNull(x.SiteID), "policy_version": x.PolicyVersion, "eligibility": elig,
		"created_at": x.CreatedAt.UTC(), "released_at": utcOrNil(x.ReleasedAt), "release_note": x.ReleaseNote,
		"checkins_today": x.CheckInsToday, "last_checkin_at": utcOrNil(x.LastCheckInAt), "last_temperature_c": temp,
		"next_due": utcOrNil(x.NextDue), "open_alerts": x.OpenAlerts,
	}
}

func (s *Server) handleIsolationCreate(c echo.Context) error {
	var req isolationRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	start, err := spellStart(req.PersonID, req.StartDate)
	if err != nil {
		return err
	}
	x, err := s.cfg.Store.PlaceIsolation(c.Request().Context(), callerOf(c), grid.IsolationInput{PersonID: req.PersonID, Kind: req.Kind,
		Reason: req.Reason, StartDate: start, PeriodDays: req.PeriodDays, Conditions: req.Conditions}, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, isolationJSON(x))
}

func (s *Server) handleIsolationList(c echo.Context) error {
	if err := queryStrict(c, "status", "kind", "area_id"); err != nil {
		return err
	}
	area, err := queryID(c, "area_id")
	if err != nil {
		return err
	}
	xs, err := s.cfg.Store.ListIsolations(c.Request().Context(), callerOf(c),
		grid.IsolationFilter{Status: c.QueryParam("status"), Kind: c.QueryParam("kind"), AreaID: area}, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"isolations": renderAll(xs, isolationJSON)})
}

func (s *Server) handleIsolationGet(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	x, err := s.cfg.Store.GetIsolation(c.Request().Context(), callerOf(c), id, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, isolationJSON(x))
}

type checkInRequest struct {
	TemperatureC *float64 `json:"temperature_c"`
	Source       string   `json:"source"`
	At           *string  `json:"at"`
	Symptoms     string   `json:"symptoms"`
}

func checkInJSON(k grid.CheckIn) map[string]any {
	return map[string]any{"id": k.ID, "isolation_id": k.IsolationID, "at": k.At.UTC(), "temperature_c": k.TemperatureC,
		"source": k.Source, "symptoms": k.Symptoms, "recorded_by": idOrNull(k.RecordedBy), "fever": k.Fever, "alert_id": idOrNull(k.AlertID)}
}

func (s *Server) handleCheckInCreate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req checkInRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.TemperatureC == nil {
		return grid.Errorf(grid.Invalid, "temperature_c", "is required")
	}
	if req.Source == "" {
		req.Source = "worker"
	}
	in := grid.CheckInInput{TemperatureC: *req.TemperatureC, Source: req.Source, Symptoms: req.Symptoms}
	if req.At != nil {
		t, err := time.Parse(time.RFC3339, *req.At)
		if err != nil {
			return grid.Errorf(grid.Invalid, "at", "must be an RFC 3339 time, not %q", *req.At)
		}
		in.At = &t
	}
	k, err := s.cfg.Store.RecordCheckIn(c.Request().Context(), callerOf(c), id, in, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, checkInJSON(k))
}

func (s *Server) handleCheckInList(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ks, err := s.cfg.Store.ListCheckIns(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"checkins": renderAll(ks, checkInJSON)})
}

func siteJSON(x grid.Site) map[string]any {
	return map[string]any{"id": x.ID, "name": x.Name, "address": x.Address, "area_id": idOrNull(x.AreaID),
		"location": []float64{x.Location[0], x.Location[1]}, "rooms": x.Rooms, "occupied": x.Occupied, "free": x.Free(),
		"created_at": x.CreatedAt.UTC()}
}

type siteRequest struct {
	Name     string    `json:"name"`
	Address  string    `json:"address"`
	Location []float64 `json:"location"`
	Rooms    *int      `json:"rooms"`
}

func (s *Server) handleSiteCreate(c echo.Context) error {
	var req siteRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if len(req.Location) != 2 {
		return grid.Errorf(grid.Invalid, "location", "must be [lng, lat]")
	}
	if req.Rooms == nil {
		return grid.Errorf(grid.Invalid, "rooms", "is required")
	}
	x, err := s.cfg.Store.CreateSite(c.Request().Context(), callerOf(c), grid.SiteInput{Name: req.Name, Address: req.Address,
		Location: orb.Point{req.Location[0], req.Location[1]}, Rooms: *req.Rooms})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, siteJSON(x))
}

func (s *Server) handleSiteList(c echo.Context) error {
	if err := queryStrict(c, "free"); err != nil {
		return err
	}
	free, err := queryBool(c, "free", false)
	if err != nil {
		return err
	}
	xs, err := s.cfg.Store.ListSites(c.Request().Context(), callerOf(c), free)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sites": renderAll(xs, siteJSON)})
}

func transferJSON(t grid.Transfer) map[string]any {
	out := map[string]any{"id": t.ID, "person_id": t.PersonID, "from_household_id": t.FromHouseholdID, "site_id": t.SiteID,
		"isolation_id": idOrNull(t.IsolationID), "reason": t.Reason, "vehicle": t.Vehicle, "status": t.Status,
		"created_at": t.CreatedAt.UTC(), "updated_at": t.UpdatedAt.UTC()}
	if t.PersonName != "" || t.SiteName != "" { // lists name them; a write's answer does not
		out["person_name"], out["site_name"] = t.PersonName, t.SiteName
	}
	return out
}

type transferRequest struct {
	PersonID int64  `json:"person_id"`
	SiteID   int64  `json:"site_id"`
	Vehicle  string `json:"vehicle"`
	Reason   string `json:"reason"`
}

func (s *Server) handleTransferCreate(c echo.Context) error {
	var req transferRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.PersonID < 1 {
		return grid.Errorf(grid.Invalid, "person_id", "is required")
	}
	if req.SiteID < 1 {
		return grid.Errorf(grid.Invalid, "site_id", "is required")
	}
	t, err := s.cfg.Store.RequestTransfer(c.Request().Context(), callerOf(c), grid.TransferInput(req), time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, transferJSON(t))
}

func (s *Server) handleVulnerableList(c echo.Context) error {
	if err := queryStrict(c, "mine", "due", "missed"); err != nil {
		return err
	}
	var f grid.VulnerableFilter
	var err error
	if f.Mine, err = queryBool(c, "mine", false); err != nil {
		return err
	}
	if f.Due, err = queryBool(c, "due", false); err != nil {
		return err
	}
	if f.Missed, err = queryBool(c, "missed", false); err != nil {
		return err
	}
	vs, err := s.cfg.Store.ListVulnerable(c.Request().Context(), callerOf(c), f, time.Now())
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(vs))
	for i, v := range vs {
		out[i] = map[string]any{"person_id": v.PersonID, "name": v.Name, "phone": v.Phone, "vulnerability": v.Vulnerability,
			"household_id": v.HouseholdID, "address": v.Address, "area_id": idOrNull(v.AreaID), "location": []float64{v.Location[0], v.Location[1]},
			"worker_id": idOrNull(v.WorkerID), "worker_name": nullIfEmpty(v.WorkerName), "zone_kind": nullIfEmpty(v.ZoneKind),
			"due": v.Due, "contacted_today": v.ContactedDay, "missed": v.Missed, "last_contact_at": utcOrNil(v.ContactedAt), "last_needs": v.LastNeeds}
	}
	return c.JSON(http.StatusOK, map[string]any{"vulnerable": out})
}

func (s *Server) handleCareWorkerPut(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req struct {
		WorkerID int64 `json:"worker_id"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.WorkerID < 1 {
		return grid.Errorf(grid.Invalid, "worker_id", "is required")
	}
	if err := s.cfg.Store.AssignCareWorker(c.Request().Context(), callerOf(c), id, req.WorkerID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"person_id": id, "worker_id": req.WorkerID})
}

func (s *Server) handleContactCreate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req struct {
		Needs []string `json:"needs"`
		Note  string   `json:"note"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	k, err := s.cfg.Store.RecordContact(c.Request().Context(), callerOf(c), id, req.Needs, req.Note, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"id": k.ID, "person_id": k.PersonID, "day": k.Day.Format(time.DateOnly),
		"at": k.At.UTC(), "needs": k.Needs, "note": k.Note})
}

func deliveryJSON(d grid.Delivery) map[string]any {
	out := map[string]any{"id": d.ID, "household_id": d.HouseholdID, "area_id": idOrNull(d.AreaID), "items": d.Items,
		"note": d.Note, "status": d.Status, "created_at": d.CreatedAt.UTC(), "updated_at": d.UpdatedAt.UTC()}
	if d.Address != "" { // lists carry it; a write's answer does not
		out["address"] = d.Address
	}
	return out
}

func (s *Server) handleDeliveryCreate(c echo.Context) error {
	var req struct {
		HouseholdID int64    `json:"household_id"`
		Items       []string `json:"items"`
		Note        string   `json:"note"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.HouseholdID < 1 {
		return grid.Errorf(grid.Invalid, "household_id", "is required")
	}
	d, err := s.cfg.Store.CreateDelivery(c.Request().Context(), callerOf(c), req.HouseholdID, req.Items, req.Note, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, deliveryJSON(d))
}

func alertJSON(a grid.Alert) map[string]any {
	var loc any
	if a.Location != nil {
		loc = []float64{a.Location[0], a.Location[1]}
	}
	return map[string]any{"id": a.ID, "kind": a.Kind, "status": a.Status, "area_id": idOrNull(a.AreaID),
		"person_id": idOrNull(a.PersonID), "isolation_id": idOrNull(a.IsolationID), "site_id": idOrNull(a.SiteID),
		"message": a.Message, "detail": a.Detail, "location": loc, "raised_at": a.RaisedAt.UTC(),
		"acknowledged_at": utcOrNil(a.AcknowledgedAt), "acknowledged_by": idOrNull(a.AcknowledgedBy),
		"closed_at": utcOrNil(a.ClosedAt), "closed_by": idOrNull(a.ClosedBy)}
}

func (s *Server) handleAlertList(c echo.Context) error {
	if err := queryStrict(c, "status", "kind"); err != nil {
		return err
	}
	as, err := s.cfg.Store.ListAlerts(c.Request().Context(), callerOf(c), grid.AlertFilter{Status: c.QueryParam("status"), Kind: c.QueryParam("kind")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"alerts": renderAll(as, alertJSON)})
}

// advance serves POST /<things>/:id/<action>: the transfer, delivery and alert
// actions differ only in the store call that moves the thing and how it renders.
func advance[T any](move func(context.Context, grid.Caller, int64, string, time.Time) (T, error), action string, render func(T) map[string]any) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		x, err := move(c.Request().Context(), callerOf(c), id, action, time.Now())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, render(x))
	}
}

// listByStatus serves GET /<things>?status=: the transfer and delivery lists differ
// only in the store call, the key of the list and how a row renders.
func listByStatus[T any](list func(context.Context, grid.Caller, string) ([]T, error), key string, render func(T) map[string]any) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := queryStrict(c, "status"); err != nil {
			return err
		}
		xs, err := list(c.Request().Context(), callerOf(c), c.QueryParam("status"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{key: renderAll(xs, render)})
	}
}

// renderAll renders each row of a list the way its single read renders it, so a
// list and a get of the same thing never drift apart.
func renderAll[T any](xs []T, render func(T) map[string]any) []map[string]any {
	out := make([]map[string]any, len(xs))
	for i, x := range xs {
		out[i] = render(x)
	}
	return out
}
