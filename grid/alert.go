package grid

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// Alerts tell grid workers and command staff that something needs a person now: a
// fever, a missed check-in, a missed contact with a vulnerable person, a full
// isolation site. Each is raised once (its key), in the transaction of what caused
// it, with a change row so it appears live on the command map and the worker's list;
// it is open until acknowledged and then closed by a person.

// Alert kinds.
const (
	AlertFever         = "fever"
	AlertMissedCheckIn = "missed_checkin"
	AlertMissedContact = "missed_contact"
	AlertOverCapacity  = "over_capacity"
)

// AlertKinds lists every kind.
var AlertKinds = []string{AlertFever, AlertMissedCheckIn, AlertMissedContact, AlertOverCapacity}

// Alert is one raised alert. Message never holds personal data: the change feed
// carries it to everyone in the jurisdiction.
type Alert struct {
	ID             int64
	Kind           string
	Status         string // open, acknowledged or closed
	AreaID         int64
	PersonID       int64
	IsolationID    int64
	SiteID         int64
	Message        string
	Detail         map[string]any
	Location       *orb.Point
	RaisedAt       time.Time
	AcknowledgedAt *time.Time
	AcknowledgedBy int64
	ClosedAt       *time.Time
	ClosedBy       int64
}

// AlertInput is an alert as raised.
type AlertInput struct {
	Kind                          string
	Key                           string // unique: raising the same key twice raises once
	AreaID, PersonID, IsolationID int64
	SiteID                        int64
	Location                      orb.Point
	Message                       string
	Detail                        map[string]any
	RaisedAt                      time.Time
}

// raiseAlert inserts a unless its key exists, with its change row; it returns the
// alert's id and whether it was new.
func raiseAlert(ctx context.Context, tx pgx.Tx, a AlertInput) (int64, bool, error) {
	if a.Detail == nil {
		a.Detail = map[string]any{}
	}
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO alerts (kind, key, area_id, person_id, isolation_id, site_id, message, detail, raised_at)
		VALUES ($1, $2, NULLIF($3::bigint, 0), NULLIF($4::bigint, 0), NULLIF($5::bigint, 0), NULLIF($6::bigint, 0), $7, $8, $9)
		ON CONFLICT (key) DO NOTHING RETURNING id`,
		a.Kind, a.Key, a.AreaID, a.PersonID, a.IsolationID, a.SiteID, a.Message, a.Detail, a.RaisedAt).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT id FROM alerts WHERE key = $1`, a.Key).Scan(&id)
		if err != nil {
			return 0, false, dbError("read alert", err)
		}
		return id, false, nil
	}
	if err != nil {
		return 0, false, dbError("raise alert", err)
	}
	_, err = AppendChange(ctx, tx, ChangeInput{Kind: "raise", Entity: "alert", EntityID: id, AreaID: a.AreaID,
		BBox: pointBound(a.Location), Payload: map[string]any{"alert_kind": a.Kind, "status": "open", "message": a.Message}})
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// AlertFilter selects alerts: Status "open" (default: open or acknowledged),
// "closed" or "all"; Kind "" for every kind.
type AlertFilter struct {
	Status string
	Kind   string
}

// ListAlerts lists the alerts inside c's jurisdiction (an alert without area, a
// site outside every area, is admin's), newest first, at most MaxLimit.
func (s *Store) ListAlerts(ctx context.Context, c Caller, f AlertFilter) ([]Alert, error) {
	w := &where{}
	switch f.Status {
	case "", "open":
		w.add("a.status <> 'closed'")
	case "closed":
		w.add("a.status = 'closed'")
	case "all":
	default:
		return nil, Errorf(Invalid, "status", "%q is not one of open, closed, all", f.Status)
	}
	if f.Kind != "" {
		if !slices.Contains(AlertKinds, f.Kind) {
			return nil, Errorf(Invalid, "kind", "%q is not one of fever, missed_checkin, missed_contact, over_capacity", f.Kind)
		}
		w.add("a.kind = ?", f.Kind)
	}
	w.visibleAreaCol(c.User, "a.area_id")
	rows, err := s.pool.Query(ctx, alertSelect+w.sql()+fmt.Sprintf(" ORDER BY a.id DESC LIMIT %d", MaxLimit), w.args...)
	if err != nil {
		return nil, dbError("list alerts", err)
	}
	as, err := scanAlerts(rows)
	if err != nil {
		return nil, err
	}
	for i := range as {
		if as[i].Location != nil {
			if err := s.placeFor(c.User, nil, as[i].Location); err != nil {
				return nil, fmt.Errorf("alert %d: %w", as[i].ID, err)
			}
		}
	}
	return as, nil
}

const alertSelect = `
	SELECT a.id, a.kind, a.status, COALESCE(a.area_id, 0), COALESCE(a.person_id, 0), COALESCE(a.isolation_id, 0),
	       COALESCE(a.site_id, 0), a.message, a.detail, a.raised_at, a.acknowledged_at, COALESCE(a.acknowledged_by, 0),
	       a.closed_at, COALESCE(a.closed_by, 0),
	       COALESCE(ST_X(COALESCE(h.geom, s.geom)), 'NaN'), COALESCE(ST_Y(COALESCE(h.geom, s.geom)), 'NaN')
	FROM alerts a
	LEFT JOIN persons p ON p.id = a.person_id
	LEFT JOIN households h ON h.id = p.household_id
	LEFT JOIN isolation_sites s ON s.id = a.site_id`

func scanAlerts(rows pgx.Rows) ([]Alert, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		var x, y float64
		err := r.Scan(&a.ID, &a.Kind, &a.Status, &a.AreaID, &a.PersonID, &a.IsolationID, &a.SiteID, &a.Message, &a.Detail,
			&a.RaisedAt, &a.AcknowledgedAt, &a.AcknowledgedBy, &a.ClosedAt, &a.ClosedBy, &x, &y)
		if x == x && y == y { // not NaN
			a.Location = &orb.Point{x, y}
		}
		return a, err
	})
	if err != nil {
		return nil, dbError("list alerts", err)
	}
	return out, nil
}

// Alert actions.
const (
	AlertAcknowledge = "acknowledge"
	AlertClose       = "close"
)

// UpdateAlert acknowledges or closes alert id at now. Errors: Forbidden outside
// CareWriters; Invalid for another action; NotFound outside the jurisdiction;
// Conflict when the alert is closed already (or acknowledged twice).
func (s *Store) UpdateAlert(ctx context.Context, c Caller, id int64, action string, now time.Time) (Alert, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return Alert{}, err
	}
	if action != AlertAcknowledge && action != AlertClose {
		return Alert{}, Errorf(Invalid, "action", "%q is not one of acknowledge, close", action)
	}
	var out Alert
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		w := &where{}
		w.add("a.id = ?", id)
		w.visibleAreaCol(c.User, "a.area_id")
		rows, err := tx.Query(ctx, alertSelect+w.sql()+" FOR UPDATE OF a", w.args...)
		if err != nil {
			return dbError("load alert", err)
		}
		as, err := scanAlerts(rows)
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return Errorf(NotFound, "", "alert %d not found", id)
		}
		a := as[0]
		switch {
		case a.Status == "closed":
			return Errorf(Conflict, "", "alert %d is closed already", id)
		case action == AlertAcknowledge && a.Status == "acknowledged":
			return Errorf(Conflict, "", "alert %d is acknowledged already", id)
		}
		if action == AlertAcknowledge {
			_, err = tx.Exec(ctx, `UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = NULLIF($3::bigint, 0) WHERE id = $1`, id, now, c.User.ID)
			a.Status, a.AcknowledgedAt, a.AcknowledgedBy = "acknowledged", &now, c.User.ID
		} else {
			_, err = tx.Exec(ctx, `UPDATE alerts SET status = 'closed', closed_at = $2, closed_by = NULLIF($3::bigint, 0) WHERE id = $1`, id, now, c.User.ID)
			a.Status, a.ClosedAt, a.ClosedBy = "closed", &now, c.User.ID
		}
		if err != nil {
			return dbError("update alert", err)
		}
		var bbox *orb.Bound
		if a.Location != nil {
			bbox = pointBound(*a.Location)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: action, Entity: "alert", EntityID: id, AreaID: a.AreaID, BBox: bbox,
			Payload: map[string]any{"alert_kind": a.Kind, "status": a.Status}})
		out = a
		return err
	})
	return out, err
}
