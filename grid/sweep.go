package grid

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid/care"
)

// The care sweeper: what happens because time passes, not because someone acted.
// Missed check-ins and missed contacts raise alerts, and spells reaching their last
// day without an open alert are released. Every step is idempotent (alert keys,
// status guards), so several servers may sweep the same database at once, and a
// sweep after downtime catches up on everything missed meanwhile.

// SweepResult counts what one sweep did.
type SweepResult struct {
	MissedCheckIns int // alerts raised
	MissedContacts int // alerts raised
	Released       int // spells released
}

// Sweep applies the care rules at now: one transaction per step.
func (s *Store) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	var out SweepResult
	pol, err := s.CurrentCarePolicy(ctx)
	if err != nil {
		return out, err
	}
	if out.MissedCheckIns, err = s.sweepCheckIns(ctx, pol.Policy, now); err != nil {
		return out, fmt.Errorf("sweep check-ins: %w", err)
	}
	if out.Released, err = s.sweepReleases(ctx, pol.Policy, now); err != nil {
		return out, fmt.Errorf("sweep releases: %w", err)
	}
	if out.MissedContacts, err = s.sweepContacts(ctx, pol.Policy, now); err != nil {
		return out, fmt.Errorf("sweep contacts: %w", err)
	}
	return out, nil
}

// RunSweeper sweeps every interval until ctx ends, logging failures; serve runs it.
func (s *Store) RunSweeper(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := s.Sweep(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			log.Warn("care sweep failed", "err", err)
		} else if res != (SweepResult{}) {
			log.Info("care sweep", "missed_checkins", res.MissedCheckIns, "missed_contacts", res.MissedContacts, "released", res.Released)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepCheckIns raises an alert per missed check-in slot of every home spell
// (central sites keep their own medical watch).
func (s *Store) sweepCheckIns(ctx context.Context, pol care.Policy, now time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT i.id, i.person_id, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom), i.began_on, i.start_date, i.period_days,
			       i.created_at, COALESCE(array_agg(k.at) FILTER (WHERE k.at IS NOT NULL), '{}')
			FROM isolations i JOIN households h ON h.id = i.household_id
			LEFT JOIN checkins k ON k.isolation_id = i.id
			WHERE i.status = 'active' AND i.kind <> 'central_isolation'
			GROUP BY i.id, h.id`)
		if err != nil {
			return dbError("read spells", err)
		}
		var alerts []AlertInput
		for rows.Next() {
			var id, person, area int64
			var loc orb.Point
			var began, start, created time.Time
			var period int
			var ins []time.Time
			if err := rows.Scan(&id, &person, &area, &loc[0], &loc[1], &began, &start, &period, &created, &ins); err != nil {
				rows.Close()
				return dbError("read spells", err)
			}
			for _, sl := range pol.MissedCheckIns(began, care.LastDay(start, period), created, ins, now) {
				alerts = append(alerts, AlertInput{Kind: AlertMissedCheckIn, Key: fmt.Sprintf("missed_checkin:%d:%s", id, sl.Key()),
					AreaID: area, PersonID: person, IsolationID: id, Location: loc, RaisedAt: now,
					Message: fmt.Sprintf("check-in %d of %s missed (due by %s)", sl.Index+1, sl.Day.Format(time.DateOnly), sl.Due.In(pol.Location()).Format("15:04")),
					Detail:  map[string]any{"day": sl.Day.Format(time.DateOnly), "slot": sl.Index, "due": sl.Due}})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("read spells", err)
		}
		n, err = raiseAlerts(ctx, tx, alerts)
		return err
	})
	return n, err
}

// raiseAlerts raises many alerts: one INSERT skips the keys already raised, then a
// change row per new alert.
func raiseAlerts(ctx context.Context, tx pgx.Tx, as []AlertInput) (int, error) {
	if len(as) == 0 {
		return 0, nil
	}
	byKey := make(map[string]AlertInput, len(as))
	keys := make([]string, len(as))
	kinds := make([]string, len(as))
	areas := make([]int64, len(as))
	persons := make([]int64, len(as))
	isos := make([]int64, len(as))
	msgs := make([]string, len(as))
	details := make([]map[string]any, len(as))
	for i, a := range as {
		byKey[a.Key] = a
		keys[i], kinds[i], areas[i], persons[i], isos[i], msgs[i], details[i] = a.Key, a.Kind, a.AreaID, a.PersonID, a.IsolationID, a.Message, a.Detail
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO alerts (kind, key, area_id, person_id, isolation_id, message, detail, raised_at)
		SELECT k, key, NULLIF(a, 0), NULLIF(p, 0), NULLIF(i, 0), m, d, $8
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::jsonb[]) AS x(k, key, a, p, i, m, d)
		ON CONFLICT (key) DO NOTHING RETURNING id, key`,
		kinds, keys, areas, persons, isos, msgs, details, as[0].RaisedAt)
	if err != nil {
		return 0, dbError("raise alerts", err)
	}
	type created struct {
		id  int64
		key string
	}
	news, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (created, error) {
		var c created
		return c, r.Scan(&c.id, &c.key)
	})
	if err != nil {
		return 0, dbError("raise alerts", err)
	}
	for _, c := range news {
		a := byKey[c.key]
		if _, err := AppendChange(ctx, tx, ChangeInput{Kind: "raise", Entity: "alert", EntityID: c.id, AreaID: a.AreaID,
			BBox: pointBound(a.Location), Payload: map[string]any{"alert_kind": a.Kind, "status": "open", "message": a.Message}}); err != nil {
			return 0, err
		}
	}
	return len(news), nil
}

// sweepReleases releases the spells whose release time has come with no open alert;
// a central spell gives its room back. Spells locked by a writer are left for the
// next sweep.
func (s *Store) sweepReleases(ctx context.Context, pol care.Policy, now time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT i.id, i.person_id, i.kind, COALESCE(i.site_id, 0), i.start_date, i.period_days, COALESCE(h.area_id, 0),
			       ST_X(h.geom), ST_Y(h.geom), (SELECT count(*) FROM alerts a WHERE a.isolation_id = i.id AND a.status <> 'closed')
			FROM isolations i JOIN households h ON h.id = i.household_id
			WHERE i.status = 'active' AND i.start_date + i.period_days - 1 <= $1
			FOR UPDATE OF i SKIP LOCKED`, pol.Day(now))
		if err != nil {
			return dbError("read spells", err)
		}
		type spell struct {
			id, person, site, area int64
			kind                   string
			loc                    orb.Point
		}
		var due []spell
		for rows.Next() {
			var x spell
			var start time.Time
			var period, open int
			if err := rows.Scan(&x.id, &x.person, &x.kind, &x.site, &start, &period, &x.area, &x.loc[0], &x.loc[1], &open); err != nil {
				rows.Close()
				return dbError("read spells", err)
			}
			if pol.Releasable(care.LastDay(start, period), open, now) {
				due = append(due, x)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("read spells", err)
		}
		for _, x := range due {
			if _, err := tx.Exec(ctx, `UPDATE isolations SET status = 'released', ended_on = $2, released_at = $3,
				release_note = 'released on the last day: no open alert' WHERE id = $1`, x.id, pol.Day(now), now); err != nil {
				return dbError("release spell", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE persons SET status = 'normal', version = version + 1, updated_at = now() WHERE id = $1`, x.person); err != nil {
				return dbError("update person status", err)
			}
			if x.site != 0 {
				var site Site
				if err := tx.QueryRow(ctx, `UPDATE isolation_sites SET occupied = occupied - 1 WHERE id = $1
					RETURNING id, COALESCE(area_id, 0), ST_X(geom), ST_Y(geom), rooms, occupied`, x.site).
					Scan(&site.ID, &site.AreaID, &site.Location[0], &site.Location[1], &site.Rooms, &site.Occupied); err != nil {
					return dbError("give back a room", err)
				}
				if err := siteChanged(ctx, tx, site); err != nil {
					return err
				}
			}
			if _, err := AppendChange(ctx, tx, ChangeInput{Kind: "release", Entity: "isolation", EntityID: x.id, AreaID: x.area,
				BBox: pointBound(x.loc), Payload: map[string]any{"kind": x.kind, "status": "released"}}); err != nil {
				return err
			}
		}
		n = len(due)
		return nil
	})
	return n, err
}

// sweepContacts raises an alert per vulnerable person inside a sealed or control
// zone not contacted today once the day's contact hour has passed.
func (s *Store) sweepContacts(ctx context.Context, pol care.Policy, now time.Time) (int, error) {
	today := pol.Day(now)
	if now.Before(pol.At(today, pol.ContactHour)) {
		return 0, nil
	}
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			WITH z AS (`+fmt.Sprintf(enforcedZonesAt, "$1")+`)
			SELECT p.id, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom)
			FROM persons p JOIN households h ON h.id = p.household_id
			WHERE p.vulnerability <> '{}'
			  AND EXISTS (SELECT 1 FROM z WHERE z.kind IN ('sealed', 'control') AND ST_Intersects(z.geom, h.geom))
			  AND NOT EXISTS (SELECT 1 FROM care_contacts k WHERE k.person_id = p.id AND k.day = $2)`, now, today)
		if err != nil {
			return dbError("read vulnerable", err)
		}
		var alerts []AlertInput
		for rows.Next() {
			var a AlertInput
			if err := rows.Scan(&a.PersonID, &a.AreaID, &a.Location[0], &a.Location[1]); err != nil {
				rows.Close()
				return dbError("read vulnerable", err)
			}
			a.Kind, a.RaisedAt = AlertMissedContact, now
			a.Key = fmt.Sprintf("missed_contact:%d:%s", a.PersonID, today.Format(time.DateOnly))
			a.Message = fmt.Sprintf("vulnerable person not contacted on %s by %02d:00", today.Format(time.DateOnly), pol.ContactHour)
			a.Detail = map[string]any{"day": today.Format(time.DateOnly)}
			alerts = append(alerts, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("read vulnerable", err)
		}
		n, err = raiseAlerts(ctx, tx, alerts)
		return err
	})
	return n, err
}
