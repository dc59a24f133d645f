package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/stay"
)

// MaxPingBody caps an uploaded ping file: a phone reporting every 10 s for 14 days
// is about 6 MB of CSV, so 32 MB holds several people; larger loads go through
// `gridtrace import pings`.
const MaxPingBody = 32 << 20

// traceAPI serves flow tracing: its own store over the grid store's pool.
type traceAPI struct {
	store *trace.Store
	grid  *grid.Store
}

// traceRoutes registers flow tracing on the authenticated group. Pings are not tied
// to areas, so the routes are open by role (trace.Readers: tracer, commander, admin;
// uploads trace.Writers: tracer, admin) and jurisdiction shows only in the masking of
// subjects linked to residents (see trace.Subject).
func (s *Server) traceRoutes(g *echo.Group) {
	st, err := trace.NewStore(s.cfg.Store.Pool(), trace.DefaultPolicy())
	if err != nil {
		s.cfg.Log.Error("flow tracing disabled", "err", err)
		return
	}
	h := &traceAPI{store: st, grid: s.cfg.Store}
	readers := requireRole(trace.Readers()...)
	writers := requireRole(trace.Writers()...)
	g.POST("/pings", h.handlePingsUpload, writers, bodyLimit(MaxPingBody))
	g.GET("/trace/subjects", h.handleSubjectList, readers)
	g.PUT("/trace/subjects/:id", h.handleSubjectUpdate, writers, bodyLimit(MaxJSONBody))
	g.GET("/trace/subjects/:id/track", h.handleTrack, readers)
	g.GET("/trace/subjects/:id/stays", h.handleStays, readers)
	g.POST("/trace/contacts", h.handleContactsRun, readers, bodyLimit(MaxJSONBody))
	g.GET("/trace/contacts", h.handleContactsGet, readers)
	g.GET("/trace/contacts.csv", h.handleContactsCSV, readers)
}

// pingFormatOf picks the upload's format: the format query parameter, else the
// Content-Type.
func pingFormatOf(c echo.Context) (trace.Format, error) {
	if f := c.QueryParam("format"); f != "" {
		return trace.ParseFormat(f)
	}
	ct := c.Request().Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "text/csv", "application/csv":
		return trace.CSV, nil
	case "application/gpx+xml", "application/gpx", "application/xml", "text/xml":
		return trace.GPX, nil
	case "application/geo+json", "application/json":
		return trace.GeoJSON, nil
	}
	return "", grid.Errorf(grid.Invalid, "Content-Type", "%q: send text/csv, application/gpx+xml or application/geo+json, or name the format (?format=plt|csv|gpx|geojson)", ct)
}

// handlePingsUpload: POST /api/v1/pings?format=&person=&source=&name= with a CSV,
// GPX, GeoJSON or .plt body; 201 with what was loaded. The whole body loads in one
// transaction: a bad row is 400 naming its line (or JSON path) and field, and
// nothing is written.
func (h *traceAPI) handlePingsUpload(c echo.Context) error {
	if err := queryStrict(c, "format", "person", "source", "name"); err != nil {
		return err
	}
	f, err := pingFormatOf(c)
	if err != nil {
		return err
	}
	name := c.QueryParam("name")
	if name == "" {
		name = "body"
	}
	source := c.QueryParam("source")
	if source == "" {
		source = "api:" + name
	}
	trajs, err := trace.ReadPings(c.Request().Body, f, name, c.QueryParam("person"))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d MB", MaxPingBody>>20))
		}
		return err
	}
	rep, err := h.store.IngestPings(c.Request().Context(), callerOf(c), source, trajs)
	if err != nil {
		return err
	}
	subs := make([]map[string]any, len(rep.Subjects))
	for i, sb := range rep.Subjects {
		subs[i] = map[string]any{"id": sb.ID, "ext_id": sb.ExtID, "pings": sb.Pings, "new": sb.New}
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"batch": rep.Batch, "pings": rep.Pings, "subjects": subs, "new_subjects": rep.NewSubjects,
		"days": rep.Days, "partitions_created": rep.Created, "first_at": rep.First, "last_at": rep.Last,
	})
}

// subjectJSON is a trace subject as answered.
type subjectJSON struct {
	ID      int64              `json:"id"`
	ExtID   string             `json:"ext_id"`
	Label   string             `json:"label"`
	Person  *subjectPersonJSON `json:"person"`
	Pings   int64              `json:"pings"`
	FirstAt *time.Time         `json:"first_at"`
	LastAt  *time.Time         `json:"last_at"`
}

type subjectPersonJSON struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	Phone    string   `json:"phone"`
	IDNumber string   `json:"id_number"`
	Masked   []string `json:"masked"`
}

func toSubjectJSON(sb trace.Subject) subjectJSON {
	out := subjectJSON{ID: sb.ID, ExtID: sb.ExtID, Label: sb.Label, Pings: sb.Pings, FirstAt: utcPtr(sb.FirstAt), LastAt: utcPtr(sb.LastAt)}
	if p := sb.Person; p != nil {
		out.Person = &subjectPersonJSON{ID: p.ID, Name: p.Name, Phone: p.Phone, IDNumber: p.IDNumber, Masked: p.Masked}
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// handleSubjectList: GET /api/v1/trace/subjects, every subject with its ping count
// and time range, ordered by ext_id.
func (h *traceAPI) handleSubjectList(c echo.Context) error {
	if err := queryStrict(c); err != nil {
		return err
	}
	subs, err := h.store.Subjects(c.Request().Context(), callerOf(c))
	if err != nil {
		return err
	}
	out := make([]subjectJSON, len(subs))
	for i, sb := range subs {
		out[i] = toSubjectJSON(sb)
	}
	return c.JSON(http.StatusOK, map[string]any{"subjects": out})
}

// subjectRequest is the body of PUT /api/v1/trace/subjects/:id.
type subjectRequest struct {
	Label    string `json:"label"`
	PersonID int64  `json:"person_id"` // 0 or absent: not linked
}

// handleSubjectUpdate: PUT /api/v1/trace/subjects/:id sets the label and the linked
// resident.
func (h *traceAPI) handleSubjectUpdate(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req subjectRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	sb, err := h.store.UpdateSubject(c.Request().Context(), callerOf(c), id, trace.SubjectEdit{Label: req.Label, PersonID: req.PersonID})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toSubjectJSON(sb))
}

// queryWindow reads the optional from and to parameters.
func queryWindow(c echo.Context) (from, to *time.Time, err error) {
	if from, err = queryTime(c, "from"); err != nil {
		return nil, nil, err
	}
	if to, err = queryTime(c, "to"); err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

// handleTrack: GET /api/v1/trace/subjects/:id/track?from&to&format=line|points. The
// default is a FeatureCollection holding one LineString (a MultiPoint below two
// pings) with properties.times, one RFC 3339 time per position: the form
// POST /api/v1/pings accepts back. format=points answers one Point per ping with
// properties.time. Without from/to: the subject's last 14 days of pings.
func (h *traceAPI) handleTrack(c echo.Context) error {
	id, from, to, err := subjectWindow(c, "format")
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format != "" && format != "line" && format != "points" {
		return grid.Errorf(grid.Invalid, "format", "%q: want line or points", format)
	}
	sb, w, pings, err := h.store.Track(c.Request().Context(), callerOf(c), id, from, to)
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	times := make([]string, len(pings))
	for i, p := range pings {
		times[i] = p.Time.UTC().Format(time.RFC3339Nano)
	}
	if format == "points" {
		for i, p := range pings {
			f := geojson.NewFeature(p.Point)
			f.Properties = geojson.Properties{"time": times[i]}
			fc.Append(f)
		}
	} else {
		var g orb.Geometry
		pts := make([]orb.Point, len(pings))
		for i, p := range pings {
			pts[i] = p.Point
		}
		if len(pts) >= 2 {
			g = orb.LineString(pts)
		} else {
			g = orb.MultiPoint(pts)
		}
		f := geojson.NewFeature(g)
		f.Properties = geojson.Properties{"subject_id": sb.ID, "person": sb.ExtID, "times": times}
		fc.Append(f)
	}
	fc.ExtraMembers = geojson.Properties{"subject": toSubjectJSON(sb), "from": w.From, "to": w.To, "pings": len(pings)}
	return writeGeoJSON(c, http.StatusOK, fc)
}

// staysFC renders stays as numbered Points: the case's itinerary and exposure
// places.
func staysFC(stays []stay.Stay) *geojson.FeatureCollection {
	fc := geojson.NewFeatureCollection()
	for i, st := range stays {
		f := geojson.NewFeature(st.Centroid)
		f.ID = i + 1
		f.Properties = geojson.Properties{
			"n": i + 1, "arrival": st.Arrival.UTC(), "departure": st.Departure.UTC(),
			"minutes": math.Round(st.Duration().Minutes()*10) / 10, "pings": st.Pings,
		}
		fc.Append(f)
	}
	return fc
}

// handleStays: GET /api/v1/trace/subjects/:id/stays?from&to&propose_zones=true, the
// subject's stays (stay radius and minimum time of the tracing policy) as numbered
// Points with arrival and departure. propose_zones=true adds proposed_zones: the
// zones the current zone policy would draw around these places (a preview computed
// with grid/zoning, each stay one epidemic point; not saved: zones are decided
// through /api/v1/zones). An area-mode precaution rule falls back to its ring here.
func (h *traceAPI) handleStays(c echo.Context) error {
	id, from, to, err := subjectWindow(c, "propose_zones")
	if err != nil {
		return err
	}
	propose, err := queryBool(c, "propose_zones", false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sb, w, stays, err := h.store.Stays(ctx, callerOf(c), id, from, to)
	if err != nil {
		return err
	}
	fc := staysFC(stays)
	fc.ExtraMembers = geojson.Properties{"subject": toSubjectJSON(sb), "from": w.From, "to": w.To, "rule": h.store.Policy().StayRule()}
	if propose {
		pol, err := h.grid.CurrentZonePolicy(ctx)
		if err != nil {
			return err
		}
		zones, err := trace.StayZones(stays, pol.Policy.Zoning())
		if err != nil {
			return err
		}
		zfc := geojson.NewFeatureCollection()
		for _, z := range zones {
			f := geojson.NewFeature(z.Geom)
			f.Properties = geojson.Properties{"kind": string(z.Kind), "stays": z.CaseIDs, "escalation": string(z.Escalation), "cells": len(z.Cells)}
			zfc.Append(f)
		}
		zfc.ExtraMembers = geojson.Properties{"policy_version": pol.Version, "saved": false}
		fc.ExtraMembers["proposed_zones"] = zfc
	}
	return writeGeoJSON(c, http.StatusOK, fc)
}

// contactRequest is the body of POST /api/v1/trace/contacts.
type contactRequest struct {
	Case        int64    `json:"case"`
	From        *string  `json:"from"`
	To          *string  `json:"to"`
	Rule        string   `json:"rule"`
	DistanceM   *float64 `json:"distance_m"`
	Tolerance   *string  `json:"tolerance"`
	MinDuration *string  `json:"min_duration"`
	Res         *int     `json:"res"`
	Degree      int      `json:"degree"`
}

func (r contactRequest) query() (trace.ContactQuery, error) {
	q := trace.ContactQuery{Case: r.Case, Rule: trace.RuleKind(r.Rule), Res: r.Res, Degree: r.Degree}
	if r.Case <= 0 {
		return q, grid.Errorf(grid.Invalid, "case", "is required: the subject id of the case")
	}
	var err error
	if q.From, err = bodyTime("from", r.From); err != nil {
		return q, err
	}
	if q.To, err = bodyTime("to", r.To); err != nil {
		return q, err
	}
	if r.DistanceM != nil {
		if !(*r.DistanceM > 0) {
			return q, grid.Errorf(grid.Invalid, "distance_m", "must be more than 0 metres")
		}
		q.DistanceM = *r.DistanceM
	}
	if q.Tolerance, err = bodyDuration("tolerance", r.Tolerance); err != nil {
		return q, err
	}
	if q.MinDuration, err = bodyDuration("min_duration", r.MinDuration); err != nil {
		return q, err
	}
	return q, nil
}

func bodyTime(field string, s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, field, "must be an RFC 3339 time such as 2008-10-23T02:53:04Z, not %q", *s)
	}
	return &t, nil
}

func bodyDuration(field string, s *string) (*time.Duration, error) {
	if s == nil {
		return nil, nil
	}
	d, err := time.ParseDuration(*s)
	if err != nil || d < 0 {
		return nil, grid.Errorf(grid.Invalid, field, "must be a duration such as \"5m\" or \"90s\", not %q", *s)
	}
	return &d, nil
}

// handleContactsRun: POST /api/v1/trace/contacts[?format=csv] runs the co-presence
// search for a case, stores the run (contacts with their encounters as evidence,
// rule version, the case's stays) and answers it: 201 with the run as JSON, or the
// contact list as CSV.
func (h *traceAPI) handleContactsRun(c echo.Context) error {
	if err := queryStrict(c, "format"); err != nil {
		return err
	}
	csvOut, err := wantCSV(c)
	if err != nil {
		return err
	}
	var req contactRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	q, err := req.query()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	run, err := h.store.TraceContacts(ctx, callerOf(c), q)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", fmt.Sprintf("/api/v1/trace/contacts?run=%d", run.ID))
	if csvOut {
		if run, err = h.store.ExportRun(ctx, callerOf(c), run.ID); err != nil {
			return err
		}
		return writeContactsCSV(c, http.StatusCreated, run)
	}
	return c.JSON(http.StatusCreated, toRunJSON(run))
}

func wantCSV(c echo.Context) (bool, error) {
	switch f := c.QueryParam("format"); f {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	default:
		return false, grid.Errorf(grid.Invalid, "format", "%q: want json or csv", f)
	}
}

// storedRun reads the run named by ?run=ID, or the newest run of ?case=ID.
func (h *traceAPI) storedRun(c echo.Context, export bool) (trace.Run, error) {
	runID, err := queryID(c, "run")
	if err != nil {
		return trace.Run{}, err
	}
	caseID, err := queryID(c, "case")
	if err != nil {
		return trace.Run{}, err
	}
	ctx := c.Request().Context()
	if (runID == 0) == (caseID == 0) {
		return trace.Run{}, grid.Errorf(grid.Invalid, "run", "give run=ID, or case=ID for the case's newest run")
	}
	if runID == 0 {
		latest, err := h.store.LatestRun(ctx, callerOf(c), caseID)
		if err != nil {
			return latest, err
		}
		runID = latest.ID
	}
	if export {
		return h.store.ExportRun(ctx, callerOf(c), runID)
	}
	return h.store.GetRun(ctx, callerOf(c), runID)
}

// handleContactsGet: GET /api/v1/trace/contacts?run=ID|case=ID[&format=csv], a
// stored run.
func (h *traceAPI) handleContactsGet(c echo.Context) error {
	if err := queryStrict(c, "run", "case", "format"); err != nil {
		return err
	}
	csvOut, err := wantCSV(c)
	if err != nil {
		return err
	}
	run, err := h.storedRun(c, csvOut)
	if err != nil {
		return err
	}
	if csvOut {
		return writeContactsCSV(c, http.StatusOK, run)
	}
	return c.JSON(http.StatusOK, toRunJSON(run))
}

// handleContactsCSV: GET /api/v1/trace/contacts.csv?run=ID|case=ID, the contact list
// for transfer teams, masked per role; every export is audited.
func (h *traceAPI) handleContactsCSV(c echo.Context) error {
	if err := queryStrict(c, "run", "case"); err != nil {
		return err
	}
	run, err := h.storedRun(c, true)
	if err != nil {
		return err
	}
	return writeContactsCSV(c, http.StatusOK, run)
}

// runJSON is a tracing run as answered.
type runJSON struct {
	Run      runInfoJSON                `json:"run"`
	Contacts []contactJSON              `json:"contacts"`
	Stays    *geojson.FeatureCollection `json:"stays"`
}

type runInfoJSON struct {
	ID          int64          `json:"id"`
	ComputedAt  time.Time      `json:"computed_at"`
	Case        subjectJSON    `json:"case"`
	From        time.Time      `json:"from"`
	To          time.Time      `json:"to"`
	RuleKind    string         `json:"rule_kind"`
	Rule        string         `json:"rule"`
	Degree      int            `json:"degree"`
	Params      map[string]any `json:"params"`
	StayRule    string         `json:"stay_rule"`
	CasePings   int            `json:"case_pings"`
	LoadedPings int            `json:"loaded_pings"`
	LoadMS      *float64       `json:"load_ms,omitempty"`
	SearchMS    *float64       `json:"search_ms,omitempty"`
}

type contactJSON struct {
	Rank         int                   `json:"rank"`
	Subject      subjectJSON           `json:"subject"`
	Degree       int                   `json:"degree"`
	Via          *int64                `json:"via"`
	Minutes      int                   `json:"minutes"`
	FirstAt      time.Time             `json:"first_at"`
	LastAt       time.Time             `json:"last_at"`
	MinDistanceM float64               `json:"min_distance_m"`
	Encounters   []trace.EncounterJSON `json:"encounters"`
}

func toRunJSON(run trace.Run) runJSON {
	out := runJSON{
		Run: runInfoJSON{ID: run.ID, ComputedAt: run.ComputedAt.UTC(), Case: toSubjectJSON(run.Case), From: run.Window.From, To: run.Window.To,
			RuleKind: string(run.Kind), Rule: run.Rule, Degree: run.Degree, Params: run.Params, StayRule: run.StayRule,
			CasePings: run.CasePings, LoadedPings: run.LoadedPings},
		Contacts: []contactJSON{},
		Stays:    staysFC(run.Stays),
	}
	if run.Load > 0 || run.Search > 0 {
		l, s := float64(run.Load.Microseconds())/1000, float64(run.Search.Microseconds())/1000
		out.Run.LoadMS, out.Run.SearchMS = &l, &s
	}
	for _, ct := range run.Contacts {
		cj := contactJSON{Rank: ct.Rank, Subject: toSubjectJSON(ct.Subject), Degree: ct.Degree, Minutes: ct.Minutes,
			FirstAt: ct.FirstAt.UTC(), LastAt: ct.LastAt.UTC(), MinDistanceM: ct.MinDistanceM, Encounters: trace.EncounterEvidence(ct.Encounters)}
		if ct.Via != 0 {
			via := ct.Via
			cj.Via = &via
		}
		out.Contacts = append(out.Contacts, cj)
	}
	return out
}

// contactsCSVHeader is the header of the contact list export.
const contactsCSVHeader = "rank,degree,via_subject_id,subject_id,ext_id,label,person_id,person_name,person_phone,person_id_number," +
	"minutes,first_at,last_at,min_distance_m,encounters,closest_lng,closest_lat,case_subject_id,run_id,rule"

// writeContactsCSV answers the run's contacts as CSV, one row per contact in rank
// order; personal fields come masked as the store read them for the caller.
func writeContactsCSV(c echo.Context, status int, run trace.Run) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(strings.Split(contactsCSVHeader, ","))
	for _, ct := range run.Contacts {
		closest := ct.Encounters[0]
		for _, e := range ct.Encounters {
			if e.MinDistanceM < closest.MinDistanceM {
				closest = e
			}
		}
		via, pid, pname, pphone, pidn := "", "", "", "", ""
		if ct.Via != 0 {
			via = strconv.FormatInt(ct.Via, 10)
		}
		if p := ct.Subject.Person; p != nil {
			pid, pname, pphone, pidn = strconv.FormatInt(p.ID, 10), p.Name, p.Phone, p.IDNumber
		}
		_ = w.Write([]string{
			strconv.Itoa(ct.Rank), strconv.Itoa(ct.Degree), via, strconv.FormatInt(ct.Subject.ID, 10), csvSafe(ct.Subject.ExtID), csvSafe(ct.Subject.Label),
			pid, csvSafe(pname), csvSafe(pphone), csvSafe(pidn),
			strconv.Itoa(ct.Minutes), ct.FirstAt.UTC().Format(time.RFC3339), ct.LastAt.UTC().Format(time.RFC3339),
			strconv.FormatFloat(ct.MinDistanceM, 'f', 2, 64), strconv.Itoa(len(ct.Encounters)),
			strconv.FormatFloat(closest.Where[0], 'f', 6, 64), strconv.FormatFloat(closest.Where[1], 'f', 6, 64),
			strconv.FormatInt(run.Case.ID, 10), strconv.FormatInt(run.ID, 10), run.Rule,
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write contacts csv: %w", err)
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="contacts-run-%d.csv"`, run.ID))
	return c.Blob(status, "text/csv; charset=utf-8", buf.Bytes())
}

// csvSafe defuses a value a spreadsheet would run as a formula (CSV injection):
// labels and ids come from uploaded files.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// subjectWindow reads what every per-subject read takes: the subject id from the
// path and the from/to window, refusing query parameters other than those and extra.
func subjectWindow(c echo.Context, extra ...string) (id int64, from, to *time.Time, err error) {
	if err = queryStrict(c, append([]string{"from", "to"}, extra...)...); err != nil {
		return 0, nil, nil, err
	}
	if id, err = pathID(c, "id"); err != nil {
		return 0, nil, nil, err
	}
	from, to, err = queryWindow(c)
	return id, from, to, err
}
