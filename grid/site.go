package grid

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid/care"
)

// Central isolation sites (集中隔离点) and transfers (转运). A transfer takes a room
// when it is requested, by one conditional UPDATE of the site's row (occupied + 1
// where occupied < rooms): concurrent requests queue on that row lock and the last
// free room goes to exactly one of them; the others are refused with Conflict and
// write nothing. The room is given back when the transfer is cancelled or the spell
// at the site ends.

// Site is a central isolation site.
type Site struct {
	ID        int64
	Name      string
	Address   string
	AreaID    int64
	Location  orb.Point
	Rooms     int
	Occupied  int
	CreatedAt time.Time
}

// Free is the number of rooms not taken.
func (s Site) Free() int { return s.Rooms - s.Occupied }

// SiteInput is a site as created.
type SiteInput struct {
	Name     string
	Address  string
	Location orb.Point
	Rooms    int
}

// CreateSite adds a site. Errors: Forbidden outside CommandWriters or for a point
// outside the caller's jurisdiction; Invalid naming name, location or rooms.
func (s *Store) CreateSite(ctx context.Context, c Caller, in SiteInput) (Site, error) {
	if err := requireRoleIn(c.User, CommandWriters()); err != nil {
		return Site{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 {
		return Site{}, Errorf(Invalid, "name", "is required, at most 200 characters")
	}
	if err := geo.ValidLngLat(in.Location[0], in.Location[1]); err != nil {
		return Site{}, Errorf(Invalid, "location", "%v", err)
	}
	if in.Rooms < 0 || in.Rooms > 100000 {
		return Site{}, Errorf(Invalid, "rooms", "must be between 0 and 100000")
	}
	var out Site
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var area int64
		var visible bool
		err := tx.QueryRow(ctx, `
			SELECT COALESCE(a.id, 0), $3 OR COALESCE(a.ancestors && $4::bigint[], false)
			FROM (SELECT 1) one LEFT JOIN LATERAL (
				SELECT id, ancestors FROM areas WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
				ORDER BY array_length(ancestors, 1) DESC, id LIMIT 1) a ON true`,
			in.Location[0], in.Location[1], seesAll(c.User), userAreas(c.User)).Scan(&area, &visible)
		if err != nil {
			return dbError("locate site", err)
		}
		if !visible {
			return Errorf(Forbidden, "location", "is outside your jurisdiction")
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO isolation_sites (name, address, area_id, geom, rooms, created_by)
			VALUES ($1, $2, NULLIF($3::bigint, 0), ST_SetSRID(ST_MakePoint($4, $5), 4326), $6, NULLIF($7::bigint, 0))
			RETURNING id, created_at`, in.Name, strings.TrimSpace(in.Address), area, in.Location[0], in.Location[1], in.Rooms, c.User.ID).
			Scan(&out.ID, &out.CreatedAt)
		if err != nil {
			return dbError("insert site", err)
		}
		out.Name, out.Address, out.AreaID, out.Location, out.Rooms = in.Name, strings.TrimSpace(in.Address), area, in.Location, in.Rooms
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "site", EntityID: out.ID, AreaID: area,
			BBox: pointBound(in.Location), Payload: map[string]any{"rooms": in.Rooms, "occupied": 0}})
		return err
	})
	return out, err
}

const siteSelect = `SELECT s.id, s.name, s.address, COALESCE(s.area_id, 0), ST_X(s.geom), ST_Y(s.geom), s.rooms, s.occupied, s.created_at
	FROM isolation_sites s`

func scanSites(rows pgx.Rows) ([]Site, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Site, error) {
		var x Site
		err := r.Scan(&x.ID, &x.Name, &x.Address, &x.AreaID, &x.Location[0], &x.Location[1], &x.Rooms, &x.Occupied, &x.CreatedAt)
		return x, err
	})
	if err != nil {
		return nil, dbError("list sites", err)
	}
	return out, nil
}

// ListSites lists the sites inside c's jurisdiction by id; freeOnly keeps those with
// a free room.
func (s *Store) ListSites(ctx context.Context, c Caller, freeOnly bool) ([]Site, error) {
	w := &where{}
	w.visibleAreaCol(c.User, "s.area_id")
	if freeOnly {
		w.add("s.occupied < s.rooms")
	}
	rows, err := s.pool.Query(ctx, siteSelect+w.sql()+fmt.Sprintf(" ORDER BY s.id LIMIT %d", MaxLimit), w.args...)
	if err != nil {
		return nil, dbError("list sites", err)
	}
	return scanSites(rows)
}

// Transfer statuses.
const (
	TransferRequested = "requested"
	TransferInTransit = "in_transit"
	TransferArrived   = "arrived"
	TransferCancelled = "cancelled"
)

// Transfer is a person's move from their household to a site.
type Transfer struct {
	ID              int64
	PersonID        int64
	FromHouseholdID int64
	SiteID          int64
	IsolationID     int64 // the home spell it ends (0 for none), then the central one
	Reason          string
	Vehicle         string
	Status          string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// PersonName (masked per PersonPolicy) and SiteName are filled in by
	// ListTransfers, so the list names who goes where.
	PersonName string
	SiteName   string
}

// TransferInput requests a transfer; Reason is needed only for a person not under
// isolation or monitoring yet (otherwise the spell's reason is kept).
type TransferInput struct {
	PersonID int64
	SiteID   int64
	Vehicle  string
	Reason   string
}

// RequestTransfer takes a room at the site for the person at now. Errors: Forbidden
// outside CommandWriters; NotFound for a person or site outside the jurisdiction;
// Invalid naming reason or vehicle; Conflict when the site has no free room (nothing
// is written), the person is already at a site or on the way to one.
func (s *Store) RequestTransfer(ctx context.Context, c Caller, in TransferInput, now time.Time) (Transfer, error) {
	if err := requireRoleIn(c.User, CommandWriters()); err != nil {
		return Transfer{}, err
	}
	in.Vehicle = strings.TrimSpace(in.Vehicle)
	if utf8.RuneCountInString(in.Vehicle) > 100 {
		return Transfer{}, Errorf(Invalid, "vehicle", "is longer than 100 characters")
	}
	if in.Reason != "" && !slices.Contains(IsolationReasons, in.Reason) {
		return Transfer{}, Errorf(Invalid, "reason", "%q is not one of %s", in.Reason, strings.Join(IsolationReasons, ", "))
	}
	var out Transfer
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockPerson(ctx, tx, c.User, in.PersonID)
		if err != nil {
			return err
		}
		var iso int64
		var kind, reason string
		err = tx.QueryRow(ctx, `SELECT id, kind, reason FROM isolations WHERE person_id = $1 AND status = 'active'`, p.ID).Scan(&iso, &kind, &reason)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return dbError("load spell", err)
		}
		if kind == CentralIsolation {
			return Errorf(Conflict, "person_id", "person %d is at a site already", p.ID)
		}
		if reason == "" {
			reason = in.Reason
		}
		if reason == "" {
			return Errorf(Invalid, "reason", "is required for a person not under isolation or monitoring")
		}
		var open bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE person_id = $1 AND status IN ('requested', 'in_transit'))`, p.ID).Scan(&open); err != nil {
			return dbError("check transfers", err)
		}
		if open {
			return Errorf(Conflict, "person_id", "person %d is on the way to a site already", p.ID)
		}
		var site Site
		rows, err := tx.Query(ctx, siteSelect+` WHERE s.id = $1 AND ($2 OR s.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[]))`,
			in.SiteID, seesAll(c.User), userAreas(c.User))
		if err != nil {
			return dbError("load site", err)
		}
		sites, err := scanSites(rows)
		if err != nil {
			return err
		}
		if len(sites) == 0 {
			return Errorf(NotFound, "site_id", "site %d not found", in.SiteID)
		}
		site = sites[0]
		// The row lock of this UPDATE serialises concurrent requests for the site;
		// each sees the count its predecessor committed.
		err = tx.QueryRow(ctx, `UPDATE isolation_sites SET occupied = occupied + 1 WHERE id = $1 AND occupied < rooms RETURNING occupied, rooms`,
			site.ID).Scan(&site.Occupied, &site.Rooms)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(Conflict, "site_id", "site %d has no free room", site.ID)
		}
		if err != nil {
			return dbError("take a room", err)
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO transfers (person_id, from_household_id, site_id, isolation_id, reason, vehicle, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, NULLIF($4::bigint, 0), $5, $6, NULLIF($7::bigint, 0), $8, $8) RETURNING id`,
			p.ID, p.HouseholdID, site.ID, iso, reason, in.Vehicle, c.User.ID, now).Scan(&out.ID)
		if err != nil {
			return dbError("insert transfer", err)
		}
		out = Transfer{ID: out.ID, PersonID: p.ID, FromHouseholdID: p.HouseholdID, SiteID: site.ID, IsolationID: iso, Reason: reason,
			Vehicle: in.Vehicle, Status: TransferRequested, CreatedAt: now, UpdatedAt: now}
		if err := siteChanged(ctx, tx, site); err != nil {
			return err
		}
		if site.Free() == 0 {
			if _, _, err := raiseAlert(ctx, tx, AlertInput{Kind: AlertOverCapacity, Key: fmt.Sprintf("over_capacity:site:%d:transfer:%d", site.ID, out.ID),
				AreaID: site.AreaID, SiteID: site.ID, Location: site.Location, RaisedAt: now,
				Message: fmt.Sprintf("site %s is full: %d of %d rooms taken", site.Name, site.Occupied, site.Rooms),
				Detail:  map[string]any{"rooms": site.Rooms, "occupied": site.Occupied}}); err != nil {
				return err
			}
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "transfer", EntityID: out.ID, AreaID: p.AreaID,
			BBox: pointBound(p.Location), Payload: map[string]any{"status": out.Status, "site_id": site.ID}})
		return err
	})
	return out, err
}

func siteChanged(ctx context.Context, tx pgx.Tx, site Site) error {
	_, err := AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "site", EntityID: site.ID, AreaID: site.AreaID,
		BBox: pointBound(site.Location), Payload: map[string]any{"rooms": site.Rooms, "occupied": site.Occupied}})
	return err
}

// Transfer actions.
const (
	TransferDepart = "depart"
	TransferArrive = "arrive"
	TransferCancel = "cancel"
)

// AdvanceTransfer moves transfer id on at now: depart (requested → in_transit),
// arrive (→ arrived: the home spell ends as transferred and a central spell at the
// site begins with the same start date and period) or cancel (→ cancelled: the room
// is given back). Errors: Forbidden outside CommandWriters; NotFound outside the
// jurisdiction; Invalid for another action; Conflict from a status that does not
// allow it.
func (s *Store) AdvanceTransfer(ctx context.Context, c Caller, id int64, action string, now time.Time) (Transfer, error) {
	if err := requireRoleIn(c.User, CommandWriters()); err != nil {
		return Transfer{}, err
	}
	next := map[string]string{TransferDepart: TransferInTransit, TransferArrive: TransferArrived, TransferCancel: TransferCancelled}[action]
	if next == "" {
		return Transfer{}, Errorf(Invalid, "action", "%q is not one of depart, arrive, cancel", action)
	}
	var out Transfer
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var areaID int64
		var loc orb.Point
		err := tx.QueryRow(ctx, `
			SELECT t.id, t.person_id, t.from_household_id, t.site_id, COALESCE(t.isolation_id, 0), t.reason, t.vehicle, t.status,
			       t.created_at, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom)
			FROM transfers t JOIN households h ON h.id = t.from_household_id
			WHERE t.id = $1 AND ($2 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[]))
			FOR UPDATE OF t`, id, seesAll(c.User), userAreas(c.User)).
			Scan(&out.ID, &out.PersonID, &out.FromHouseholdID, &out.SiteID, &out.IsolationID, &out.Reason, &out.Vehicle, &out.Status,
				&out.CreatedAt, &areaID, &loc[0], &loc[1])
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(NotFound, "", "transfer %d not found", id)
		}
		if err != nil {
			return dbError("load transfer", err)
		}
		allowed := map[string][]string{TransferDepart: {TransferRequested}, TransferArrive: {TransferRequested, TransferInTransit},
			TransferCancel: {TransferRequested, TransferInTransit}}[action]
		if !slices.Contains(allowed, out.Status) {
			return Errorf(Conflict, "", "transfer %d is %s: cannot %s", id, out.Status, action)
		}
		switch action {
		case TransferCancel:
			var site Site
			if err := tx.QueryRow(ctx, `UPDATE isolation_sites SET occupied = occupied - 1 WHERE id = $1
				RETURNING id, COALESCE(area_id, 0), ST_X(geom), ST_Y(geom), rooms, occupied`, out.SiteID).
				Scan(&site.ID, &site.AreaID, &site.Location[0], &site.Location[1], &site.Rooms, &site.Occupied); err != nil {
				return dbError("give back a room", err)
			}
			if err := siteChanged(ctx, tx, site); err != nil {
				return err
			}
		case TransferArrive:
			if err := arriveAtSite(ctx, tx, c.User, &out, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE transfers SET status = $2, isolation_id = NULLIF($3::bigint, 0), updated_at = $4 WHERE id = $1`,
			id, next, out.IsolationID, now); err != nil {
			return dbError("update transfer", err)
		}
		out.Status, out.UpdatedAt = next, now
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: action, Entity: "transfer", EntityID: id, AreaID: areaID,
			BBox: pointBound(loc), Payload: map[string]any{"status": next, "site_id": out.SiteID}})
		return err
	})
	return out, err
}

// arriveAtSite ends the person's home spell (if any) and begins the central one.
func arriveAtSite(ctx context.Context, tx pgx.Tx, u User, t *Transfer, now time.Time) error {
	pol, err := currentCarePolicy(ctx, tx)
	if err != nil {
		return err
	}
	today := pol.Policy.Day(now)
	start, period := today, pol.Policy.PeriodDays
	var homeID int64
	err = tx.QueryRow(ctx, `UPDATE isolations SET status = 'transferred', ended_on = $2
		WHERE person_id = $1 AND status = 'active' RETURNING id, start_date, period_days`, t.PersonID, today).Scan(&homeID, &start, &period)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return dbError("end home spell", err)
	}
	if care.LastDay(start, period).Before(today) {
		start, period = today, pol.Policy.PeriodDays
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO isolations (person_id, household_id, kind, reason, start_date, period_days, began_on, site_id, policy_version, created_by, created_at)
		VALUES ($1, $2, 'central_isolation', $3, $4, $5, $6, $7, $8, NULLIF($9::bigint, 0), $10) RETURNING id`,
		t.PersonID, t.FromHouseholdID, t.Reason, start, period, today, t.SiteID, pol.Version, u.ID, now).Scan(&id)
	if err != nil {
		return dbError("begin central spell", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE persons SET status = 'central_isolation', version = version + 1, updated_at = now() WHERE id = $1`, t.PersonID); err != nil {
		return dbError("update person status", err)
	}
	t.IsolationID = id
	return nil
}

// ListTransfers lists the transfers of persons inside c's jurisdiction, newest
// first; status "" lists every status.
func (s *Store) ListTransfers(ctx context.Context, c Caller, status string) ([]Transfer, error) {
	w := &where{}
	if status != "" {
		if !slices.Contains([]string{TransferRequested, TransferInTransit, TransferArrived, TransferCancelled}, status) {
			return nil, Errorf(Invalid, "status", "%q is not one of requested, in_transit, arrived, cancelled", status)
		}
		w.add("t.status = ?", status)
	}
	w.visibleAreaCol(c.User, "h.area_id")
	var out []Transfer
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT t.id, t.person_id, t.from_household_id, t.site_id, COALESCE(t.isolation_id, 0), t.reason, t.vehicle, t.status,
			       t.created_at, t.updated_at, p.name, st.name
			FROM transfers t JOIN households h ON h.id = t.from_household_id
			JOIN persons p ON p.id = t.person_id JOIN isolation_sites st ON st.id = t.site_id`+
			w.sql()+fmt.Sprintf(" ORDER BY t.id DESC LIMIT %d", MaxLimit), w.args...)
		if err != nil {
			return dbError("list transfers", err)
		}
		pol := PersonPolicy(c.User, true)
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transfer, error) {
			var t Transfer
			err := r.Scan(&t.ID, &t.PersonID, &t.FromHouseholdID, &t.SiteID, &t.IsolationID, &t.Reason, &t.Vehicle, &t.Status,
				&t.CreatedAt, &t.UpdatedAt, &t.PersonName, &t.SiteName)
			t.PersonName = pol.Apply(Person{Name: t.PersonName}).Name
			return t, err
		})
		if err != nil {
			return dbError("list transfers", err)
		}
		if !pol.Name || len(out) == 0 {
			return nil
		}
		ids := make([]int64, len(out))
		for i, t := range out {
			ids[i] = t.PersonID
		}
		return appendAudit(ctx, tx, c, AuditReadPerson, "transfer", 0, map[string]any{"person_ids": ids, "fields": []string{"name"}})
	})
	return out, err
}
