package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/track"
	"github.com/gridtrace/gridtrace/web"
)

// The access matrix: every route of the router × every role × a fixture inside and
// one outside the caller's jurisdiction, plus the unauthenticated caller. Each
// answer must be the one the role allows, and no answer (data, tile, CSV, error or
// websocket message) may carry anything from outside the jurisdiction.
//
// Every non-admin user of the matrix has jurisdiction {community 3} of
// ../grid/testdata/jurisdiction.sql: inside are households 1 and 2 (persons 1–3)
// and case 1; outside are households 3–6 (persons 4–8) and cases 2–4. Admin sees
// everything, so admin's "outside" answers are data like any other.
//
// To cover a new route, add ONE line to accessRules:
//
//		{method, path, roles, scope, inURL, outURL, inBody, outBody, personal}
//
//	  - method, path: exactly as registered (Echo's path with :params); the test fails
//	    for a registered route without a line.
//	  - roles: who may call it (anyone: allRoles; others get 403); public routes use
//	    public and are called without a session too.
//	  - scope: what the outside fixture answers to a non-admin: outNotFound (an id
//	    outside is 404), outForbidden (a write aimed outside is 403), outFiltered (a
//	    list, tile or count: 200 without the outside rows) or outSame (not bound to
//	    areas: trace subjects, policy, account; masking still follows the person's
//	    jurisdiction); outMissing where the route is not area-bound and the outside
//	    case is an id that exists for nobody (404 for admin too).
//	  - inURL, outURL: the request for each case; {placeholders} name fixture ids
//	    (see matrixFixture.expand).
//	  - inBody, outBody: the JSON body of unsafe methods ("" for none).
//	  - personal: the answer shows persons: the fields in clear must be exactly the
//	    role's grid.Unmasked ones, and every such answer must add an audit row with
//	    the route. A route not marked personal must never show a person in clear.
//
// For unsafe methods the inside case asserts the request passed authorisation and
// was processed (any status but 401, 403, 404, 405 and 5xx: a repeated write may
// fairly answer 409 or 400); reads must answer 200 (201 where noted by created).
var accessRules = []accessRule{
	{"GET", "/healthz", public, outSame, "/healthz", "/healthz", "", "", false},
	{"GET", "/readyz", public, outSame, "/readyz", "/readyz", "", "", false},
	{"GET", "/*", public, outSame, "/", "/index.html", "", "", false},
	{"POST", "/api/v1/login", public, outSame, "/api/v1/login", "/api/v1/login", `{"name":"nobody","password":"wrong-password"}`, `{"name":"","password":"x"}`, false},
	{"POST", "/api/v1/logout", allRoles, outSame, "/api/v1/logout", "/api/v1/logout", "", "", false},
	{"GET", "/api/v1/me", allRoles, outSame, "/api/v1/me", "/api/v1/me", "", "", false},
	{"PUT", "/api/v1/me/password", allRoles, outSame, "/api/v1/me/password", "/api/v1/me/password", `{"current_password":"x","new_password":"short"}`, `{"current_password":"x","new_password":"short"}`, false},
	{"GET", "/api/v1/live", allRoles, outFiltered, "/api/v1/live", "/api/v1/live", "", "", false},
	{"GET", "/api/v1/areas", allRoles, outNotFound, "/api/v1/areas", "/api/v1/areas?parent=5", "", "", false},
	{"GET", "/api/v1/areas/:id", allRoles, outNotFound, "/api/v1/areas/3", "/api/v1/areas/6", "", "", false},
	{"GET", "/api/v1/households", allRoles, outFiltered, "/api/v1/households?bbox={boxIn}", "/api/v1/households?bbox={boxOut}", "", "", true},
	{"GET", "/api/v1/households/:id", allRoles, outNotFound, "/api/v1/households/1", "/api/v1/households/4", "", "", true},
	{"POST", "/api/v1/households", writersOf(grid.HouseholdWriters()), outForbidden, "/api/v1/households", "/api/v1/households", `{"address":"新户","lng":121.43,"lat":31.13}`, `{"address":"新户","lng":121.53,"lat":31.13}`, true},
	{"PUT", "/api/v1/households/:id", writersOf(grid.HouseholdWriters()), outNotFound, "/api/v1/households/2", "/api/v1/households/4", `{"version":1,"address":"一社区2号","lng":121.42,"lat":31.12}`, `{"version":1,"address":"x","lng":121.51,"lat":31.11}`, true},
	{"GET", "/api/v1/cases", allRoles, outFiltered, "/api/v1/cases?bbox={boxIn}", "/api/v1/cases?bbox={boxOut}", "", "", false},
	{"GET", "/api/v1/h3", allRoles, outFiltered, "/api/v1/h3?res=8&bbox={boxIn}", "/api/v1/h3?res=8&bbox={boxOut}&metric=cases", "", "", false},
	{"GET", "/tiles/:layer/:z/:x/:y", allRoles, outFiltered, "/tiles/households/{tileIn}", "/tiles/households/{tileOut}", "", "", false},
	{"GET", "/tiles/:layer/:z/:x/:y", allRoles, outFiltered, "/tiles/cases/{tileIn}", "/tiles/cases/{tileCaseOut}", "", "", false},
	{"GET", "/tiles/:layer/:z/:x/:y", allRoles, outFiltered, "/tiles/areas/{tileIn}", "/tiles/areas/{tileOut}", "", "", false},
	{"GET", "/api/v1/zone-policy", allRoles, outSame, "/api/v1/zone-policy", "/api/v1/zone-policy", "", "", false},
	{"PUT", "/api/v1/zone-policy", writersOf(grid.ZonePolicyWriters()), outSame, "/api/v1/zone-policy", "/api/v1/zone-policy", `{"version":0}`, `{"version":0}`, false},
	{"GET", "/api/v1/zones", allRoles, outFiltered, "/api/v1/zones?bbox={boxIn}", "/api/v1/zones?bbox={boxOut}", "", "", false},
	{"POST", "/api/v1/zones", writersOf(grid.ZoneWriters()), outForbidden, "/api/v1/zones", "/api/v1/zones", `{"kind":"precaution","reason":"矩阵","geometry":{zoneGeomIn}}`, `{"kind":"precaution","reason":"矩阵","geometry":{zoneGeomOut}}`, false},
	{"POST", "/api/v1/zones/propose", writersOf(grid.ZoneWriters()), outFiltered, "/api/v1/zones/propose", "/api/v1/zones/propose", `{"case_ids":[1]}`, `{"case_ids":[2]}`, false},
	{"GET", "/api/v1/zones/dashboard", allRoles, outFiltered, "/api/v1/zones/dashboard", "/api/v1/zones/dashboard?level=community", "", "", false},
	{"GET", "/api/v1/zones/:id", allRoles, outNotFound, "/api/v1/zones/{zIn}", "/api/v1/zones/{zOut}", "", "", false},
	{"GET", "/api/v1/zones/:id/versions", allRoles, outNotFound, "/api/v1/zones/{zIn}/versions", "/api/v1/zones/{zOut}/versions", "", "", false},
	{"GET", "/api/v1/zones/:id/households", allRoles, outNotFound, "/api/v1/zones/{zIn}/households", "/api/v1/zones/{zOut}/households", "", "", true},
	{"GET", "/api/v1/zones/:id/summary", allRoles, outNotFound, "/api/v1/zones/{zIn}/summary", "/api/v1/zones/{zOut}/summary", "", "", true},
	{"GET", "/api/v1/zones/:id/summary", allRoles, outNotFound, "/api/v1/zones/{zIn}/summary?format=csv", "/api/v1/zones/{zOut}/summary?format=csv", "", "", true},
	{"PUT", "/api/v1/zones/:id", writersOf(grid.ZoneWriters()), outNotFound, "/api/v1/zones/{zIn}", "/api/v1/zones/{zOut}", `{"version":1,"reason":"矩阵"}`, `{"version":1,"reason":"矩阵"}`, false},
	{"POST", "/api/v1/zones/:id/accept", writersOf(grid.ZoneWriters()), outNotFound, "/api/v1/zones/{zIn}/accept", "/api/v1/zones/{zOut}/accept", `{"version":1}`, `{"version":1}`, false},
	{"POST", "/api/v1/zones/:id/reject", writersOf(grid.ZoneWriters()), outNotFound, "/api/v1/zones/{zIn}/reject", "/api/v1/zones/{zOut}/reject", `{"version":1,"reason":"矩阵"}`, `{"version":1,"reason":"矩阵"}`, false},
	{"POST", "/api/v1/zones/:id/downgrade", writersOf(grid.ZoneWriters()), outNotFound, "/api/v1/zones/{zIn}/downgrade", "/api/v1/zones/{zOut}/downgrade", `{"version":1,"reason":"矩阵"}`, `{"version":1,"reason":"矩阵"}`, false},
	{"POST", "/api/v1/zones/:id/lift", writersOf(grid.ZoneWriters()), outNotFound, "/api/v1/zones/{zIn}/lift", "/api/v1/zones/{zOut}/lift", `{"version":1,"reason":"矩阵"}`, `{"version":1,"reason":"矩阵"}`, false},
	{"DELETE", "/api/v1/zones/:id", writersOf(grid.ZoneWriters()), outNotFound, "/api/v1/zones/{zIn}?version=1&reason=x", "/api/v1/zones/{zOut}?version=1&reason=x", "", "", false},
	{"POST", "/api/v1/pings", writersOf(trace.Writers()), outSame, "/api/v1/pings?format=csv", "/api/v1/pings?format=csv", "{pings}", "{pings}", false},
	{"GET", "/api/v1/trace/subjects", writersOf(trace.Readers()), outSame, "/api/v1/trace/subjects", "/api/v1/trace/subjects", "", "", true},
	{"PUT", "/api/v1/trace/subjects/:id", writersOf(trace.Writers()), outSame, "/api/v1/trace/subjects/{sIn}", "/api/v1/trace/subjects/{sOut}", `{"label":"in","person_id":1}`, `{"label":"out","person_id":6}`, true},
	{"GET", "/api/v1/trace/subjects/:id/track", writersOf(trace.Readers()), outSame, "/api/v1/trace/subjects/{sIn}/track", "/api/v1/trace/subjects/{sOut}/track", "", "", true},
	{"GET", "/api/v1/trace/subjects/:id/stays", writersOf(trace.Readers()), outSame, "/api/v1/trace/subjects/{sIn}/stays", "/api/v1/trace/subjects/{sOut}/stays", "", "", true},
	{"POST", "/api/v1/trace/contacts", writersOf(trace.Readers()), outSame, "/api/v1/trace/contacts", "/api/v1/trace/contacts?format=csv", `{"case":{sCase}}`, `{"case":{sCase}}`, true},
	{"GET", "/api/v1/trace/contacts", writersOf(trace.Readers()), outSame, "/api/v1/trace/contacts?run={run}", "/api/v1/trace/contacts?case={sCase}&format=csv", "", "", true},
	{"GET", "/api/v1/trace/contacts.csv", writersOf(trace.Readers()), outSame, "/api/v1/trace/contacts.csv?run={run}", "/api/v1/trace/contacts.csv?case={sCase}", "", "", true},
	// Sampling (issue 4): points, rounds, swabs and pools, coverage, the missing list
	// and door-to-door routes. Writes come in an order that keeps every inside
	// fixture alive for the next role: the point is in use by the open round (409),
	// and the round is closed last.
	{"GET", "/api/v1/sampling/points", allRoles, outFiltered, "/api/v1/sampling/points", "/api/v1/sampling/points?bbox={boxOut}", "", "", false},
	{"GET", "/api/v1/sampling/points/:id", allRoles, outNotFound, "/api/v1/sampling/points/{ptIn}", "/api/v1/sampling/points/{ptOut}", "", "", false},
	{"POST", "/api/v1/sampling/points", writersOf(grid.SamplingManagers()), outForbidden, "/api/v1/sampling/points", "/api/v1/sampling/points", `{"name":"矩阵点","lng":121.43,"lat":31.13,"capacity_per_hour":60}`, `{"name":"矩阵点","lng":121.53,"lat":31.13,"capacity_per_hour":60}`, false},
	{"PUT", "/api/v1/sampling/points/:id", writersOf(grid.SamplingManagers()), outNotFound, "/api/v1/sampling/points/{ptIn}", "/api/v1/sampling/points/{ptOut}", `{"name":"一社区采样点","lng":121.415,"lat":31.115,"capacity_per_hour":60,"grid_ids":[3,10],"version":1}`, `{"name":"矩阵点","lng":121.515,"lat":31.115,"capacity_per_hour":60,"version":1}`, false},
	{"DELETE", "/api/v1/sampling/points/:id", writersOf(grid.SamplingManagers()), outNotFound, "/api/v1/sampling/points/{ptIn}", "/api/v1/sampling/points/{ptOut}", "", "", false},
	{"GET", "/api/v1/sampling/rounds", allRoles, outFiltered, "/api/v1/sampling/rounds", "/api/v1/sampling/rounds", "", "", false},
	{"GET", "/api/v1/sampling/rounds/:id", allRoles, outNotFound, "/api/v1/sampling/rounds/{rIn}", "/api/v1/sampling/rounds/{rOut}", "", "", false},
	{"POST", "/api/v1/sampling/rounds", writersOf(grid.SamplingManagers()), outNotFound, "/api/v1/sampling/rounds", "/api/v1/sampling/rounds", `{"name":"矩阵轮","area_id":3,"date":"2022-04-11"}`, `{"name":"矩阵轮","area_id":6,"date":"2022-04-11"}`, false},
	{"GET", "/api/v1/sampling/rounds/:id/assignments", allRoles, outNotFound, "/api/v1/sampling/rounds/{rIn}/assignments", "/api/v1/sampling/rounds/{rOut}/assignments?grid_id=6", "", "", false},
	{"POST", "/api/v1/sampling/rounds/:id/swabs", writersOf(grid.SamplingRecorders()), outNotFound, "/api/v1/sampling/rounds/{rIn}/swabs", "/api/v1/sampling/rounds/{rOut}/swabs", `{"person_id":2,"tube_id":"T-M-IN","pool_id":"P-M-IN"}`, `{"person_id":6,"tube_id":"T-M-OUT","pool_id":"P-M-OUT"}`, false},
	{"GET", "/api/v1/sampling/rounds/:id/pools", allRoles, outNotFound, "/api/v1/sampling/rounds/{rIn}/pools", "/api/v1/sampling/rounds/{rOut}/pools?result=pending", "", "", false},
	{"POST", "/api/v1/sampling/pools/:pool_id/result", writersOf(grid.SamplingManagers()), outNotFound, "/api/v1/sampling/pools/{poolIn}/result", "/api/v1/sampling/pools/{poolOut}/result", `{"result":"positive"}`, `{"result":"positive"}`, true},
	{"GET", "/api/v1/sampling/rounds/:id/coverage", allRoles, outNotFound, "/api/v1/sampling/rounds/{rIn}/coverage", "/api/v1/sampling/rounds/{rOut}/coverage?level=community", "", "", false},
	{"GET", "/api/v1/sampling/rounds/:id/coverage", allRoles, outNotFound, "/api/v1/sampling/rounds/{rIn}/coverage?level=district", "/api/v1/sampling/rounds/{rOut}/coverage?level=street", "", "", false},
	{"GET", "/api/v1/sampling/rounds/:id/missing", writersOf(grid.SamplingNameReaders()), outNotFound, "/api/v1/sampling/rounds/{rIn}/missing", "/api/v1/sampling/rounds/{rOut}/missing?area_id=6", "", "", true},
	{"GET", "/api/v1/sampling/rounds/:id/routes", allRoles, outNotFound, "/api/v1/sampling/rounds/{rIn}/routes", "/api/v1/sampling/rounds/{rOut}/routes", "", "", false},
	{"GET", "/api/v1/sampling/my-route", allRoles, outSame, "/api/v1/sampling/my-route", "/api/v1/sampling/my-route", "", "", false},
	{"POST", "/api/v1/sampling/rounds/:id/routes", writersOf(grid.SamplingManagers()), outNotFound, "/api/v1/sampling/rounds/{rIn}/routes", "/api/v1/sampling/rounds/{rOut}/routes", `{"teams":[{"name":"矩阵队","depot":{"lng":121.415,"lat":31.115}}],"seed":1,"budget_ms":50}`, `{"teams":[{"name":"矩阵队","depot":{"lng":121.515,"lat":31.115}}],"seed":1,"budget_ms":50}`, false},
	{"POST", "/api/v1/sampling/rounds/:id/stops/:household_id", writersOf(grid.SamplingRecorders()), outNotFound, "/api/v1/sampling/rounds/{rIn}/stops/1", "/api/v1/sampling/rounds/{rOut}/stops/4", `{"outcome":"done"}`, `{"outcome":"done"}`, false},
	{"POST", "/api/v1/sampling/rounds/:id/close", writersOf(grid.SamplingManagers()), outNotFound, "/api/v1/sampling/rounds/{rIn}/close", "/api/v1/sampling/rounds/{rOut}/close", "", "", false},
	// Care: isolation and check-ins, sites and transfers, the vulnerable, deliveries,
	// alerts; then the daily report.
	{"GET", "/api/v1/care-policy", allRoles, outSame, "/api/v1/care-policy", "/api/v1/care-policy", "", "", false},
	{"PUT", "/api/v1/care-policy", writersOf(grid.CarePolicyWriters()), outSame, "/api/v1/care-policy", "/api/v1/care-policy", `{"version":0}`, `{"version":0}`, false},
	{"POST", "/api/v1/isolations/eligibility", writersOf(grid.CareWriters()), outNotFound, "/api/v1/isolations/eligibility", "/api/v1/isolations/eligibility", `{"person_id":1}`, `{"person_id":6}`, false},
	{"GET", "/api/v1/isolations", allRoles, outFiltered, "/api/v1/isolations", "/api/v1/isolations?area_id=6&status=all", "", "", true},
	{"GET", "/api/v1/isolations/:id", allRoles, outNotFound, "/api/v1/isolations/{isoIn}", "/api/v1/isolations/{isoOut}", "", "", true},
	{"GET", "/api/v1/isolations/:id/checkins", allRoles, outNotFound, "/api/v1/isolations/{isoIn}/checkins", "/api/v1/isolations/{isoOut}/checkins", "", "", false},
	{"POST", "/api/v1/isolations", writersOf(grid.CareWriters()), outNotFound, "/api/v1/isolations", "/api/v1/isolations", `{"person_id":2,"kind":"health_monitoring","reason":"close_contact"}`, `{"person_id":6,"kind":"health_monitoring","reason":"close_contact"}`, true},
	{"POST", "/api/v1/isolations/:id/checkins", writersOf(grid.CareWriters()), outNotFound, "/api/v1/isolations/{isoIn}/checkins", "/api/v1/isolations/{isoOut}/checkins", `{"temperature_c":36.6}`, `{"temperature_c":36.6}`, false},
	{"GET", "/api/v1/sites", allRoles, outFiltered, "/api/v1/sites", "/api/v1/sites?free=true", "", "", false},
	{"POST", "/api/v1/sites", writersOf(grid.CommandWriters()), outForbidden, "/api/v1/sites", "/api/v1/sites", `{"name":"矩阵隔离点","location":[121.43,31.13],"rooms":3}`, `{"name":"矩阵隔离点","location":[121.53,31.13],"rooms":3}`, false},
	{"GET", "/api/v1/transfers", allRoles, outFiltered, "/api/v1/transfers", "/api/v1/transfers?status=requested", "", "", true},
	{"POST", "/api/v1/transfers", writersOf(grid.CommandWriters()), outNotFound, "/api/v1/transfers", "/api/v1/transfers", `{"person_id":3,"site_id":{siteIn},"reason":"close_contact"}`, `{"person_id":6,"site_id":{siteOut},"reason":"close_contact"}`, false},
	{"POST", "/api/v1/transfers/:id/depart", writersOf(grid.CommandWriters()), outNotFound, "/api/v1/transfers/{trIn}/depart", "/api/v1/transfers/{trOut}/depart", "", "", false},
	{"POST", "/api/v1/transfers/:id/arrive", writersOf(grid.CommandWriters()), outNotFound, "/api/v1/transfers/{trIn}/arrive", "/api/v1/transfers/{trOut}/arrive", "", "", false},
	{"POST", "/api/v1/transfers/:id/cancel", writersOf(grid.CommandWriters()), outNotFound, "/api/v1/transfers/{trIn}/cancel", "/api/v1/transfers/{trOut}/cancel", "", "", false},
	{"GET", "/api/v1/vulnerable", allRoles, outFiltered, "/api/v1/vulnerable", "/api/v1/vulnerable?due=true", "", "", true},
	{"PUT", "/api/v1/vulnerable/:id/worker", writersOf(grid.CommandWriters()), outNotFound, "/api/v1/vulnerable/1/worker", "/api/v1/vulnerable/6/worker", `{"worker_id":{uWorker}}`, `{"worker_id":{uWorker}}`, false},
	{"POST", "/api/v1/vulnerable/:id/contacts", writersOf(grid.CareWriters()), outNotFound, "/api/v1/vulnerable/1/contacts", "/api/v1/vulnerable/6/contacts", `{"needs":["food"]}`, `{"needs":["food"]}`, false},
	{"GET", "/api/v1/deliveries", allRoles, outFiltered, "/api/v1/deliveries", "/api/v1/deliveries?status=requested", "", "", false},
	{"POST", "/api/v1/deliveries", writersOf(grid.CareWriters()), outNotFound, "/api/v1/deliveries", "/api/v1/deliveries", `{"household_id":1,"items":["food"]}`, `{"household_id":4,"items":["food"]}`, false},
	{"POST", "/api/v1/deliveries/:id/dispatch", writersOf(grid.CareWriters()), outNotFound, "/api/v1/deliveries/{dIn}/dispatch", "/api/v1/deliveries/{dOut}/dispatch", "", "", false},
	{"POST", "/api/v1/deliveries/:id/deliver", writersOf(grid.CareWriters()), outNotFound, "/api/v1/deliveries/{dIn}/deliver", "/api/v1/deliveries/{dOut}/deliver", "", "", false},
	{"POST", "/api/v1/deliveries/:id/cancel", writersOf(grid.CareWriters()), outNotFound, "/api/v1/deliveries/{dIn}/cancel", "/api/v1/deliveries/{dOut}/cancel", "", "", false},
	{"GET", "/api/v1/alerts", allRoles, outFiltered, "/api/v1/alerts", "/api/v1/alerts?status=all", "", "", false},
	{"POST", "/api/v1/alerts/:id/acknowledge", writersOf(grid.CareWriters()), outNotFound, "/api/v1/alerts/{aIn}/acknowledge", "/api/v1/alerts/{aOut}/acknowledge", "", "", false},
	{"POST", "/api/v1/alerts/:id/close", writersOf(grid.CareWriters()), outNotFound, "/api/v1/alerts/{aIn}/close", "/api/v1/alerts/{aOut}/close", "", "", false},
	{"GET", "/api/v1/reports/daily", allRoles, outFiltered, "/api/v1/reports/daily?date={today}&level=community", "/api/v1/reports/daily?date={today}&level=street", "", "", false},
	{"GET", "/api/v1/reports/daily", allRoles, outFiltered, "/api/v1/reports/daily?date={today}&level=grid&format=csv", "/api/v1/reports/daily?date={today}&level=community&format=csv", "", "", false},
	{"GET", "/api/v1/reports/daily", allRoles, outFiltered, "/api/v1/reports/daily?date={today}&level=grid&format=html", "/api/v1/reports/daily?date={today}&level=district&format=html", "", "", false},
	{"GET", "/api/v1/reports/daily/missing", allRoles, outFiltered, "/api/v1/reports/daily/missing?date={today}", "/api/v1/reports/daily/missing?date=2022-04-04", "", "", false},
	{"POST", "/api/v1/reports/daily/submissions", writersOf(grid.CareWriters()), outNotFound, "/api/v1/reports/daily/submissions", "/api/v1/reports/daily/submissions", `{"area_id":10,"date":"{today}"}`, `{"area_id":11,"date":"{today}"}`, false},
	{"GET", "/api/v1/audit", adminOnly, outSame, "/api/v1/audit?entity=person", "/api/v1/audit?user={uTarget}", "", "", false},
	{"POST", "/api/v1/users/:id/revoke-sessions", adminOnly, outMissing, "/api/v1/users/{uTarget}/revoke-sessions", "/api/v1/users/999999/revoke-sessions", "", "", false},
	{"POST", "/api/v1/users/:id/disable", adminOnly, outMissing, "/api/v1/users/{uTarget}/disable", "/api/v1/users/999999/disable", "", "", false},
	{"POST", "/api/v1/users/:id/enable", adminOnly, outMissing, "/api/v1/users/{uTarget}/enable", "/api/v1/users/999999/enable", "", "", false},
	{"GET", "/api/v1/users", writersOf(grid.UserReaders()), outFiltered, "/api/v1/users", "/api/v1/users?role=sampler", "", "", false},
}

// accessRule is one line of the matrix; see accessRules.
type accessRule struct {
	method, path    string
	roles           []grid.Role
	scope           outScope
	inURL, outURL   string
	inBody, outBody string
	personal        bool
}

// outScope is what a non-admin gets for the fixture outside their jurisdiction.
type outScope int

const (
	outSame      outScope = iota // not bound to areas: like the inside case
	outNotFound                  // an id outside answers 404
	outForbidden                 // a write aimed outside answers 403
	outFiltered                  // 200 without the outside rows
	outMissing                   // the outside fixture exists for nobody: 404 for admin too
)

var (
	allRoles  = grid.Roles
	adminOnly = []grid.Role{grid.Admin}
	// public marks a route served without a session.
	public []grid.Role
)

func writersOf(rs []grid.Role) []grid.Role { return rs }

// outsideMarkers are strings only the fixture outside community 3 holds: names,
// phones and ID numbers of persons 4–8, addresses of households 3–6 and cases 2–4,
// the outside areas' names and the outside zone's reason. None may reach a
// non-admin of community 3, in any answer.
var outsideMarkers = []string{
	"赵六", "钱七", "孙八", "周九", "13600003333", "13500004444", "13400005555", "13300006666",
	"310101197004041237", "310101196005051238", "310101195006061239", "310101194007071230",
	"二社区", "三社区", "乙街道", "区外", "甲街道无社区", "封控区外理由",
}

// clearMarkers are the inside person 1's fields in clear, by MaskPolicy field.
var clearMarkers = []struct {
	field string
	value string
	shown func(grid.MaskPolicy) bool
}{
	{"name", "张三丰", func(p grid.MaskPolicy) bool { return p.Name }},
	{"phone", "13812345678", func(p grid.MaskPolicy) bool { return p.Phone }},
	{"id_number", "310101199001021234", func(p grid.MaskPolicy) bool { return p.IDNumber }},
	{"birth_date", "1990-01-02", func(p grid.MaskPolicy) bool { return p.BirthDate }},
}

// matrixFixture is the live server on the jurisdiction fixture with one user per
// role, zones and trace subjects inside and outside.
type matrixFixture struct {
	gridFixture
	live    *liveServer
	users   map[grid.Role]int64
	vars    map[string]string
	session int
}

func newMatrixFixture(t *testing.T) *matrixFixture {
	t.Helper()
	g := newGridFixture(t)
	ls := startLiveWeb(t, g.pool, web.FS())
	g.url = ls.url
	f := &matrixFixture{gridFixture: g, live: ls, users: map[grid.Role]int64{}, vars: map[string]string{}}
	ctx := context.Background()
	for _, r := range grid.Roles {
		var areas []int64
		if r != grid.Admin {
			areas = []int64{3}
		}
		f.users[r] = f.mkUser(t, "m-"+string(r), r, areas)
	}
	f.vars["uTarget"] = fmt.Sprint(f.mkUser(t, "m-target", grid.GridWorker, []int64{3}))
	// A sampler of community 6, whose name is a marker: the user list must not show
	// them to a caller of community 3.
	f.mkUser(t, "三社区采样员", grid.Sampler, []int64{6})
	admin := f.token(t, grid.Admin)
	// Sampling and care first: zones would make every household door to door.
	f.mkSamplingCare(t, admin)

	// Zones: one in community 3, one in community 6 whose reason is a marker.
	mkZone := func(geom, reason string) string {
		var out struct {
			ID int64 `json:"id"`
		}
		var raw map[string]any
		code := do(t, "POST", f.url+"/api/v1/zones", admin, `{"kind":"sealed","reason":"`+reason+`","geometry":`+geom+`}`, &raw)
		if code != http.StatusCreated {
			t.Fatalf("fixture zone: %d %v", code, raw)
		}
		out.ID = int64(raw["properties"].(map[string]any)["id"].(float64))
		return fmt.Sprint(out.ID)
	}
	f.vars["zoneGeomIn"] = sq(121.405, 31.105, 121.425, 31.125)
	f.vars["zoneGeomOut"] = sq(121.505, 31.105, 121.515, 31.115)
	f.vars["zIn"] = mkZone(f.vars["zoneGeomIn"], "一社区封控")
	f.vars["zOut"] = mkZone(f.vars["zoneGeomOut"], "封控区外理由")

	// Trace: a case and two contacts beside it for 40 minutes, the contacts linked
	// to person 1 (inside) and person 6 (outside).
	var b strings.Builder
	b.WriteString(track.CSVHeader + "\n")
	t0 := time.Date(2022, 4, 4, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		at := t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		for j, who := range []string{"m-case", "m-in", "m-out"} {
			fmt.Fprintf(&b, "%s,%s,%.6f,%.6f\n", who, at, 31.11+float64(j)*0.00002, 121.41)
		}
	}
	f.vars["pings"] = b.String()
	if code, body := send(t, "POST", f.url+"/api/v1/pings?format=csv", admin, "", b.String()); code != http.StatusCreated {
		t.Fatalf("fixture pings: %d %s", code, body)
	}
	subj := map[string]string{}
	rows, err := f.pool.Query(ctx, `SELECT ext_id, id FROM trace_subjects`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ext string
		var id int64
		if err := rows.Scan(&ext, &id); err != nil {
			t.Fatal(err)
		}
		subj[ext] = fmt.Sprint(id)
	}
	rows.Close()
	f.vars["sCase"], f.vars["sIn"], f.vars["sOut"] = subj["m-case"], subj["m-in"], subj["m-out"]
	for who, person := range map[string]int{"sIn": 1, "sOut": 6} {
		if code, body := send(t, "PUT", f.url+"/api/v1/trace/subjects/"+f.vars[who], admin, "application/json", fmt.Sprintf(`{"label":"%s","person_id":%d}`, who, person)); code != http.StatusOK {
			t.Fatalf("link %s: %d %s", who, code, body)
		}
	}
	var run runAnswer
	if code := do(t, "POST", f.url+"/api/v1/trace/contacts", admin, `{"case":`+f.vars["sCase"]+`}`, &run); code != http.StatusCreated || len(run.Contacts) != 2 {
		t.Fatalf("fixture run: %d %+v", code, run)
	}
	f.vars["run"] = fmt.Sprint(run.Run.ID)

	f.vars["boxIn"] = "121.40,31.10,121.45,31.15"
	f.vars["boxOut"] = "121.50,31.10,121.55,31.15"
	f.vars["tileIn"] = strings.TrimPrefix(tilePath("x", orb.Point{121.41, 31.11}, 14), "/tiles/x/")
	f.vars["tileOut"] = strings.TrimPrefix(tilePath("x", orb.Point{121.51, 31.11}, 14), "/tiles/x/")
	f.vars["tileCaseOut"] = strings.TrimPrefix(tilePath("x", orb.Point{121.52, 31.12}, 14), "/tiles/x/")
	return f
}

// mkSamplingCare adds the sampling and care fixture, one of each inside community 3
// and outside it (community 6, every name holding the marker 三社区), written as
// admin through the API: grids 10 (in 3) and 11 (in 6) for report submissions;
// persons 1 and 6 disabled (vulnerable, door to door); a sampling point and a round
// on each side, the inside round's household 2 sent to the point (so the point
// cannot be deleted while it is open) and person 3 swabbed into pool poolIn, person
// 1 left missing; door-to-door routes with a team for every matrix user, the
// outside round newer than the inside one; a health-monitoring spell of person 1
// and of person 6 with a feverish check-in (alerts aIn, aOut); a site on each side
// (the outside one full, its alert naming it), transfers of persons 1 and 6, a
// contact, a delivery and a report submission on each side.
func (f *matrixFixture) mkSamplingCare(t *testing.T, admin string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO areas (id, parent_id, level, name, code, ancestors, geom) VALUES
		  (10, 3, 'grid', '一社区一网格', '测试区/甲街道/一社区/一网格', '{1,2,3,10}', ST_Multi(ST_MakeEnvelope(121.40, 31.10, 121.425, 31.125, 4326))),
		  (11, 6, 'grid', '三社区一网格', '测试区/乙街道/三社区/一网格', '{1,5,6,11}', ST_Multi(ST_MakeEnvelope(121.50, 31.10, 121.525, 31.125, 4326)))`,
		`UPDATE persons SET vulnerability = '{disabled}' WHERE id IN (1, 6)`,
	} {
		if _, err := f.pool.Exec(ctx, q); err != nil {
			t.Fatalf("fixture: %s: %v", q, err)
		}
	}
	call := func(method, url, body string) map[string]any {
		t.Helper()
		var out map[string]any
		if code := do(t, method, f.url+url, admin, f.expand(body), &out); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("fixture %s %s: %d %v", method, url, code, out)
		}
		return out
	}
	id := func(m map[string]any, key string) string { return fmt.Sprint(int64(m[key].(float64))) }
	f.vars["today"] = time.Now().UTC().Format(time.DateOnly)
	f.vars["uWorker"] = fmt.Sprint(f.users[grid.GridWorker])

	// Care.
	for _, side := range []struct{ suffix, person, household, site, loc, rooms, grid string }{
		{"In", "1", "1", "一社区隔离点", "[121.435,31.135]", "5", "10"},
		{"Out", "6", "4", "三社区隔离点", "[121.535,31.135]", "1", "11"},
	} {
		iso := call("POST", "/api/v1/isolations", `{"person_id":`+side.person+`,"kind":"health_monitoring","reason":"close_contact"}`)
		f.vars["iso"+side.suffix] = id(iso, "id")
		k := call("POST", "/api/v1/isolations/"+f.vars["iso"+side.suffix]+"/checkins", `{"temperature_c":38.6}`)
		f.vars["a"+side.suffix] = id(k, "alert_id")
		site := call("POST", "/api/v1/sites", `{"name":"`+side.site+`","address":"`+side.site+`路1号","location":`+side.loc+`,"rooms":`+side.rooms+`}`)
		f.vars["site"+side.suffix] = id(site, "id")
		tr := call("POST", "/api/v1/transfers", `{"person_id":`+side.person+`,"site_id":`+f.vars["site"+side.suffix]+`,"vehicle":"`+side.site+`车"}`)
		f.vars["tr"+side.suffix] = id(tr, "id")
		call("POST", "/api/v1/vulnerable/"+side.person+"/contacts", `{"needs":["food"],"note":"`+side.site+`联系"}`)
		d := call("POST", "/api/v1/deliveries", `{"household_id":`+side.household+`,"items":["food"],"note":"`+side.site+`送菜"}`)
		f.vars["d"+side.suffix] = id(d, "id")
		call("POST", "/api/v1/reports/daily/submissions", `{"area_id":`+side.grid+`,"date":"{today}"}`)
	}
	call("PUT", "/api/v1/vulnerable/1/worker", `{"worker_id":{uWorker}}`)

	// Sampling.
	for _, side := range []struct{ suffix, name, lng, grids, area, person string }{
		{"In", "一社区", "121.415", "[3,10]", "3", "3"},
		{"Out", "三社区", "121.515", "[6,11]", "6", "6"},
	} {
		pt := call("POST", "/api/v1/sampling/points", `{"name":"`+side.name+`采样点","lng":`+side.lng+`,"lat":31.115,"capacity_per_hour":60,"grid_ids":`+side.grids+`}`)
		f.vars["pt"+side.suffix] = id(pt, "id")
		r := call("POST", "/api/v1/sampling/rounds", `{"name":"`+side.name+`全员核酸","area_id":`+side.area+`,"date":"2022-04-10"}`)
		f.vars["r"+side.suffix] = id(r, "id")
		f.vars["pool"+side.suffix] = "P-" + strings.ToUpper(side.suffix) + "-1"
		call("POST", "/api/v1/sampling/rounds/"+f.vars["r"+side.suffix]+"/swabs",
			`{"person_id":`+side.person+`,"tube_id":"T-`+strings.ToUpper(side.suffix)+`-1","pool_id":"`+f.vars["pool"+side.suffix]+`"}`)
		var teams []string
		for _, role := range grid.Roles {
			teams = append(teams, fmt.Sprintf(`{"name":"%s队%s","user_id":%d,"depot":{"lng":%s,"lat":31.115}}`, side.name, role, f.users[role], side.lng))
		}
		call("POST", "/api/v1/sampling/rounds/"+f.vars["r"+side.suffix]+"/routes", `{"teams":[`+strings.Join(teams, ",")+`],"seed":1,"budget_ms":50}`)
	}
	var as struct {
		Assignments []struct {
			HouseholdID int64  `json:"household_id"`
			PointID     *int64 `json:"point_id"`
			DoorToDoor  bool   `json:"door_to_door"`
		}
	}
	do(t, "GET", f.url+"/api/v1/sampling/rounds/"+f.vars["rIn"]+"/assignments", admin, "", &as)
	if len(as.Assignments) != 2 || !as.Assignments[1].DoorToDoor || as.Assignments[0].PointID == nil || fmt.Sprint(*as.Assignments[0].PointID) != f.vars["ptIn"] {
		t.Fatalf("fixture round: assignments %+v, want household 2 at point %s and 1 door to door", as.Assignments, f.vars["ptIn"])
	}
}

// mkUser writes a user with a jurisdiction (no password: sessions are written
// directly, login has its own tests).
func (f *matrixFixture) mkUser(t *testing.T, name string, role grid.Role, areas []int64) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	if err := f.pool.QueryRow(ctx, `INSERT INTO users (name, password_hash, role) VALUES ($1, 'no-login', $2) RETURNING id`, name, string(role)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO user_areas (user_id, area_id) SELECT $1, unnest($2::bigint[])`, id, areas); err != nil {
		t.Fatal(err)
	}
	return id
}

// token opens a fresh session for role's matrix user: each request gets its own,
// so logout and password changes in the matrix end only their own.
func (f *matrixFixture) token(t *testing.T, role grid.Role) string {
	t.Helper()
	f.session++
	tok := fmt.Sprintf("matrix-%s-%d", role, f.session)
	sum := sha256.Sum256([]byte(tok))
	if _, err := f.pool.Exec(context.Background(), `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`,
		sum[:], f.users[role]); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *matrixFixture) expand(s string) string {
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// auditCount counts the audit rows of user on route.
func (f *matrixFixture) auditCount(t *testing.T, user int64, route string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE user_id = $1 AND route = $2`, user, route).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// call sends one request of the matrix and returns status and body.
func (f *matrixFixture) call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		ct := "application/json"
		if strings.HasPrefix(body, track.CSVHeader) {
			ct = "text/csv"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, b := sendRequest(t, req, token)
	if strings.HasPrefix(url, "/api/") && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, url, resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, b
}

func safeMethod(m string) bool { return m == "GET" || m == "HEAD" }

// TestAccessMatrix runs the matrix; see accessRules.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)

	// Every registered route has a rule, and every rule a registered route.
	srvRoutes := map[string]bool{}
	for _, r := range f.routes(t) {
		srvRoutes[r] = true
	}
	ruled := map[string]bool{}
	for _, r := range accessRules {
		ruled[r.method+" "+r.path] = true
	}
	var missing, stale []string
	for r := range srvRoutes {
		if !ruled[r] {
			missing = append(missing, r)
		}
	}
	for r := range ruled {
		if !srvRoutes[r] {
			stale = append(stale, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 || len(stale) > 0 {
		t.Fatalf("routes without an access rule: %v; rules without a route: %v", missing, stale)
	}

	// Reads first, then writes, so a write (a lifted zone, a disabled user) cannot
	// change what a later read of the matrix sees.
	rules := slices.Clone(accessRules)
	slices.SortStableFunc(rules, func(a, b accessRule) int {
		sa, sb := safeMethod(a.method), safeMethod(b.method)
		switch {
		case sa && !sb:
			return -1
		case !sa && sb:
			return 1
		}
		return 0
	})
	cases := 0
	for _, r := range rules {
		name := r.method + " " + r.path
		if r.path == "/api/v1/live" {
			cases += f.liveMatrix(t)
			continue
		}
		// Unauthenticated.
		for _, inside := range []bool{true, false} {
			url, body := f.expand(r.inURL), f.expand(r.inBody)
			if !inside {
				url, body = f.expand(r.outURL), f.expand(r.outBody)
			}
			code, b := f.call(t, r.method, url, "", body)
			cases++
			f.checkLeak(t, "", name+" "+url, b)
			if r.roles == nil {
				if code >= 500 || code == http.StatusForbidden {
					t.Errorf("public %s %s: %d %s", r.method, url, code, b)
				}
			} else if code != http.StatusUnauthorized {
				t.Errorf("%s without a session: %d, want 401", name, code)
			}
		}
		if r.roles == nil {
			continue
		}
		for _, role := range grid.Roles {
			for _, inside := range []bool{true, false} {
				cases++
				url, body := f.expand(r.inURL), f.expand(r.inBody)
				where := "inside"
				if !inside {
					url, body, where = f.expand(r.outURL), f.expand(r.outBody), "outside"
				}
				what := fmt.Sprintf("%s %s as %s (%s)", r.method, url, role, where)
				before := f.auditCount(t, f.users[role], name)
				code, b := f.call(t, r.method, url, f.token(t, role), body)
				f.checkLeak(t, role, what, b)
				if strings.HasPrefix(r.path, "/tiles/") && code == http.StatusOK {
					f.checkTile(t, role, what, b)
				}
				allowed := slices.Contains(r.roles, role)
				want := f.expect(r, role, inside, allowed)
				if !want(code) {
					t.Errorf("%s: %d %.300s", what, code, b)
					continue
				}
				// Masking: clear fields of person 1 only on personal routes and only
				// those the role may see; every clear answer audited.
				shownAny := false
				pol := grid.Unmasked(role)
				for _, m := range clearMarkers {
					has := bytes.Contains(b, []byte(m.value))
					shownAny = shownAny || has
					if has && !(r.personal && m.shown(pol)) {
						t.Errorf("%s: shows %s in clear", what, m.field)
					}
					if !has && r.personal && inside && m.shown(pol) && code == http.StatusOK && safeMethod(r.method) && showsField(r, m.field) {
						t.Errorf("%s: %s masked for a role that may see it", what, m.field)
					}
				}
				if role == grid.Admin && bytes.Contains(b, []byte("钱七")) {
					shownAny = true
				}
				if shownAny && f.auditCount(t, f.users[role], name) == before {
					t.Errorf("%s: personal data in clear without an audit row for %q", what, name)
				}
			}
		}
	}
	t.Logf("access matrix: %d routes, %d rules × %d roles × inside/outside (+ unauthenticated): %d requests checked",
		len(srvRoutes), len(accessRules), len(grid.Roles), cases)
}

// showsField reports whether the rule's inside read answers person 1's field: the
// JSON zone summary lists only the vulnerable (person 1 is not), and trace answers
// show a linked resident's name, phone and ID number but no birth date; the
// sampling missing list, isolations and the vulnerable show name and phone only,
// and the transfer list the name only.
func showsField(r accessRule, field string) bool {
	if r.path == "/api/v1/zones/:id/summary" && !strings.Contains(r.inURL, "csv") {
		return false
	}
	if strings.Contains(r.path, "/trace/") && field == "birth_date" {
		return false
	}
	if strings.HasPrefix(r.path, "/api/v1/sampling/") || strings.HasPrefix(r.path, "/api/v1/isolations") || r.path == "/api/v1/vulnerable" {
		return field == "name" || field == "phone"
	}
	if r.path == "/api/v1/transfers" {
		return field == "name"
	}
	return true
}

// newMatrixServer builds a server like the one under test, to read its router.
func newMatrixServer(f *matrixFixture) *api.Server {
	return api.New(api.Config{Store: f.store, Web: web.FS(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// expect is the status check for one cell of the matrix.
func (f *matrixFixture) expect(r accessRule, role grid.Role, inside, allowed bool) func(int) bool {
	is := func(want ...int) func(int) bool { return func(c int) bool { return slices.Contains(want, c) } }
	if !allowed {
		return is(http.StatusForbidden)
	}
	processed := func(c int) bool {
		return c < 500 && c != 401 && c != 403 && c != 404 && c != 405
	}
	okRead := is(http.StatusOK)
	if !inside && r.scope == outMissing {
		return is(http.StatusNotFound)
	}
	if inside || role == grid.Admin || r.scope == outSame || r.scope == outFiltered {
		if safeMethod(r.method) {
			return okRead
		}
		if r.scope == outFiltered && !inside && r.path == "/api/v1/zones/propose" && role != grid.Admin {
			// Proposing from a case outside: that case does not exist for the caller.
			return is(http.StatusNotFound, http.StatusBadRequest)
		}
		return processed
	}
	switch r.scope {
	case outNotFound:
		return is(http.StatusNotFound)
	case outForbidden:
		return is(http.StatusForbidden)
	}
	return processed
}

// checkLeak fails when an answer to a non-admin carries anything from outside the
// jurisdiction.
func (f *matrixFixture) checkLeak(t *testing.T, role grid.Role, what string, body []byte) {
	t.Helper()
	if role == grid.Admin {
		return
	}
	for _, m := range outsideMarkers {
		if bytes.Contains(body, []byte(m)) {
			t.Errorf("%s: answer carries %q from outside the jurisdiction: %.300s", what, m, body)
		}
	}
}

// checkTile decodes a vector tile and checks its features: households and cases
// only of the jurisdiction (one per household only for roles with personal access,
// clusters of at least k otherwise), areas only the caller's and their context.
func (f *matrixFixture) checkTile(t *testing.T, role grid.Role, what string, body []byte) {
	t.Helper()
	layers, err := mvt.Unmarshal(body)
	if err != nil {
		t.Errorf("%s: decode tile: %v", what, err)
		return
	}
	if role == grid.Admin {
		return
	}
	allowed := map[string][]float64{"households": {1, 2}, "cases": {1}, "areas": {1, 2, 3, 10}}
	k := f.store.LocationPrivacy().MinHouseholds
	for _, l := range layers {
		for _, ft := range l.Features {
			if grid.Restricted(grid.User{Role: role}) && l.Name != "areas" {
				n, _ := ft.Properties[l.Name].(float64)
				if _, hasID := ft.Properties["id"]; hasID || int(n) < k {
					t.Errorf("%s: layer %s feature %v: a single %s is identifiable", what, l.Name, ft.Properties, l.Name)
				}
				continue
			}
			id, _ := ft.Properties["id"].(float64)
			if !slices.Contains(allowed[l.Name], id) {
				t.Errorf("%s: layer %s carries id %v from outside the jurisdiction", what, l.Name, ft.Properties["id"])
			}
		}
	}
}

// routes lists the router's routes as "METHOD path", without Echo's internal ones.
func (f *matrixFixture) routes(t *testing.T) []string {
	t.Helper()
	// The server under test is built the same way as the live one: build another
	// on the same store to read its router.
	srv := newMatrixServer(f)
	var out []string
	for _, r := range srv.Echo().Routes() {
		if r.Method == "echo_route_not_found" || strings.HasPrefix(r.Name, "echo_") {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// liveMatrix checks GET /api/v1/live for every role: no session is 401; a session
// connects, and hears a change inside its jurisdiction but never one outside (the
// outside change is committed first, so hearing the inside one proves the outside
// one was filtered, not late), for households and for the change rows of sampling
// and care (swab, check-in, contact, site, report submission). It returns the
// number of cases checked.
func (f *matrixFixture) liveMatrix(t *testing.T) int {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(f.url, "http") + "/api/v1/live"
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("live without a session: %v %v", err, resp)
	}
	cases := 1
	// Let the hub publish the fixture's own changes first, so the clients below hear
	// only what happens after they connect.
	f.live.waitFor(t, f.pool)
	clients := map[grid.Role]*liveClient{}
	for _, role := range grid.Roles {
		c, _ := dialLive(t, f.url, f.token(t, role), "")
		clients[role] = c
	}
	admin := f.token(t, grid.Admin)
	var h struct {
		Properties struct {
			Version int `json:"version"`
		} `json:"properties"`
	}
	// Household 4 (community 6) first, then household 1 (community 3).
	for _, id := range []string{"4", "1"} {
		do(t, "GET", f.url+"/api/v1/households/"+id, admin, "", &h)
		body := fmt.Sprintf(`{"version":%d,"address":"%s","lng":%s,"lat":31.11}`, h.Properties.Version,
			map[string]string{"4": "三社区1号", "1": "一社区1号"}[id], map[string]string{"4": "121.51", "1": "121.41"}[id])
		if code := do(t, "PUT", f.url+"/api/v1/households/"+id, admin, body, nil); code != http.StatusOK {
			t.Fatalf("live matrix: update household %s: %d", id, code)
		}
	}
	// Then the change rows of sampling and care, a write outside before one inside
	// for each entity.
	type change struct {
		entity string
		id     int64
	}
	all := []change{{"household", 4}, {"household", 1}}
	inside := []change{{"household", 1}}
	type side struct{ url, body, id string } // id "": the answer's "id"
	for _, p := range []struct {
		entity  string
		out, in side
	}{
		{"sampling", side{"/api/v1/sampling/rounds/{rOut}/swabs", `{"person_id":6,"tube_id":"T-LIVE-OUT","pool_id":"P-LIVE-OUT"}`, "{rOut}"},
			side{"/api/v1/sampling/rounds/{rIn}/swabs", `{"person_id":2,"tube_id":"T-LIVE-IN","pool_id":"P-LIVE-IN"}`, "{rIn}"}},
		{"isolation", side{"/api/v1/isolations/{isoOut}/checkins", `{"temperature_c":36.6}`, "{isoOut}"},
			side{"/api/v1/isolations/{isoIn}/checkins", `{"temperature_c":36.6}`, "{isoIn}"}},
		{"vulnerable", side{"/api/v1/vulnerable/6/contacts", `{"needs":["care"]}`, "6"}, side{"/api/v1/vulnerable/1/contacts", `{"needs":["care"]}`, "1"}},
		{"site", side{"/api/v1/sites", `{"name":"三社区二号隔离点","location":[121.54,31.14],"rooms":5}`, ""},
			side{"/api/v1/sites", `{"name":"一社区二号隔离点","location":[121.44,31.14],"rooms":5}`, ""}},
		{"report", side{"/api/v1/reports/daily/submissions", `{"area_id":11,"date":"{today}"}`, "11"},
			side{"/api/v1/reports/daily/submissions", `{"area_id":10,"date":"{today}"}`, "10"}},
	} {
		for i, sd := range []side{p.out, p.in} {
			var ans map[string]any
			if code := do(t, "POST", f.url+f.expand(sd.url), admin, f.expand(sd.body), &ans); code != http.StatusOK && code != http.StatusCreated {
				t.Fatalf("live matrix: POST %s: %d %v", sd.url, code, ans)
			}
			id := f.expand(sd.id)
			if id == "" {
				id = fmt.Sprint(int64(ans["id"].(float64)))
			}
			var c change
			c.entity = p.entity
			fmt.Sscan(id, &c.id)
			all = append(all, c)
			if i == 1 {
				inside = append(inside, c)
			}
		}
	}
	f.live.waitFor(t, f.pool)
	for _, role := range grid.Roles {
		want := inside
		if role == grid.Admin {
			want = all
		}
		cases += len(want)
		// Read up to the last change expected: status messages may come between,
		// but every change heard on the way must be one the role may hear, in order.
		last := want[len(want)-1]
		var heard []change
		for {
			m := clients[role].next()
			if m.Type != "change" {
				continue
			}
			f.checkLeak(t, role, "live "+m.Entity, m.Payload)
			heard = append(heard, change{m.Entity, m.EntityID})
			if m.Entity == last.entity && m.EntityID == last.id {
				break
			}
		}
		if !slices.Equal(heard, want) {
			t.Errorf("live as %s: heard %v, want %v (and none outside)", role, heard, want)
		}
	}
	return cases
}
