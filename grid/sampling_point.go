package grid

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid/sampling"
)

// SamplingManagers are the roles that manage sampling points and rounds, report
// pool results and plan door-to-door routes: command staff and admin.
func SamplingManagers() []Role { return []Role{Admin, Commander} }

// SamplingRecorders are the roles that record swabs and stop outcomes: the samplers
// at the points and doors, and the command staff.
func SamplingRecorders() []Role { return []Role{Admin, Commander, Sampler} }

// SamplingNameReaders are the roles that read the missing people by name: grid
// workers phone them, samplers call at their doors. Viewers and tracers read the
// numbers only.
func SamplingNameReaders() []Role { return []Role{Admin, Commander, GridWorker, Sampler} }

func canManageSampling(u User) error {
	if !slices.Contains(SamplingManagers(), u.Role) {
		return Errorf(Forbidden, "", "role %s may not manage sampling", u.Role)
	}
	return nil
}

// samplingZone is the local time of sampling days, slots and ETAs: China Standard
// Time, the time on the residents' notices.
var samplingZone = time.FixedZone("CST", 8*3600)

// SamplingPoint is a place where residents come to be swabbed.
type SamplingPoint struct {
	ID              int64
	Name            string
	Loc             orb.Point
	AreaID          int64 // finest area containing it; 0 for none
	CapacityPerHour int
	Opens, Closes   string // "HH:MM", local time
	GridIDs         []int64
	Version         int
	// Load is the point's load in the newest open round using it; nil for none.
	Load *PointLoad
}

// PointLoad is how many persons a round sends to a point against what the point's
// open slots that day hold.
type PointLoad struct {
	RoundID  int64
	Assigned int
	Capacity int
}

// SamplingPointInput is a point as created or edited.
type SamplingPointInput struct {
	Name            string
	Lng, Lat        *float64
	CapacityPerHour int
	Opens, Closes   string
	GridIDs         []int64
	Version         int // for edits: the version last read
}

// parseClock reads "HH:MM" as minutes after midnight; 24:00 is the end of the day.
func parseClock(field, s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, Errorf(Invalid, field, "must be a time of day HH:MM such as 08:00, not %q", s)
	}
	return hh*60 + mm, nil
}

func clock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

func (in SamplingPointInput) check() (SamplingPointInput, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return in, Errorf(Invalid, "name", "is required")
	}
	if utf8.RuneCountInString(in.Name) > 200 {
		return in, Errorf(Invalid, "name", "is longer than 200 characters")
	}
	if in.Lng == nil {
		return in, Errorf(Invalid, "lng", "is required")
	}
	if in.Lat == nil {
		return in, Errorf(Invalid, "lat", "is required")
	}
	if err := geo.ValidLngLat(*in.Lng, *in.Lat); err != nil {
		ce := err.(*geo.CoordError)
		return in, Errorf(Invalid, ce.Field, "%s", ce.Reason)
	}
	if in.CapacityPerHour < 1 || in.CapacityPerHour > 10000 {
		return in, Errorf(Invalid, "capacity_per_hour", "must be between 1 and 10000 swabs per hour")
	}
	if in.Opens == "" {
		in.Opens = "08:00"
	}
	if in.Closes == "" {
		in.Closes = "20:00"
	}
	o, err := parseClock("opens", in.Opens)
	if err != nil {
		return in, err
	}
	c, err := parseClock("closes", in.Closes)
	if err != nil {
		return in, err
	}
	if c <= o {
		return in, Errorf(Invalid, "closes", "must be after opens (%s)", in.Opens)
	}
	in.Opens, in.Closes = clock(o), clock(c)
	if in.GridIDs == nil {
		in.GridIDs = []int64{}
	}
	slices.Sort(in.GridIDs)
	in.GridIDs = slices.Compact(in.GridIDs)
	return in, nil
}

// checkPointPlace refuses a point outside u's jurisdiction (Forbidden, field lng)
// and grids that are unknown or not visible (Invalid, field grid_ids).
func checkPointPlace(ctx context.Context, tx pgx.Tx, u User, in SamplingPointInput) error {
	if !seesAll(u) {
		var inside bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM areas WHERE id = ANY($1::bigint[])
			AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)))`, userAreas(u), *in.Lng, *in.Lat).Scan(&inside); err != nil {
			return dbError("check point place", err)
		}
		if !inside {
			return Errorf(Forbidden, "lng", "the point lies outside your jurisdiction")
		}
	}
	if len(in.GridIDs) == 0 {
		return nil
	}
	var w where
	w.add("id = ANY(?::bigint[])", in.GridIDs)
	w.visibleAreaCol(u, "id")
	rows, err := tx.Query(ctx, `SELECT id FROM areas`+w.sql(), w.args...)
	if err != nil {
		return dbError("check grids", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return dbError("check grids", err)
	}
	for _, g := range in.GridIDs {
		if !slices.Contains(found, g) {
			return Errorf(Invalid, "grid_ids", "area %d does not exist or is outside your jurisdiction", g)
		}
	}
	return nil
}

const pointSelect = `SELECT p.id, p.name, ST_X(p.geom), ST_Y(p.geom), COALESCE(p.area_id, 0), p.capacity_per_hour,
	to_char(p.opens, 'HH24:MI'), to_char(p.closes, 'HH24:MI'), p.grid_ids, p.version,
	l.round_id, COALESCE(l.assigned, 0), COALESCE(l.start_min, 0), COALESCE(l.slot_minutes, 0)
	FROM sampling_points p
	LEFT JOIN LATERAL (
		SELECT sa.round_id, sum(sa.persons)::int AS assigned,
		       (extract(epoch FROM r.start_time) / 60)::int AS start_min, r.slot_minutes
		FROM sampling_assignments sa JOIN sampling_rounds r ON r.id = sa.round_id AND r.status = 'open'
		WHERE sa.point_id = p.id
		GROUP BY sa.round_id, r.start_time, r.slot_minutes ORDER BY sa.round_id DESC LIMIT 1) l ON true`

func queryPoints(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, w *where) ([]SamplingPoint, error) {
	rows, err := q.Query(ctx, pointSelect+w.sql()+" ORDER BY p.id", w.args...)
	if err != nil {
		return nil, dbError("list sampling points", err)
	}
	defer rows.Close()
	out := []SamplingPoint{}
	for rows.Next() {
		var p SamplingPoint
		var round *int64
		var assigned, start, slot int
		if err := rows.Scan(&p.ID, &p.Name, &p.Loc[0], &p.Loc[1], &p.AreaID, &p.CapacityPerHour, &p.Opens, &p.Closes,
			&p.GridIDs, &p.Version, &round, &assigned, &start, &slot); err != nil {
			return nil, dbError("scan sampling point", err)
		}
		if p.GridIDs == nil {
			p.GridIDs = []int64{}
		}
		if round != nil && slot > 0 {
			o, _ := parseClock("opens", p.Opens)
			c, _ := parseClock("closes", p.Closes)
			sp := sampling.Point{CapacityPerHour: p.CapacityPerHour, Opens: o, Closes: c}
			p.Load = &PointLoad{RoundID: *round, Assigned: assigned,
				Capacity: len(sampling.Slots(sp, start, slot)) * sampling.SlotCapacity(sp, slot)}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list sampling points", err)
	}
	return out, nil
}

// ListSamplingPoints lists the points in u's jurisdiction (inside bbox when not
// nil), each with its load in the newest open round using it.
func (s *Store) ListSamplingPoints(ctx context.Context, u User, bbox *orb.Bound) ([]SamplingPoint, error) {
	var w where
	w.visibleAreaCol(u, "p.area_id")
	if bbox != nil {
		w.inBBox("p.geom", *bbox)
	}
	return queryPoints(ctx, s.pool, &w)
}

// GetSamplingPoint reads one point visible to u; NotFound otherwise.
func (s *Store) GetSamplingPoint(ctx context.Context, u User, id int64) (SamplingPoint, error) {
	return getPoint(ctx, s.pool, u, id)
}

func getPoint(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, u User, id int64) (SamplingPoint, error) {
	var w where
	w.add("p.id = ?", id)
	w.visibleAreaCol(u, "p.area_id")
	ps, err := queryPoints(ctx, q, &w)
	if err != nil {
		return SamplingPoint{}, err
	}
	if len(ps) == 0 {
		return SamplingPoint{}, Errorf(NotFound, "id", "sampling point %d not found", id)
	}
	return ps[0], nil
}

// appendPointChange files a point write in the change feed (entity "sampling_point").
func appendPointChange(ctx context.Context, tx pgx.Tx, p SamplingPoint, kind string) error {
	b := orb.Bound{Min: p.Loc, Max: p.Loc}
	_, err := AppendChange(ctx, tx, ChangeInput{Kind: kind, Entity: "sampling_point", EntityID: p.ID, AreaID: p.AreaID, BBox: &b,
		Payload: map[string]any{"version": p.Version}})
	return err
}

// CreateSamplingPoint stores a point inside c.User's jurisdiction. Errors: Invalid
// naming the field, Forbidden (role, or place outside the jurisdiction).
func (s *Store) CreateSamplingPoint(ctx context.Context, c Caller, in SamplingPointInput) (SamplingPoint, error) {
	if err := canManageSampling(c.User); err != nil {
		return SamplingPoint{}, err
	}
	in, err := in.check()
	if err != nil {
		return SamplingPoint{}, err
	}
	var out SamplingPoint
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkPointPlace(ctx, tx, c.User, in); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO sampling_points (name, geom, area_id, capacity_per_hour, opens, closes, grid_ids)
			SELECT $1, g, (`+finestAreaOf("g", "$8")+`), $4, $5::time, $6::time, $7
			FROM (SELECT ST_SetSRID(ST_MakePoint($2, $3), 4326) AS g) x RETURNING id`,
			in.Name, *in.Lng, *in.Lat, in.CapacityPerHour, in.Opens, in.Closes, in.GridIDs, levelNames()).Scan(&id)
		if err != nil {
			return dbError("insert sampling point", err)
		}
		if out, err = getPoint(ctx, tx, User{Role: Admin}, id); err != nil {
			return err
		}
		return appendPointChange(ctx, tx, out, "upsert")
	})
	return out, err
}

// UpdateSamplingPoint replaces point id's fields. Errors as CreateSamplingPoint, plus
// NotFound and Conflict for a stale version (naming the current one).
func (s *Store) UpdateSamplingPoint(ctx context.Context, c Caller, id int64, in SamplingPointInput) (SamplingPoint, error) {
	if err := canManageSampling(c.User); err != nil {
		return SamplingPoint{}, err
	}
	if in.Version < 1 {
		return SamplingPoint{}, Errorf(Invalid, "version", "is required: the version you last read")
	}
	in, err := in.check()
	if err != nil {
		return SamplingPoint{}, err
	}
	var out SamplingPoint
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := lockPoint(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		if cur.Version != in.Version {
			return Errorf(Conflict, "version", "sampling point %d is at version %d, not %d: reload it", id, cur.Version, in.Version)
		}
		if err := checkPointPlace(ctx, tx, c.User, in); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE sampling_points SET name = $2, geom = x.g, area_id = (`+finestAreaOf("x.g", "$9")+`),
			       capacity_per_hour = $5, opens = $6::time, closes = $7::time, grid_ids = $8,
			       version = version + 1, updated_at = now()
			FROM (SELECT ST_SetSRID(ST_MakePoint($3, $4), 4326) AS g) x WHERE id = $1`,
			id, in.Name, *in.Lng, *in.Lat, in.CapacityPerHour, in.Opens, in.Closes, in.GridIDs, levelNames())
		if err != nil {
			return dbError("update sampling point", err)
		}
		if out, err = getPoint(ctx, tx, User{Role: Admin}, id); err != nil {
			return err
		}
		return appendPointChange(ctx, tx, out, "upsert")
	})
	return out, err
}

// lockPoint reads point id visible to u and locks its row.
func lockPoint(ctx context.Context, tx pgx.Tx, u User, id int64) (SamplingPoint, error) {
	p, err := getPoint(ctx, tx, u, id)
	if err != nil {
		return p, err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM sampling_points WHERE id = $1 FOR UPDATE`, id); err != nil {
		return p, dbError("lock sampling point", err)
	}
	return p, nil
}

// DeleteSamplingPoint removes point id. Errors: NotFound, Forbidden, Conflict while
// an open round sends households to it.
func (s *Store) DeleteSamplingPoint(ctx context.Context, c Caller, id int64) error {
	if err := canManageSampling(c.User); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockPoint(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		var round int64
		err = tx.QueryRow(ctx, `SELECT COALESCE(max(r.id), 0) FROM sampling_assignments sa JOIN sampling_rounds r ON r.id = sa.round_id
			WHERE sa.point_id = $1 AND r.status = 'open'`, id).Scan(&round)
		if err != nil {
			return dbError("point in use", err)
		}
		if round != 0 {
			return Errorf(Conflict, "id", "sampling point %d is used by open round %d: close the round first", id, round)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sampling_points WHERE id = $1`, id); err != nil {
			return dbError("delete sampling point", err)
		}
		return appendPointChange(ctx, tx, p, "delete")
	})
}

// DemoSamplingPoints adds one point per community that has none yet (keyed by
// "demo-point-<community code>"), at a point on the community's surface (filed
// under the grid there), serving
// its grids, open 07:00–21:00, with a capacity that lets the community's residents
// through in 12 of those hours (at least 60 an hour, rounded up to tens), so a
// district round fits in a day. It returns how many it added.
func (s *Store) DemoSamplingPoints(ctx context.Context) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			WITH pp AS (
				-- Residents per area and every ancestor in one pass: a count per
				-- community through a lateral subquery took a minute on the demo.
				SELECT x.unit AS id, count(*) AS n
				FROM persons p JOIN households h ON h.id = p.household_id
				JOIN areas a ON a.id = h.area_id CROSS JOIN LATERAL unnest(a.ancestors) AS x(unit)
				GROUP BY x.unit
			)
			INSERT INTO sampling_points (ext_id, name, geom, area_id, capacity_per_hour, opens, closes, grid_ids)
			SELECT 'demo-point-' || c.code, c.name || '核酸采样点', ST_PointOnSurface(c.geom),
			       COALESCE((SELECT g.id FROM areas g WHERE g.parent_id = c.id AND ST_Intersects(g.geom, ST_PointOnSurface(c.geom))
			                 ORDER BY g.id LIMIT 1), c.id),
			       greatest(60, ceil(COALESCE(pp.n, 0) / 12.0 / 10) * 10)::int, '07:00', '21:00',
			       ARRAY(SELECT g.id FROM areas g WHERE g.parent_id = c.id ORDER BY g.id)
			FROM areas c LEFT JOIN pp ON pp.id = c.id
			WHERE c.level = 'community'
			ON CONFLICT (ext_id) DO NOTHING`)
		if err != nil {
			return dbError("demo sampling points", err)
		}
		n = int(tag.RowsAffected())
		if n == 0 {
			return nil
		}
		return recordBulkChange(ctx, tx, "generate", "sampling_point", nil, map[string]any{"points": n})
	})
	return n, err
}
