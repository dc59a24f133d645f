package grid

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// PoolSize is the most swabs one pooled tube takes (10-in-1 混采).
const PoolSize = 10

// Pool results.
const (
	PoolPending  = "pending"
	PoolPositive = "positive"
	PoolNegative = "negative"
)

// SwabInput is a scanned swab: the person, their tube and the pooled tube it went
// into.
type SwabInput struct {
	PersonID int64
	TubeID   string
	PoolID   string
	TakenAt  *time.Time // default now
}

// Swab is a recorded swab.
type Swab struct {
	ID          int64
	RoundID     int64
	PersonID    int64
	HouseholdID int64
	TubeID      string
	PoolID      string
	TakenAt     time.Time
	SamplerID   int64
}

// Pool is a pooled tube with its size and result.
type Pool struct {
	ID      string
	RoundID int64
	Size    int
	Result  string
}

func checkCode(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(Invalid, field, "is required: the tube's barcode")
	}
	if utf8.RuneCountInString(s) > 64 {
		return "", Errorf(Invalid, field, "is longer than 64 characters")
	}
	return s, nil
}

// RecordSwab records a swab in round id by c.User (the sampler). Scanning the same
// tube for the same person and pool again returns the stored swab with created
// false. Errors, with nothing written: Invalid (person_id not among the round's
// households in the jurisdiction; tube_id or pool_id empty), Conflict (tube_id
// already used for another person or pool; pool_id full, reported, or of another
// round; the round closed), NotFound (round), Forbidden (role).
func (s *Store) RecordSwab(ctx context.Context, c Caller, roundID int64, in SwabInput) (Swab, Pool, bool, error) {
	if !slices.Contains(SamplingRecorders(), c.User.Role) {
		return Swab{}, Pool{}, false, Errorf(Forbidden, "", "role %s may not record swabs", c.User.Role)
	}
	var err error
	if in.PersonID < 1 {
		return Swab{}, Pool{}, false, Errorf(Invalid, "person_id", "is required")
	}
	if in.TubeID, err = checkCode("tube_id", in.TubeID); err != nil {
		return Swab{}, Pool{}, false, err
	}
	if in.PoolID, err = checkCode("pool_id", in.PoolID); err != nil {
		return Swab{}, Pool{}, false, err
	}
	taken := time.Now()
	if in.TakenAt != nil {
		taken = *in.TakenAt
	}
	var sw Swab
	var pool Pool
	created := false
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := openRound(ctx, tx, c.User, roundID); err != nil {
			return err
		}
		var prev Swab
		err := tx.QueryRow(ctx, `SELECT id, round_id, person_id, household_id, tube_id, pool_id, taken_at, COALESCE(sampler_id, 0)
			FROM sampling_swabs WHERE tube_id = $1 FOR UPDATE`, in.TubeID).Scan(&prev.ID, &prev.RoundID, &prev.PersonID,
			&prev.HouseholdID, &prev.TubeID, &prev.PoolID, &prev.TakenAt, &prev.SamplerID)
		switch {
		case err == pgx.ErrNoRows:
		case err != nil:
			return dbError("find tube", err)
		case prev.PersonID != in.PersonID || prev.RoundID != roundID:
			return Errorf(Conflict, "tube_id", "tube %s already holds another person's swab", in.TubeID)
		case prev.PoolID != in.PoolID:
			return Errorf(Conflict, "tube_id", "tube %s is already in pool %s", in.TubeID, prev.PoolID)
		default:
			sw = prev
			pool, err = getPool(ctx, tx, prev.PoolID)
			return err
		}
		var w where
		w.add("p.id = ?", in.PersonID)
		w.add("sa.round_id = ?", roundID)
		w.add("p.status <> 'deceased'")
		w.visibleGridCol(c.User, "sa.grid_id")
		var household, grid int64
		err = tx.QueryRow(ctx, `SELECT p.household_id, COALESCE(sa.grid_id, 0) FROM persons p
			JOIN sampling_assignments sa ON sa.household_id = p.household_id`+w.sql(), w.args...).Scan(&household, &grid)
		if err == pgx.ErrNoRows {
			return Errorf(Invalid, "person_id", "person %d is not in a household of round %d in your jurisdiction", in.PersonID, roundID)
		}
		if err != nil {
			return dbError("find person", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sampling_pools (id, round_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, in.PoolID, roundID); err != nil {
			return dbError("insert pool", err)
		}
		var poolRound int64
		var result string
		if err := tx.QueryRow(ctx, `SELECT round_id, result FROM sampling_pools WHERE id = $1 FOR UPDATE`, in.PoolID).Scan(&poolRound, &result); err != nil {
			return dbError("lock pool", err)
		}
		if poolRound != roundID {
			return Errorf(Conflict, "pool_id", "pool %s belongs to round %d", in.PoolID, poolRound)
		}
		if result != PoolPending {
			return Errorf(Conflict, "pool_id", "pool %s already has its result (%s)", in.PoolID, result)
		}
		var size int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM sampling_swabs WHERE pool_id = $1`, in.PoolID).Scan(&size); err != nil {
			return dbError("pool size", err)
		}
		if size >= PoolSize {
			return Errorf(Conflict, "pool_id", "pool %s is full: it holds %d swabs, the most a %d-in-1 pool takes", in.PoolID, size, PoolSize)
		}
		err = tx.QueryRow(ctx, `INSERT INTO sampling_swabs (round_id, person_id, household_id, tube_id, pool_id, taken_at, sampler_id)
			VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7::bigint, 0))
			RETURNING id, round_id, person_id, household_id, tube_id, pool_id, taken_at, COALESCE(sampler_id, 0)`,
			roundID, in.PersonID, household, in.TubeID, in.PoolID, taken, c.User.ID).Scan(&sw.ID, &sw.RoundID, &sw.PersonID,
			&sw.HouseholdID, &sw.TubeID, &sw.PoolID, &sw.TakenAt, &sw.SamplerID)
		if err != nil {
			if KindOf(dbError("", err)) == Conflict {
				return Errorf(Conflict, "tube_id", "tube %s was just recorded by someone else", in.TubeID)
			}
			return dbError("insert swab", err)
		}
		created = true
		if pool, err = getPool(ctx, tx, in.PoolID); err != nil {
			return err
		}
		return appendCoverageChange(ctx, tx, roundID, grid, "coverage")
	})
	return sw, pool, created, err
}

// visiblePool adds the condition that pool "p" is u's to see: admin sees every
// pool of a visible round; anyone else the pools holding a swab of a household in
// their jurisdiction, and the empty ones. A street's round pools the
// swabs of several communities; the pools of the others, and their results, are
// not theirs.
func (w *where) visiblePool(u User) {
	if seesAll(u) {
		return
	}
	w.add(`(NOT EXISTS (SELECT 1 FROM sampling_swabs vs WHERE vs.pool_id = p.id)
		OR EXISTS (SELECT 1 FROM sampling_swabs vs JOIN sampling_assignments va ON va.round_id = vs.round_id AND va.household_id = vs.household_id
		           WHERE vs.pool_id = p.id AND va.grid_id IN (SELECT id FROM areas WHERE ancestors && ?::bigint[])))`, userAreas(u))
}

func getPool(ctx context.Context, tx pgx.Tx, id string) (Pool, error) {
	var p Pool
	err := tx.QueryRow(ctx, `SELECT p.id, p.round_id, (SELECT count(*) FROM sampling_swabs s WHERE s.pool_id = p.id)::int, p.result
		FROM sampling_pools p WHERE p.id = $1`, id).Scan(&p.ID, &p.RoundID, &p.Size, &p.Result)
	if err == pgx.ErrNoRows {
		return p, Errorf(NotFound, "pool_id", "pool %s not found", id)
	}
	if err != nil {
		return p, dbError("read pool", err)
	}
	return p, nil
}

// RetestPerson is a person of a positive pool, to be swabbed alone.
type RetestPerson struct {
	PersonID    int64
	Name        string // masked per role
	HouseholdID int64
}

// SealingProposal is a household of a positive pool, proposed for immediate sealing.
type SealingProposal struct {
	HouseholdID int64
	Address     string
	Loc         orb.Point
}

// PoolReport is a pool with its result and, when positive, who to retest and which
// households to seal.
type PoolReport struct {
	Pool     Pool
	Retest   []RetestPerson
	Sealing  []SealingProposal
	Reported bool // false when the same result was already stored
}

// ReportPool stores pool id's lab result. A positive pool lists its persons for
// individual retest (names masked per role; a read in clear is audited) and their
// households as sealing proposals. Reporting the same result again changes nothing;
// another result is a Conflict. Errors: Invalid (result), NotFound (pool or its
// round not visible), Forbidden (role).
func (s *Store) ReportPool(ctx context.Context, c Caller, id, result string) (PoolReport, error) {
	if err := canManageSampling(c.User); err != nil {
		return PoolReport{}, err
	}
	if result != PoolPositive && result != PoolNegative {
		return PoolReport{}, Errorf(Invalid, "result", "%q is not positive or negative", result)
	}
	var out PoolReport
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := getPool(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := getRound(ctx, tx, c.User, p.RoundID, ""); err != nil {
			return Errorf(NotFound, "pool_id", "pool %s not found", id)
		}
		var pw where
		pw.add("p.id = ?", id)
		pw.visiblePool(c.User)
		var visible bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sampling_pools p`+pw.sql()+`)`, pw.args...).Scan(&visible); err != nil {
			return dbError("pool visible", err)
		}
		if !visible {
			return Errorf(NotFound, "pool_id", "pool %s not found", id)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM sampling_pools WHERE id = $1 FOR UPDATE`, id); err != nil {
			return dbError("lock pool", err)
		}
		switch p.Result {
		case result:
		case PoolPending:
			if _, err := tx.Exec(ctx, `UPDATE sampling_pools SET result = $2, result_at = now(), result_by = NULLIF($3::bigint, 0) WHERE id = $1`,
				id, result, c.User.ID); err != nil {
				return dbError("report pool", err)
			}
			out.Reported = true
		default:
			return Errorf(Conflict, "result", "pool %s was already reported %s", id, p.Result)
		}
		p.Result = result
		out.Pool, out.Retest, out.Sealing = p, []RetestPerson{}, []SealingProposal{}
		if out.Reported {
			rows, err := tx.Query(ctx, `SELECT DISTINCT COALESCE(sa.grid_id, 0) FROM sampling_swabs s
				JOIN sampling_assignments sa ON sa.round_id = s.round_id AND sa.household_id = s.household_id WHERE s.pool_id = $1`, id)
			if err != nil {
				return dbError("pool grids", err)
			}
			grids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return dbError("pool grids", err)
			}
			for _, g := range grids {
				if _, err := AppendChange(ctx, tx, ChangeInput{Kind: "pool", Entity: "sampling", EntityID: p.RoundID, AreaID: g,
					Payload: map[string]any{"round_id": p.RoundID, "grid_id": g, "pool_id": id, "result": result}}); err != nil {
					return err
				}
			}
		}
		if result != PoolPositive {
			return nil
		}
		var w where
		w.add("s.pool_id = ?", id)
		w.visibleAreaCol(c.User, "h.area_id")
		rows, err := tx.Query(ctx, `SELECT s.person_id, p.name, s.household_id, h.address, ST_X(h.geom), ST_Y(h.geom)
			FROM sampling_swabs s JOIN persons p ON p.id = s.person_id JOIN households h ON h.id = s.household_id`+w.sql()+
			` ORDER BY s.household_id, s.person_id`, w.args...)
		if err != nil {
			return dbError("pool persons", err)
		}
		defer rows.Close()
		pol := PersonPolicy(c.User, true)
		var ids []int64
		for rows.Next() {
			var r RetestPerson
			var sp SealingProposal
			if err := rows.Scan(&r.PersonID, &r.Name, &r.HouseholdID, &sp.Address, &sp.Loc[0], &sp.Loc[1]); err != nil {
				return dbError("scan pool person", err)
			}
			if !pol.Name {
				r.Name = MaskName(r.Name)
			}
			ids = append(ids, r.PersonID)
			out.Retest = append(out.Retest, r)
			if n := len(out.Sealing); n == 0 || out.Sealing[n-1].HouseholdID != r.HouseholdID {
				sp.HouseholdID = r.HouseholdID
				out.Sealing = append(out.Sealing, sp)
			}
		}
		if err := rows.Err(); err != nil {
			return dbError("pool persons", err)
		}
		rows.Close()
		if pol.Name && len(ids) > 0 {
			return appendAudit(ctx, tx, c, AuditReadPerson, "sampling_pool", 0, map[string]any{
				"person_ids": ids, "pool_id": id, "fields": []string{"name"}})
		}
		return nil
	})
	return out, err
}

// RoundPools lists round id's pools (result "" for all), by id.
func (s *Store) RoundPools(ctx context.Context, u User, roundID int64, result string) ([]Pool, error) {
	if result != "" && result != PoolPending && result != PoolPositive && result != PoolNegative {
		return nil, Errorf(Invalid, "result", "%q is not pending, positive or negative", result)
	}
	out := []Pool{}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if _, err := getRound(ctx, tx, u, roundID, ""); err != nil {
			return err
		}
		var w where
		w.add("p.round_id = ?", roundID)
		if result != "" {
			w.add("p.result = ?", result)
		}
		w.visiblePool(u)
		rows, err := tx.Query(ctx, `SELECT p.id, p.round_id, (SELECT count(*) FROM sampling_swabs s WHERE s.pool_id = p.id)::int, p.result
			FROM sampling_pools p`+w.sql()+` ORDER BY p.id`, w.args...)
		if err != nil {
			return dbError("list pools", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p Pool
			if err := rows.Scan(&p.ID, &p.RoundID, &p.Size, &p.Result); err != nil {
				return dbError("scan pool", err)
			}
			out = append(out, p)
		}
		return dbErrorOrNil("list pools", rows.Err())
	})
	return out, err
}

// CoverageRow is the coverage of one area in a round (应检尽检).
type CoverageRow struct {
	AreaID int64
	Name   string
	Level  Level
	// Direct marks a row of an area coarser than the level asked: it counts only the
	// households attached to that area itself (or below it but under no area of the
	// level), e.g. a street's households in no community: "甲街道, no community".
	Direct   bool
	Expected int
	Swabbed  int
	Missing  int
}

// levelOrderSQL is the hierarchy coarsest first, as Levels, for array_position.
const levelOrderSQL = `ARRAY['district', 'street', 'community', 'grid']`

// swabbedSQL is true when person "p" of household "h" counts as swabbed in round $1:
// a swab recorded, or the household's door-to-door stop marked done.
const swabbedSQL = `(EXISTS (SELECT 1 FROM sampling_swabs s WHERE s.round_id = $1 AND s.person_id = p.id)
	OR EXISTS (SELECT 1 FROM sampling_outcomes o WHERE o.round_id = $1 AND o.household_id = h.id AND o.outcome = 'done'))`

// RoundCoverage counts, per area of level in u's jurisdiction, the persons of round
// id expected (everyone but the deceased), swabbed and missing. A household counts
// under its area of level; one with none (attached directly to a street, or to a
// community without grids at grid level) counts under its finest area coarser than
// level, in a row marked Direct. So every household of the round is in exactly one
// row at every level, and the rows under an area (its own Direct row included) add
// up to that area's row one level up: what the command staff add up and compare.
func (s *Store) RoundCoverage(ctx context.Context, u User, id int64, level Level) ([]CoverageRow, error) {
	out := []CoverageRow{}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if _, err := getRound(ctx, tx, u, id, ""); err != nil {
			return err
		}
		var w where
		w.args = []any{id, string(level)}
		w.add("sa.round_id = $1")
		w.visibleAreaCol(u, "g.id")
		// Per household area first, then its unit: the finest of its ancestors (itself
		// included) no finer than level. A join on the unnested ancestors, not a
		// subquery per area: the planner hashes it.
		rows, err := tx.Query(ctx, `WITH ga AS (
			SELECT g.id, g.ancestors, count(*)::int AS expected, count(*) FILTER (WHERE `+swabbedSQL+`)::int AS swabbed
			FROM sampling_assignments sa
			JOIN households h ON h.id = sa.household_id
			JOIN persons p ON p.household_id = h.id AND p.status <> 'deceased'
			JOIN areas g ON g.id = sa.grid_id`+w.sql()+`
			GROUP BY g.id, g.ancestors),
			unit AS (
			SELECT DISTINCT ON (ga.id) ga.id AS area_id, x.id AS unit_id
			FROM ga CROSS JOIN LATERAL unnest(ga.ancestors) AS anc(id) JOIN areas x ON x.id = anc.id
			WHERE array_position(`+levelOrderSQL+`, x.level) <= array_position(`+levelOrderSQL+`, $2::text)
			ORDER BY ga.id, array_position(`+levelOrderSQL+`, x.level) DESC)
			SELECT x.id, x.name, x.level, x.level <> $2::text, sum(ga.expected)::int, sum(ga.swabbed)::int
			FROM ga JOIN unit ON unit.area_id = ga.id JOIN areas x ON x.id = unit.unit_id
			GROUP BY x.id, x.name, x.level ORDER BY x.id`, w.args...)
		if err != nil {
			return dbError("coverage", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r CoverageRow
			var lv string
			if err := rows.Scan(&r.AreaID, &r.Name, &lv, &r.Direct, &r.Expected, &r.Swabbed); err != nil {
				return dbError("scan coverage", err)
			}
			r.Level, r.Missing = Level(lv), r.Expected-r.Swabbed
			out = append(out, r)
		}
		return dbErrorOrNil("coverage", rows.Err())
	})
	return out, err
}

// MissingPerson is a person of a round not swabbed yet.
type MissingPerson struct {
	PersonID    int64
	Name        string
	Phone       string
	HouseholdID int64
	Address     string
	GridID      int64
	Outcome     string // the door-to-door outcome, "" for none
}

// RoundMissing lists the persons of round id not swabbed yet, in u's jurisdiction
// (and under areaID when not 0). Names and phones are masked per role
// (PersonPolicy); a read showing any in clear is audited.
func (s *Store) RoundMissing(ctx context.Context, c Caller, id, areaID int64) ([]MissingPerson, error) {
	if !slices.Contains(SamplingNameReaders(), c.User.Role) {
		return nil, Errorf(Forbidden, "", "role %s reads coverage numbers, not names", c.User.Role)
	}
	out := []MissingPerson{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getRound(ctx, tx, c.User, id, ""); err != nil {
			return err
		}
		var w where
		w.args = []any{id}
		w.add("sa.round_id = $1")
		w.add("NOT " + swabbedSQL)
		w.visibleAreaCol(c.User, "sa.grid_id")
		if areaID != 0 {
			w.underArea("sa.grid_id", areaID)
		}
		rows, err := tx.Query(ctx, `SELECT p.id, p.name, p.phone, h.id, h.address, COALESCE(sa.grid_id, 0), COALESCE(o.outcome, '')
			FROM sampling_assignments sa
			JOIN households h ON h.id = sa.household_id
			JOIN persons p ON p.household_id = h.id AND p.status <> 'deceased'
			LEFT JOIN sampling_outcomes o ON o.round_id = sa.round_id AND o.household_id = h.id`+w.sql()+
			` ORDER BY h.id, p.id`, w.args...)
		if err != nil {
			return dbError("missing persons", err)
		}
		defer rows.Close()
		pol := PersonPolicy(c.User, true)
		var ids []int64
		for rows.Next() {
			var m MissingPerson
			if err := rows.Scan(&m.PersonID, &m.Name, &m.Phone, &m.HouseholdID, &m.Address, &m.GridID, &m.Outcome); err != nil {
				return dbError("scan missing person", err)
			}
			if !pol.Name {
				m.Name = MaskName(m.Name)
			}
			if !pol.Phone {
				m.Phone = MaskPhone(m.Phone)
			}
			ids = append(ids, m.PersonID)
			out = append(out, m)
		}
		if err := rows.Err(); err != nil {
			return dbError("missing persons", err)
		}
		rows.Close()
		shown := []string{}
		if pol.Name {
			shown = append(shown, "name")
		}
		if pol.Phone {
			shown = append(shown, "phone")
		}
		if len(shown) > 0 && len(ids) > 0 {
			return appendAudit(ctx, tx, c, AuditReadPerson, "sampling_round", id, map[string]any{"person_ids": ids, "fields": shown})
		}
		return nil
	})
	return out, err
}
