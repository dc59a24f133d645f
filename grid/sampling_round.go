package grid

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid/sampling"
)

// Round statuses: open while swabs and outcomes are recorded, closed after.
const (
	RoundOpen   = "open"
	RoundClosed = "closed"
)

// RoundInput is a round as a commander starts it: for one area (any level) or for a
// set of enforced zones.
type RoundInput struct {
	Name             string
	AreaID           int64
	ZoneIDs          []int64
	Date             string // YYYY-MM-DD, local
	Start            string // HH:MM; default 07:00
	SlotMinutes      int    // divides 60; default 30
	WalkLimitMinutes int    // default 15
	WalkKmh          float64
}

// RoundStats is what the assignment of a round reported; stored as JSON with the
// round, in the API's names.
type RoundStats struct {
	Households           int              `json:"households"`
	Persons              int              `json:"persons"`
	AssignedHouseholds   int              `json:"assigned_households"`
	DoorToDoorHouseholds int              `json:"door_to_door_households"`
	NoCapacityHouseholds int              `json:"no_capacity_households"`
	Walk                 WalkStats        `json:"walk_m"`
	Overloaded           []PointOverload  `json:"overloaded_points"`
	FarHouseholds        int              `json:"far_households"`
	Suggested            []SuggestedPoint `json:"suggested_points"`
	AssignMillis         int64            `json:"assign_ms"`
}

// WalkStats summarises walking distances to points in metres.
type WalkStats struct {
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
}

// PointOverload is a point whose demand exceeded its day: Slot is its last slot.
type PointOverload struct {
	PointID  int64     `json:"point_id"`
	Slot     time.Time `json:"slot"`
	Assigned int       `json:"assigned"`
	Capacity int       `json:"capacity"`
}

// SuggestedPoint is where a new point would cover Covers far households.
type SuggestedPoint struct {
	Lng    float64 `json:"lng"`
	Lat    float64 `json:"lat"`
	Covers int     `json:"covers"`
}

// Round is a sampling round (全员核酸).
type Round struct {
	ID          int64
	Name        string
	AreaID      int64
	ZoneIDs     []int64
	Date        string
	Start       string
	SlotMinutes int
	WalkLimitM  float64
	WalkKmh     float64
	Status      string
	Stats       RoundStats
	CreatedBy   int64
	CreatedAt   time.Time
	ClosedAt    *time.Time
}

// checkRound validates a round input and fills the defaults.
func (in RoundInput) check() (RoundInput, time.Time, int, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return in, time.Time{}, 0, Errorf(Invalid, "name", "is required")
	}
	if utf8.RuneCountInString(in.Name) > 200 {
		return in, time.Time{}, 0, Errorf(Invalid, "name", "is longer than 200 characters")
	}
	switch {
	case in.AreaID == 0 && len(in.ZoneIDs) == 0:
		return in, time.Time{}, 0, Errorf(Invalid, "area_id", "is required: an area, or zone_ids")
	case in.AreaID != 0 && len(in.ZoneIDs) != 0:
		return in, time.Time{}, 0, Errorf(Invalid, "zone_ids", "give an area or zones, not both")
	case in.AreaID < 0:
		return in, time.Time{}, 0, Errorf(Invalid, "area_id", "must be a positive id")
	}
	day, err := time.ParseInLocation(time.DateOnly, in.Date, samplingZone)
	if err != nil {
		return in, time.Time{}, 0, Errorf(Invalid, "date", "must be a date YYYY-MM-DD, not %q", in.Date)
	}
	if in.Start == "" {
		in.Start = "07:00"
	}
	start, err := parseClock("start", in.Start)
	if err != nil {
		return in, time.Time{}, 0, err
	}
	in.Start = clock(start)
	if in.SlotMinutes == 0 {
		in.SlotMinutes = 30
	}
	if !slices.Contains([]int{5, 10, 15, 20, 30, 60}, in.SlotMinutes) {
		return in, time.Time{}, 0, Errorf(Invalid, "slot_minutes", "must divide an hour: 5, 10, 15, 20, 30 or 60")
	}
	if in.WalkLimitMinutes == 0 {
		in.WalkLimitMinutes = 15
	}
	if in.WalkLimitMinutes < 1 || in.WalkLimitMinutes > 120 {
		return in, time.Time{}, 0, Errorf(Invalid, "walk_limit_minutes", "must be between 1 and 120")
	}
	if in.WalkKmh == 0 {
		in.WalkKmh = 4
	}
	if !(in.WalkKmh >= 1 && in.WalkKmh <= 10) {
		return in, time.Time{}, 0, Errorf(Invalid, "walk_kmh", "must be between 1 and 10")
	}
	return in, day, start, nil
}

// visibleRound adds the condition that round "r" is visible to u: admin sees every
// round; anyone else the rounds they started and those holding a household of
// their jurisdiction.
func (w *where) visibleRound(u User) {
	if seesAll(u) {
		return
	}
	w.add(`(r.created_by = ? OR EXISTS (SELECT 1 FROM sampling_assignments va WHERE va.round_id = r.id
		AND va.grid_id IN (SELECT id FROM areas WHERE ancestors && ?::bigint[])))`, u.ID, userAreas(u))
}

// holdsRound refuses (Forbidden) a round-wide write — closing it, replacing its
// routes — by a caller whose jurisdiction holds only part of the round: a street's
// round is closed and routed by whoever holds the whole street, not by the
// commander of one of its communities, whose write would change what the other
// communities see. Admin holds every round.
func holdsRound(ctx context.Context, tx pgx.Tx, u User, id int64) error {
	if seesAll(u) {
		return nil
	}
	var outside bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sampling_assignments sa WHERE sa.round_id = $1
		AND (sa.grid_id IS NULL OR sa.grid_id NOT IN (SELECT id FROM areas WHERE ancestors && $2::bigint[])))`,
		id, userAreas(u)).Scan(&outside)
	if err != nil {
		return dbError("round scope", err)
	}
	if outside {
		return Errorf(Forbidden, "id", "round %d reaches outside your jurisdiction: it is managed by who holds all of it", id)
	}
	return nil
}

// visibleGridCol adds the condition that the household area in col is in u's
// jurisdiction.
func (w *where) visibleGridCol(u User, col string) { w.visibleAreaCol(u, col) }

const roundSelect = `SELECT r.id, r.name, COALESCE(r.area_id, 0), r.zone_ids, to_char(r.day, 'YYYY-MM-DD'),
	to_char(r.start_time, 'HH24:MI'), r.slot_minutes, r.walk_limit_m, r.walk_kmh, r.status, r.stats,
	COALESCE(r.created_by, 0), r.created_at, r.closed_at FROM sampling_rounds r`

func queryRounds(ctx context.Context, tx pgx.Tx, w *where, tail string) ([]Round, error) {
	rows, err := tx.Query(ctx, roundSelect+w.sql()+tail, w.args...)
	if err != nil {
		return nil, dbError("list rounds", err)
	}
	defer rows.Close()
	out := []Round{}
	for rows.Next() {
		var r Round
		var stats []byte
		if err := rows.Scan(&r.ID, &r.Name, &r.AreaID, &r.ZoneIDs, &r.Date, &r.Start, &r.SlotMinutes, &r.WalkLimitM,
			&r.WalkKmh, &r.Status, &stats, &r.CreatedBy, &r.CreatedAt, &r.ClosedAt); err != nil {
			return nil, dbError("scan round", err)
		}
		if err := json.Unmarshal(stats, &r.Stats); err != nil {
			return nil, fmt.Errorf("round %d stats: %w", r.ID, err)
		}
		if r.ZoneIDs == nil {
			r.ZoneIDs = []int64{}
		}
		if r.Stats.Overloaded == nil {
			r.Stats.Overloaded = []PointOverload{}
		}
		if r.Stats.Suggested == nil {
			r.Stats.Suggested = []SuggestedPoint{}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list rounds", err)
	}
	return out, nil
}

// getRound reads round id visible to u; forUpdate locks it. NotFound otherwise.
func getRound(ctx context.Context, tx pgx.Tx, u User, id int64, lock string) (Round, error) {
	var w where
	w.add("r.id = ?", id)
	w.visibleRound(u)
	rs, err := queryRounds(ctx, tx, &w, lock)
	if err != nil {
		return Round{}, err
	}
	if len(rs) == 0 {
		return Round{}, Errorf(NotFound, "id", "round %d not found", id)
	}
	return rs[0], nil
}

// openRound reads round id visible to u, locked against closing, and refuses a
// closed one (Conflict).
func openRound(ctx context.Context, tx pgx.Tx, u User, id int64) (Round, error) {
	r, err := getRound(ctx, tx, u, id, " FOR SHARE OF r")
	if err != nil {
		return r, err
	}
	if r.Status != RoundOpen {
		return r, Errorf(Conflict, "id", "round %d is closed", id)
	}
	return r, nil
}

// GetRound reads one round visible to u.
func (s *Store) GetRound(ctx context.Context, u User, id int64) (Round, error) {
	var out Round
	err := s.readTx(ctx, func(tx pgx.Tx) (err error) {
		out, err = getRound(ctx, tx, u, id, "")
		return err
	})
	return out, err
}

// ListRounds lists the rounds visible to u, newest first.
func (s *Store) ListRounds(ctx context.Context, u User) ([]Round, error) {
	var out []Round
	err := s.readTx(ctx, func(tx pgx.Tx) (err error) {
		var w where
		w.visibleRound(u)
		out, err = queryRounds(ctx, tx, &w, " ORDER BY r.id DESC")
		return err
	})
	return out, err
}

// readTx runs fn in a read-only transaction.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return dbError("begin", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// roundHousehold is a household of a round's scope as read for the assignment.
type roundHousehold struct {
	id, area int64
	loc      orb.Point
	persons  int
	sealed   bool
	isolated bool
	immobile bool
}

// CreateRound starts a round and assigns every household of its scope (the area and
// everything below it, or the households inside the zones, within c.User's
// jurisdiction) to a point and slot or to the door-to-door list, with
// sampling.Assign, in one transaction. Points considered are those visible to the
// caller within about 3 km of the households. Errors: Invalid naming the field,
// NotFound (area or zone unknown or outside the jurisdiction), Forbidden (role).
func (s *Store) CreateRound(ctx context.Context, c Caller, in RoundInput) (Round, error) {
	if err := canManageSampling(c.User); err != nil {
		return Round{}, err
	}
	in, day, start, err := in.check()
	if err != nil {
		return Round{}, err
	}
	var out Round
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var w where
		switch {
		case in.AreaID != 0:
			var aw where
			aw.add("id = ?", in.AreaID)
			if !seesAll(c.User) {
				aw.add("ancestors && ?::bigint[]", userAreas(c.User))
			}
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM areas`+aw.sql()+`)`, aw.args...).Scan(&ok); err != nil {
				return dbError("round area", err)
			}
			if !ok {
				return Errorf(NotFound, "area_id", "area %d not found in your jurisdiction", in.AreaID)
			}
			w.underArea("h.area_id", in.AreaID)
		default:
			slices.Sort(in.ZoneIDs)
			in.ZoneIDs = slices.Compact(in.ZoneIDs)
			var zw where
			zw.add("z.id = ANY(?::bigint[])", in.ZoneIDs)
			zw.add("z.status IN ('active', 'downgraded')")
			zw.visibleZone(c.User)
			rows, err := tx.Query(ctx, `SELECT z.id FROM zones z`+zw.sql(), zw.args...)
			if err != nil {
				return dbError("round zones", err)
			}
			found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return dbError("round zones", err)
			}
			for _, z := range in.ZoneIDs {
				if !slices.Contains(found, z) {
					return Errorf(NotFound, "zone_ids", "zone %d is not an active or downgraded zone in your jurisdiction", z)
				}
			}
			w.add("EXISTS (SELECT 1 FROM zones rz WHERE rz.id = ANY(?::bigint[]) AND ST_Intersects(rz.geom, h.geom))", in.ZoneIDs)
		}
		w.visibleAreaCol(c.User, "h.area_id")
		hs, err := roundHouseholds(ctx, tx, &w)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return Errorf(Invalid, "area_id", "no household in the round's area or zones within your jurisdiction")
		}
		pts, err := roundPoints(ctx, tx, c.User, hs)
		if err != nil {
			return err
		}
		t0 := time.Now()
		shs := make([]sampling.Household, len(hs))
		persons := 0
		for i, h := range hs {
			shs[i] = sampling.Household{ID: h.id, GridID: h.area, Loc: h.loc, Persons: h.persons}
			switch {
			case h.sealed:
				shs[i].DoorToDoor = sampling.ReasonSealed
			case h.isolated:
				shs[i].DoorToDoor = sampling.ReasonIsolated
			case h.immobile:
				shs[i].DoorToDoor = sampling.ReasonImmobile
			}
			persons += h.persons
		}
		limitM := float64(in.WalkLimitMinutes) / 60 * in.WalkKmh * 1000
		res := sampling.Assign(pts, shs, sampling.Params{Start: start, SlotMinutes: in.SlotMinutes, WalkLimitM: limitM})
		at := func(min int) time.Time { return day.Add(time.Duration(min) * time.Minute) }
		stats := RoundStats{Households: len(hs), Persons: persons, FarHouseholds: res.Far,
			Walk:       WalkStats{Median: round1(res.WalkMedian), P95: round1(res.WalkP95), Max: round1(res.WalkMax)},
			Overloaded: []PointOverload{}, Suggested: []SuggestedPoint{},
			AssignMillis: time.Since(t0).Milliseconds()}
		for _, a := range res.Assignments {
			switch {
			case a.DoorToDoor:
				stats.DoorToDoorHouseholds++
			case a.PointID != 0:
				stats.AssignedHouseholds++
			default:
				stats.NoCapacityHouseholds++
			}
		}
		for _, o := range res.Overloaded {
			stats.Overloaded = append(stats.Overloaded, PointOverload{PointID: o.PointID, Slot: at(o.Slot), Assigned: o.Assigned, Capacity: o.Capacity})
		}
		for _, sg := range res.Suggestions {
			stats.Suggested = append(stats.Suggested, SuggestedPoint{Lng: sg.Loc[0], Lat: sg.Loc[1], Covers: sg.Covers})
		}
		body, err := json.Marshal(stats)
		if err != nil {
			return fmt.Errorf("round stats: %w", err)
		}
		var id int64
		zones := in.ZoneIDs
		if zones == nil {
			zones = []int64{}
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO sampling_rounds (name, area_id, zone_ids, day, start_time, slot_minutes, walk_limit_m, walk_kmh, stats, created_by)
			VALUES ($1, NULLIF($2::bigint, 0), $3, $4::date, $5::time, $6, $7, $8, $9::jsonb, NULLIF($10::bigint, 0)) RETURNING id`,
			in.Name, in.AreaID, zones, in.Date, in.Start, in.SlotMinutes, limitM, in.WalkKmh, string(body), c.User.ID).Scan(&id)
		if err != nil {
			return dbError("insert round", err)
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"sampling_assignments"},
			[]string{"round_id", "household_id", "grid_id", "point_id", "slot_start", "slot_end", "walk_m", "persons", "door_to_door", "reason"},
			pgx.CopyFromSlice(len(res.Assignments), func(i int) ([]any, error) {
				a := res.Assignments[i]
				var grid, point *int64
				var ss, se *time.Time
				var walk *float64
				if a.GridID != 0 {
					grid = &a.GridID
				}
				if a.PointID != 0 {
					point = &a.PointID
					t1, t2 := at(a.SlotStart), at(a.SlotEnd)
					ss, se = &t1, &t2
					w := round1(a.WalkM)
					walk = &w
				}
				return []any{id, a.HouseholdID, grid, point, ss, se, walk, a.Persons, a.DoorToDoor, a.Reason}, nil
			}))
		if err != nil {
			return dbError("insert assignments", err)
		}
		if out, err = getRound(ctx, tx, User{Role: Admin}, id, ""); err != nil {
			return err
		}
		return appendRoundChange(ctx, tx, out, "round")
	})
	return out, err
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// roundHouseholds reads the households matching w ("h") with what decides their
// door-to-door reason, ordered by id.
func roundHouseholds(ctx context.Context, tx pgx.Tx, w *where) ([]roundHousehold, error) {
	rows, err := tx.Query(ctx, `
		SELECT h.id, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom),
		       (SELECT count(*) FROM persons p WHERE p.household_id = h.id AND p.status <> 'deceased')::int,
		       EXISTS (SELECT 1 FROM zones z WHERE z.kind = 'sealed' AND z.status IN ('active', 'downgraded') AND ST_Intersects(z.geom, h.geom)),
		       EXISTS (SELECT 1 FROM persons p WHERE p.household_id = h.id AND p.status IN ('home_isolation', 'central_isolation')),
		       EXISTS (SELECT 1 FROM persons p WHERE p.household_id = h.id AND p.status <> 'deceased'
		               AND p.vulnerability && ARRAY['bedridden', 'disabled']::text[])
		FROM households h`+w.sql()+` ORDER BY h.id`, w.args...)
	if err != nil {
		return nil, dbError("round households", err)
	}
	defer rows.Close()
	var out []roundHousehold
	for rows.Next() {
		var h roundHousehold
		if err := rows.Scan(&h.id, &h.area, &h.loc[0], &h.loc[1], &h.persons, &h.sealed, &h.isolated, &h.immobile); err != nil {
			return nil, dbError("scan round household", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("round households", err)
	}
	return out, nil
}

// roundPoints reads the points visible to u within about 3 km of the households'
// bounding box, ordered by id.
func roundPoints(ctx context.Context, tx pgx.Tx, u User, hs []roundHousehold) ([]sampling.Point, error) {
	b := orb.Bound{Min: hs[0].loc, Max: hs[0].loc}
	for _, h := range hs {
		b = b.Extend(h.loc)
	}
	b = b.Pad(0.03)
	var w where
	w.visibleAreaCol(u, "p.area_id")
	w.inBBox("p.geom", b)
	ps, err := queryPoints(ctx, tx, &w)
	if err != nil {
		return nil, err
	}
	out := make([]sampling.Point, len(ps))
	for i, p := range ps {
		o, _ := parseClock("opens", p.Opens)
		c, _ := parseClock("closes", p.Closes)
		out[i] = sampling.Point{ID: p.ID, Loc: p.Loc, CapacityPerHour: p.CapacityPerHour, Opens: o, Closes: c, GridIDs: p.GridIDs}
	}
	return out, nil
}

// appendRoundChange files a round-wide change (creation, closing, routes).
func appendRoundChange(ctx context.Context, tx pgx.Tx, r Round, kind string) error {
	_, err := AppendChange(ctx, tx, ChangeInput{Kind: kind, Entity: "sampling", EntityID: r.ID, AreaID: r.AreaID,
		Payload: map[string]any{"round_id": r.ID, "status": r.Status}})
	return err
}

// appendCoverageChange files a change of coverage in grid (a swab, a stop outcome),
// so the command map refreshes that grid's numbers.
func appendCoverageChange(ctx context.Context, tx pgx.Tx, roundID, gridID int64, kind string) error {
	_, err := AppendChange(ctx, tx, ChangeInput{Kind: kind, Entity: "sampling", EntityID: roundID, AreaID: gridID,
		Payload: map[string]any{"round_id": roundID, "grid_id": gridID}})
	return err
}

// CloseRound closes round id: no more swabs or outcomes. Errors: NotFound,
// Forbidden, Conflict when already closed.
func (s *Store) CloseRound(ctx context.Context, c Caller, id int64) (Round, error) {
	if err := canManageSampling(c.User); err != nil {
		return Round{}, err
	}
	var out Round
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := getRound(ctx, tx, c.User, id, " FOR UPDATE OF r")
		if err != nil {
			return err
		}
		if err := holdsRound(ctx, tx, c.User, id); err != nil {
			return err
		}
		if r.Status != RoundOpen {
			return Errorf(Conflict, "id", "round %d is already closed", id)
		}
		if _, err := tx.Exec(ctx, `UPDATE sampling_rounds SET status = 'closed', closed_at = now() WHERE id = $1`, id); err != nil {
			return dbError("close round", err)
		}
		if out, err = getRound(ctx, tx, User{Role: Admin}, id, ""); err != nil {
			return err
		}
		return appendRoundChange(ctx, tx, out, "round")
	})
	return out, err
}

// RoundAssignment is one household's place in a round.
type RoundAssignment struct {
	HouseholdID int64
	Address     string
	GridID      int64
	PointID     int64
	SlotStart   *time.Time
	SlotEnd     *time.Time
	WalkM       *float64
	Persons     int
	DoorToDoor  bool
	Reason      string
}

// RoundAssignments lists round id's households in u's jurisdiction, optionally of
// one grid (or area below it) or one point, by slot then household.
func (s *Store) RoundAssignments(ctx context.Context, u User, id, gridID, pointID int64) ([]RoundAssignment, error) {
	out := []RoundAssignment{}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if _, err := getRound(ctx, tx, u, id, ""); err != nil {
			return err
		}
		var w where
		w.add("sa.round_id = ?", id)
		w.visibleGridCol(u, "sa.grid_id")
		if gridID != 0 {
			w.underArea("sa.grid_id", gridID)
		}
		if pointID != 0 {
			w.add("sa.point_id = ?", pointID)
		}
		rows, err := tx.Query(ctx, `SELECT sa.household_id, h.address, COALESCE(sa.grid_id, 0), COALESCE(sa.point_id, 0),
			sa.slot_start, sa.slot_end, sa.walk_m, sa.persons, sa.door_to_door, sa.reason
			FROM sampling_assignments sa JOIN households h ON h.id = sa.household_id`+w.sql()+
			` ORDER BY sa.slot_start NULLS LAST, sa.household_id`, w.args...)
		if err != nil {
			return dbError("list assignments", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a RoundAssignment
			if err := rows.Scan(&a.HouseholdID, &a.Address, &a.GridID, &a.PointID, &a.SlotStart, &a.SlotEnd, &a.WalkM,
				&a.Persons, &a.DoorToDoor, &a.Reason); err != nil {
				return dbError("scan assignment", err)
			}
			if Restricted(u) {
				a.Address = MaskAddress(a.Address)
			}
			out = append(out, a)
		}
		return dbErrorOrNil("list assignments", rows.Err())
	})
	return out, err
}

func dbErrorOrNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return dbError(op, err)
}
