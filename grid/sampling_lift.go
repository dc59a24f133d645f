package grid

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// negativeRound is the newest closed round that came back negative for a zone.
type negativeRound struct {
	id int64
	at *time.Time
}

// negativeRounds finds, for each zone of ids, the newest closed sampling round that
// covers it and came back negative: the round was started for the zone (zone_ids)
// or for an area whose polygon covers the zone; it holds at least one household
// inside the zone; every person of those households (the deceased aside) was
// swabbed or their door-to-door stop marked done; and every pool holding a swab of
// theirs was reported negative (a pending pool is not negative yet). The lifting
// rules then also want it closed after the zone's last step and last case
// (ComputeZoneLiftRound).
func negativeRounds(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]negativeRound, error) {
	rows, err := tx.Query(ctx, `
		SELECT z.id, r.id, r.closed_at FROM zones z
		CROSS JOIN LATERAL (
		  SELECT r.id, r.closed_at FROM sampling_rounds r
		  WHERE r.status = 'closed'
		    AND (z.id = ANY(r.zone_ids) OR EXISTS (SELECT 1 FROM areas a WHERE a.id = r.area_id AND ST_CoveredBy(z.geom, a.geom)))
		    AND EXISTS (SELECT 1 FROM sampling_assignments sa JOIN households h ON h.id = sa.household_id
		                WHERE sa.round_id = r.id AND ST_Intersects(z.geom, h.geom))
		    AND NOT EXISTS (
		      SELECT 1 FROM sampling_assignments sa JOIN households h ON h.id = sa.household_id
		      JOIN persons p ON p.household_id = h.id AND p.status <> 'deceased'
		      WHERE sa.round_id = r.id AND ST_Intersects(z.geom, h.geom)
		        AND NOT EXISTS (SELECT 1 FROM sampling_swabs s WHERE s.round_id = r.id AND s.person_id = p.id)
		        AND NOT EXISTS (SELECT 1 FROM sampling_outcomes o WHERE o.round_id = r.id AND o.household_id = h.id AND o.outcome = 'done'))
		    AND NOT EXISTS (
		      SELECT 1 FROM sampling_swabs s JOIN sampling_pools sp ON sp.id = s.pool_id JOIN households h ON h.id = s.household_id
		      WHERE s.round_id = r.id AND ST_Intersects(z.geom, h.geom) AND sp.result <> 'negative')
		  ORDER BY r.closed_at DESC, r.id DESC LIMIT 1) r
		WHERE z.id = ANY($1)`, ids)
	if err != nil {
		return nil, dbError("negative rounds of zones", err)
	}
	defer rows.Close()
	out := map[int64]negativeRound{}
	for rows.Next() {
		var z int64
		var nr negativeRound
		if err := rows.Scan(&z, &nr.id, &nr.at); err != nil {
			return nil, dbError("scan negative round", err)
		}
		out[z] = nr
	}
	return out, dbErrorOrNil("negative rounds of zones", rows.Err())
}
