package trace

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace/copresence"
)

// SQLPlan selects how ContactsSQL finds the pairs.
type SQLPlan int

const (
	// SQLGeography is the straightforward query: ST_DWithin on geography (metres on
	// the sphere) and the time range, which needs a GiST index on (geom::geography)
	// to avoid a scan per case ping (CreateGeographyIndex).
	SQLGeography SQLPlan = iota
	// SQLGeometryBox adds a bounding-box test in degrees on the geometry column, the
	// usual way to let the schema's GiST index on geom serve a metre distance.
	SQLGeometryBox
)

// SQLContact is a degree-1 contact as the SQL reference finds it.
type SQLContact struct {
	Subject      int64
	Minutes      int
	MinDistanceM float64
}

// ContactsSQL is the straightforward PostGIS form of the close-contact rule, kept as
// a reference and a yardstick for FindContacts (see gridtrace bench trace): one
// self-join of pings, the case's pings in [from, to] against everyone else's within
// the tolerance in time and the distance on the sphere (ST_DWithin on geography with
// use_spheroid false: PostGIS's sphere has the mean radius 6,371,008.77 m, ours
// 6,371,008.8 m, 4·10⁻⁹ apart), grouped into distinct exposed minutes per subject.
// Only degree 1, no encounters. The result is ordered by minutes (most first), then
// subject id.
func (s *Store) ContactsSQL(ctx context.Context, caseID int64, from, to time.Time, r copresence.Rule, plan SQLPlan) ([]SQLContact, error) {
	if err := r.Validate(); err != nil {
		return nil, grid.Errorf(grid.Invalid, "rule", "%v", err)
	}
	near := `ST_DWithin(c.geom::geography, o.geom::geography, $5, false)`
	args := []any{caseID, from, to, r.Tolerance, r.DistanceM, r.MinDuration.Seconds()}
	if plan == SQLGeometryBox {
		// A point within d metres is within d/R radians of latitude and d/(R·cos φ)
		// of longitude; the box is the larger, at the case's highest |latitude|.
		var maxLat float64
		if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(abs(ST_Y(geom))), 0) FROM pings WHERE subject_id = $1 AND ts BETWEEN $2 AND $3`,
			caseID, from, to).Scan(&maxLat); err != nil {
			return nil, dbErr("case latitude", err)
		}
		cos := math.Cos(math.Min(89, maxLat+0.01) * math.Pi / 180)
		deg := r.DistanceM / (geo.EarthRadiusM * cos) * 180 / math.Pi * 1.001
		near = `ST_DWithin(c.geom, o.geom, $7) AND ` + near
		args = append(args, deg)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT o.subject_id,
		       count(DISTINCT floor(extract(epoch FROM c.ts) / 60))::int AS minutes,
		       min(ST_Distance(c.geom::geography, o.geom::geography, false)) AS min_d
		FROM pings c
		JOIN pings o ON o.ts BETWEEN c.ts - $4::interval AND c.ts + $4::interval
		            AND o.subject_id <> c.subject_id
		            AND `+near+`
		WHERE c.subject_id = $1 AND c.ts BETWEEN $2 AND $3
		GROUP BY o.subject_id
		HAVING count(DISTINCT floor(extract(epoch FROM c.ts) / 60)) * 60 >= $6`, args...)
	if err != nil {
		return nil, dbErr("contacts by SQL", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SQLContact])
	if err != nil {
		return nil, dbErr("contacts by SQL", err)
	}
	slices.SortFunc(out, func(a, b SQLContact) int {
		return cmp.Or(cmp.Compare(b.Minutes, a.Minutes), cmp.Compare(a.Subject, b.Subject))
	})
	return out, nil
}

// CreateGeographyIndex builds the GiST index on (geom::geography) that the
// SQLGeography plan needs; the schema has none (the search does not use it, and each
// GiST index costs load time). It returns how long the build took.
func (s *Store) CreateGeographyIndex(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := s.pool.Exec(ctx, `CREATE INDEX IF NOT EXISTS pings_geog_idx ON pings USING gist ((geom::geography))`); err != nil {
		return 0, dbErr("create geography index", err)
	}
	return time.Since(start), nil
}
