package grid

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/geo/route"
	"github.com/gridtrace/gridtrace/grid/sampling"
)

// Stop outcomes recorded at the door.
const (
	OutcomeDone       = "done"
	OutcomeNobodyHome = "nobody_home"
	OutcomeRefused    = "refused"
)

// TeamInput is a door-to-door team as planned.
type TeamInput struct {
	Name         string
	UserID       int64 // the sampler who sees this route as theirs; 0 for none
	Depot        orb.Point
	ShiftMinutes int // 0: no limit
}

// RoutesInput asks for door-to-door routes of a round.
type RoutesInput struct {
	Teams          []TeamInput
	Seed           uint64
	BudgetMS       int     // default 1500
	WalkKmh        float64 // default 4
	MinutesPerStop float64 // default 5
}

// RouteStop is a household on a team's route.
type RouteStop struct {
	Seq         int
	HouseholdID int64
	Address     string
	Loc         orb.Point
	ETA         time.Time
	Outcome     string // "" until recorded
}

// TeamRoute is one team's route of a round.
type TeamRoute struct {
	RoundID      int64
	Team         int
	Name         string
	UserID       int64
	Depot        orb.Point
	ShiftMinutes int
	Stops        []RouteStop
	Line         orb.LineString
	WalkM        float64
	Minutes      float64
}

// UnassignedStop is a door-to-door household no team could take, and why.
type UnassignedStop struct {
	HouseholdID int64  `json:"household_id"`
	Reason      string `json:"reason"`
}

// RoutePlan is the door-to-door plan of a round.
type RoutePlan struct {
	Teams      []TeamRoute
	Unassigned []UnassignedStop
	// Estimate is, in the answer of PlanRoutes when households are left unassigned,
	// how many teams of the shift would visit them all; nil otherwise (it is not
	// stored: reading the routes again answers nil).
	Estimate *sampling.TeamEstimate
}

func (in RoutesInput) check() (RoutesInput, error) {
	if len(in.Teams) == 0 {
		return in, Errorf(Invalid, "teams", "is required: at least one team")
	}
	if len(in.Teams) > 100 {
		return in, Errorf(Invalid, "teams", "at most 100 teams")
	}
	for i := range in.Teams {
		t := &in.Teams[i]
		f := fmt.Sprintf("teams[%d]", i)
		t.Name = strings.TrimSpace(t.Name)
		if t.Name == "" {
			t.Name = fmt.Sprintf("Team %d", i+1)
		}
		if err := geo.ValidLngLat(t.Depot[0], t.Depot[1]); err != nil {
			return in, Errorf(Invalid, f+".depot", "%s", err.Error())
		}
		if t.ShiftMinutes < 0 || t.ShiftMinutes > 24*60 {
			return in, Errorf(Invalid, f+".shift_minutes", "must be between 0 (no limit) and 1440")
		}
	}
	if in.BudgetMS == 0 {
		in.BudgetMS = 1500
	}
	if in.BudgetMS < 10 || in.BudgetMS > 10000 {
		return in, Errorf(Invalid, "budget_ms", "must be between 10 and 10000")
	}
	if in.WalkKmh == 0 {
		in.WalkKmh = 4
	}
	if !(in.WalkKmh >= 1 && in.WalkKmh <= 10) {
		return in, Errorf(Invalid, "walk_kmh", "must be between 1 and 10")
	}
	if in.MinutesPerStop == 0 {
		in.MinutesPerStop = 5
	}
	if !(in.MinutesPerStop > 0 && in.MinutesPerStop <= 120) {
		return in, Errorf(Invalid, "minutes_per_stop", "must be more than 0 and at most 120")
	}
	return in, nil
}

// PlanRoutes splits round id's door-to-door households in c.User's jurisdiction
// among the teams with route.SolveTeams (great-circle distances, teams walking back
// to their depot within the shift) and replaces the round's routes, in one
// transaction. ETAs count from the round's day and start time. When households are
// left unassigned, the answer's Estimate says how many teams would take them all
// (sampling.EstimateTeams, verified by re-solving after the commit, each solve with
// a third of the budget). Errors: Invalid naming the field, NotFound, Conflict
// (round closed), Forbidden.
func (s *Store) PlanRoutes(ctx context.Context, c Caller, id int64, in RoutesInput) (RoutePlan, error) {
	if err := canManageSampling(c.User); err != nil {
		return RoutePlan{}, err
	}
	in, err := in.check()
	if err != nil {
		return RoutePlan{}, err
	}
	var out RoutePlan
	var problem route.TeamProblem
	var solved route.Plan
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := openRound(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		if err := holdsRound(ctx, tx, c.User, id); err != nil {
			return err
		}
		for i, t := range in.Teams {
			if t.UserID == 0 {
				continue
			}
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND NOT disabled)`, t.UserID).Scan(&ok); err != nil {
				return dbError("team user", err)
			}
			if !ok {
				return Errorf(Invalid, fmt.Sprintf("teams[%d].user_id", i), "user %d does not exist", t.UserID)
			}
		}
		var w where
		w.add("sa.round_id = ?", id)
		w.add("sa.door_to_door")
		w.visibleAreaCol(c.User, "sa.grid_id")
		rows, err := tx.Query(ctx, `SELECT h.id, ST_X(h.geom), ST_Y(h.geom) FROM sampling_assignments sa
			JOIN households h ON h.id = sa.household_id`+w.sql()+` ORDER BY h.id`, w.args...)
		if err != nil {
			return dbError("door-to-door households", err)
		}
		var hids []int64
		var pts []orb.Point
		for _, t := range in.Teams {
			pts = append(pts, t.Depot)
		}
		for rows.Next() {
			var hid int64
			var p orb.Point
			if err := rows.Scan(&hid, &p[0], &p[1]); err != nil {
				rows.Close()
				return dbError("scan door-to-door household", err)
			}
			hids = append(hids, hid)
			pts = append(pts, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("door-to-door households", err)
		}
		problem, solved, err = solveDoorToDoor(pts, len(in.Teams), in)
		if err != nil {
			return err
		}
		plan := solved
		day, err := time.ParseInLocation(time.DateOnly, r.Date, samplingZone)
		if err != nil {
			return fmt.Errorf("round %d day: %w", id, err)
		}
		start, _ := parseClock("start", r.Start)
		t0 := day.Add(time.Duration(start) * time.Minute)
		for _, q := range []string{`DELETE FROM sampling_stops WHERE round_id = $1`, `DELETE FROM sampling_routes WHERE round_id = $1`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return dbError("replace routes", err)
			}
		}
		for ti, tr := range plan.Routes {
			t := in.Teams[ti]
			line := tr.Line(pts)
			var lb []byte
			if len(line) >= 2 {
				if lb, err = wkb.Marshal(line); err != nil {
					return fmt.Errorf("encode route: %w", err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO sampling_routes (round_id, team, name, user_id, depot, shift_minutes, line, walk_m, minutes)
				VALUES ($1, $2, $3, NULLIF($4::bigint, 0), ST_SetSRID(ST_MakePoint($5, $6), 4326), $7,
				        CASE WHEN $8::bytea IS NULL THEN NULL ELSE ST_GeomFromWKB($8, 4326) END, $9, $10)`,
				id, ti, t.Name, t.UserID, t.Depot[0], t.Depot[1], t.ShiftMinutes, lb, round1(tr.WalkM), round1(tr.Duration.Minutes()))
			if err != nil {
				return dbError("insert route", err)
			}
			for seq, v := range tr.Stops {
				if _, err := tx.Exec(ctx, `INSERT INTO sampling_stops (round_id, household_id, team, seq, eta) VALUES ($1, $2, $3, $4, $5)`,
					id, hids[v.Node-len(in.Teams)], ti, seq+1, t0.Add(v.Arrival)); err != nil {
					return dbError("insert stop", err)
				}
			}
		}
		un := []UnassignedStop{}
		for _, n := range plan.Unassigned {
			un = append(un, UnassignedStop{HouseholdID: hids[n-len(in.Teams)], Reason: "fits no team's shift"})
		}
		body, _ := json.Marshal(un)
		if _, err := tx.Exec(ctx, `UPDATE sampling_rounds SET route_unassigned = $2::jsonb WHERE id = $1`, id, string(body)); err != nil {
			return dbError("record unassigned stops", err)
		}
		if err := appendRoundChange(ctx, tx, r, "routes"); err != nil {
			return err
		}
		out, err = roundRoutes(ctx, tx, c.User, id, -1)
		return err
	})
	if err != nil || len(solved.Unassigned) == 0 {
		return out, err
	}
	// After the commit: the verification solves hold no lock on the round.
	est := sampling.EstimateTeams(problem, solved, route.Options{Budget: time.Duration(in.BudgetMS) * time.Millisecond / 3,
		MaxKicks: 2 * len(problem.Stops), Seed: in.Seed})
	out.Estimate = &est
	return out, nil
}

// solveDoorToDoor runs the team solver over pts (the k depots first, then the
// stops). MaxKicks bounds the search so a plan is reproducible for its seed; the
// budget caps it on a slow machine.
func solveDoorToDoor(pts []orb.Point, k int, in RoutesInput) (route.TeamProblem, route.Plan, error) {
	stops := make([]int, 0, len(pts)-k)
	for i := k; i < len(pts); i++ {
		stops = append(stops, i)
	}
	teams := make([]route.Team, k)
	for i, t := range in.Teams {
		teams[i] = route.Team{Depot: i, ShiftLimit: time.Duration(t.ShiftMinutes) * time.Minute}
	}
	if len(stops) == 0 {
		plan := route.Plan{Unassigned: []int{}}
		for i := range teams {
			plan.Routes = append(plan.Routes, route.TeamRoute{Team: i, Depot: i, Return: true, Stops: []route.Visit{}})
		}
		return route.TeamProblem{}, plan, nil
	}
	p := route.TeamProblem{
		N: len(pts), Dist: route.Haversine(pts), Stops: stops, Teams: teams,
		Walk: route.Walk{SpeedMPS: in.WalkKmh / 3.6, Service: time.Duration(in.MinutesPerStop * float64(time.Minute)), Return: true},
	}
	plan, err := route.SolveTeams(p, route.Options{Budget: time.Duration(in.BudgetMS) * time.Millisecond,
		MaxKicks: 20 * len(stops), Seed: in.Seed})
	if err != nil {
		return p, route.Plan{}, Errorf(Invalid, "teams", "%v", err)
	}
	return p, plan, nil
}

// roundRoutes reads round id's routes visible to u (team -1: all), stops in order.
func roundRoutes(ctx context.Context, tx pgx.Tx, u User, id int64, team int) (RoutePlan, error) {
	out := RoutePlan{Teams: []TeamRoute{}, Unassigned: []UnassignedStop{}}
	rows, err := tx.Query(ctx, `SELECT round_id, team, name, COALESCE(user_id, 0), ST_X(depot), ST_Y(depot), shift_minutes,
		ST_AsBinary(line), walk_m, minutes FROM sampling_routes WHERE round_id = $1 AND ($2 < 0 OR team = $2) ORDER BY team`, id, team)
	if err != nil {
		return out, dbError("list routes", err)
	}
	for rows.Next() {
		var t TeamRoute
		var lb []byte
		if err := rows.Scan(&t.RoundID, &t.Team, &t.Name, &t.UserID, &t.Depot[0], &t.Depot[1], &t.ShiftMinutes, &lb, &t.WalkM, &t.Minutes); err != nil {
			rows.Close()
			return out, dbError("scan route", err)
		}
		if lb != nil {
			g, err := wkb.Unmarshal(lb)
			if err != nil {
				rows.Close()
				return out, fmt.Errorf("route line: %w", err)
			}
			t.Line, _ = g.(orb.LineString)
		}
		t.Stops = []RouteStop{}
		out.Teams = append(out.Teams, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, dbError("list routes", err)
	}
	var w where
	w.add("st.round_id = ?", id)
	w.visibleAreaCol(u, "h.area_id")
	rows, err = tx.Query(ctx, `SELECT st.team, st.seq, h.id, h.address, ST_X(h.geom), ST_Y(h.geom), st.eta, COALESCE(o.outcome, '')
		FROM sampling_stops st JOIN households h ON h.id = st.household_id
		LEFT JOIN sampling_outcomes o ON o.round_id = st.round_id AND o.household_id = st.household_id`+w.sql()+
		` ORDER BY st.team, st.seq`, w.args...)
	if err != nil {
		return out, dbError("list stops", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ti int
		var s RouteStop
		if err := rows.Scan(&ti, &s.Seq, &s.HouseholdID, &s.Address, &s.Loc[0], &s.Loc[1], &s.ETA, &s.Outcome); err != nil {
			return out, dbError("scan stop", err)
		}
		for i := range out.Teams {
			if out.Teams[i].Team == ti {
				out.Teams[i].Stops = append(out.Teams[i].Stops, s)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return out, dbError("list stops", err)
	}
	rows.Close()
	var body []byte
	if err := tx.QueryRow(ctx, `SELECT route_unassigned FROM sampling_rounds WHERE id = $1`, id).Scan(&body); err != nil {
		return out, dbError("unassigned stops", err)
	}
	if err := json.Unmarshal(body, &out.Unassigned); err != nil {
		return out, fmt.Errorf("unassigned stops: %w", err)
	}
	if seesAll(u) {
		return out, nil
	}
	return hideOutsideStops(ctx, tx, u, id, out)
}

// hideOutsideStops keeps from a plan read by u (not admin) what lies in u's
// jurisdiction: the line of a team that also calls at households outside it would
// trace their homes (sealed, isolated or bed-ridden households), so it is dropped;
// unassigned households outside are left out.
func hideOutsideStops(ctx context.Context, tx pgx.Tx, u User, id int64, out RoutePlan) (RoutePlan, error) {
	rows, err := tx.Query(ctx, `SELECT team, count(*)::int FROM sampling_stops WHERE round_id = $1 GROUP BY team`, id)
	if err != nil {
		return out, dbError("count stops", err)
	}
	total := map[int]int{}
	for rows.Next() {
		var team, n int
		if err := rows.Scan(&team, &n); err != nil {
			rows.Close()
			return out, dbError("count stops", err)
		}
		total[team] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, dbError("count stops", err)
	}
	for i := range out.Teams {
		if len(out.Teams[i].Stops) < total[out.Teams[i].Team] {
			out.Teams[i].Line = nil
		}
	}
	if len(out.Unassigned) == 0 {
		return out, nil
	}
	ids := make([]int64, len(out.Unassigned))
	for i, x := range out.Unassigned {
		ids[i] = x.HouseholdID
	}
	var w where
	w.add("h.id = ANY(?::bigint[])", ids)
	w.visibleAreaCol(u, "h.area_id")
	hrows, err := tx.Query(ctx, `SELECT h.id FROM households h`+w.sql(), w.args...)
	if err != nil {
		return out, dbError("unassigned stops", err)
	}
	visible, err := pgx.CollectRows(hrows, pgx.RowTo[int64])
	if err != nil {
		return out, dbError("unassigned stops", err)
	}
	kept := []UnassignedStop{}
	for _, x := range out.Unassigned {
		if slices.Contains(visible, x.HouseholdID) {
			kept = append(kept, x)
		}
	}
	out.Unassigned = kept
	return out, nil
}

// RoundRoutes reads round id's door-to-door routes.
func (s *Store) RoundRoutes(ctx context.Context, u User, id int64) (RoutePlan, error) {
	var out RoutePlan
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if _, err := getRound(ctx, tx, u, id, ""); err != nil {
			return err
		}
		var err error
		out, err = roundRoutes(ctx, tx, u, id, -1)
		return err
	})
	if err != nil || !Restricted(u) {
		return out, err
	}
	// A viewer sees the stops where the map would place them and no line: the
	// line runs through the homes of the sealed, isolated and bed-ridden.
	for i := range out.Teams {
		out.Teams[i].Line = nil
		for j := range out.Teams[i].Stops {
			st := &out.Teams[i].Stops[j]
			if err := s.placeFor(u, &st.Address, &st.Loc); err != nil {
				return out, fmt.Errorf("stop of household %d: %w", st.HouseholdID, err)
			}
		}
	}
	return out, nil
}

// MyRoute is u's team route in the newest open round visible to u that gives them
// one: a team of a round outside u's jurisdiction (any user may be named on a team)
// is not u's to see. NotFound when there is none.
func (s *Store) MyRoute(ctx context.Context, u User) (TeamRoute, error) {
	var out TeamRoute
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var round int64
		var team int
		var w where
		w.add("sr.user_id = ?", u.ID)
		w.add("r.status = 'open'")
		w.visibleRound(u)
		err := tx.QueryRow(ctx, `SELECT r.id, sr.team FROM sampling_routes sr JOIN sampling_rounds r ON r.id = sr.round_id`+
			w.sql()+` ORDER BY r.id DESC, sr.team LIMIT 1`, w.args...).Scan(&round, &team)
		if err == pgx.ErrNoRows {
			return Errorf(NotFound, "", "you have no route in an open round")
		}
		if err != nil {
			return dbError("my route", err)
		}
		plan, err := roundRoutes(ctx, tx, u, round, team)
		if err != nil {
			return err
		}
		if len(plan.Teams) == 0 {
			return Errorf(NotFound, "", "you have no route in an open round")
		}
		out = plan.Teams[0]
		return nil
	})
	return out, err
}

// StopResult is a household's outcome as recorded.
type StopResult struct {
	RoundID     int64
	HouseholdID int64
	Address     string
	Loc         orb.Point
	Team        *int
	Seq         *int
	ETA         *time.Time
	Outcome     string
}

// SetStopOutcome records what a team found at a door-to-door household of round id
// (done, nobody_home, refused; a later outcome replaces an earlier one) and files a
// coverage change for its grid. Errors: Invalid (outcome), NotFound (round, or
// household not door to door in the round and the jurisdiction), Conflict (round
// closed), Forbidden (role).
func (s *Store) SetStopOutcome(ctx context.Context, c Caller, id, householdID int64, outcome string) (StopResult, error) {
	if !slices.Contains(SamplingRecorders(), c.User.Role) {
		return StopResult{}, Errorf(Forbidden, "", "role %s may not record stop outcomes", c.User.Role)
	}
	if outcome != OutcomeDone && outcome != OutcomeNobodyHome && outcome != OutcomeRefused {
		return StopResult{}, Errorf(Invalid, "outcome", "%q is not done, nobody_home or refused", outcome)
	}
	var out StopResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := openRound(ctx, tx, c.User, id); err != nil {
			return err
		}
		var w where
		w.add("sa.round_id = ?", id)
		w.add("sa.household_id = ?", householdID)
		w.add("sa.door_to_door")
		w.visibleAreaCol(c.User, "sa.grid_id")
		var grid int64
		err := tx.QueryRow(ctx, `SELECT COALESCE(sa.grid_id, 0), h.address, ST_X(h.geom), ST_Y(h.geom), st.team, st.seq, st.eta
			FROM sampling_assignments sa JOIN households h ON h.id = sa.household_id
			LEFT JOIN sampling_stops st ON st.round_id = sa.round_id AND st.household_id = sa.household_id`+w.sql(),
			w.args...).Scan(&grid, &out.Address, &out.Loc[0], &out.Loc[1], &out.Team, &out.Seq, &out.ETA)
		if err == pgx.ErrNoRows {
			return Errorf(NotFound, "household_id", "household %d is not on round %d's door-to-door list", householdID, id)
		}
		if err != nil {
			return dbError("find stop", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sampling_outcomes (round_id, household_id, outcome, by_user) VALUES ($1, $2, $3, NULLIF($4::bigint, 0))
			ON CONFLICT (round_id, household_id) DO UPDATE SET outcome = EXCLUDED.outcome, by_user = EXCLUDED.by_user, at = now()`,
			id, householdID, outcome, c.User.ID); err != nil {
			return dbError("record outcome", err)
		}
		out.RoundID, out.HouseholdID, out.Outcome = id, householdID, outcome
		return appendCoverageChange(ctx, tx, id, grid, "coverage")
	})
	return out, err
}
