package grid

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// HouseholdExtIDs lists the ExtIDs of the stored households that start with prefix
// (e.g. "demo-1-"), so a generator of numbered households can send the store only
// the missing ones rather than restage every household to have it skipped.
func (s *Store) HouseholdExtIDs(ctx context.Context, prefix string) ([]string, error) {
	// starts_with needs no escaping of % and _ in the prefix, unlike LIKE.
	rows, err := s.pool.Query(ctx, `SELECT ext_id FROM households WHERE starts_with(ext_id, $1)`, prefix)
	if err != nil {
		return nil, dbError("list household ext ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbError("list household ext ids", err)
	}
	return ids, nil
}

// Totals is what the database holds, for the demo's summary.
type Totals struct {
	Districts, Streets, Communities, Grids int
	Households, Persons, Vulnerable        int // Vulnerable: persons with any vulnerability flag
	Cases, Users                           int
}

// Totals counts the areas per level, households, persons, cases and users.
func (s *Store) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := s.pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM areas WHERE level = 'district'),
       (SELECT count(*) FROM areas WHERE level = 'street'),
       (SELECT count(*) FROM areas WHERE level = 'community'),
       (SELECT count(*) FROM areas WHERE level = 'grid'),
       (SELECT count(*) FROM households),
       (SELECT count(*) FROM persons),
       (SELECT count(*) FROM persons WHERE vulnerability <> '{}'),
       (SELECT count(*) FROM cases),
       (SELECT count(*) FROM users)`).Scan(&t.Districts, &t.Streets, &t.Communities, &t.Grids,
		&t.Households, &t.Persons, &t.Vulnerable, &t.Cases, &t.Users)
	if err != nil {
		return Totals{}, dbError("count totals", err)
	}
	return t, nil
}
