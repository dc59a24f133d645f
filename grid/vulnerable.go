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
)

// The vulnerable (困难群众兜底保障) and supplies: each vulnerable person has a
// responsible grid worker; inside sealed and control zones they must be contacted
// daily, and the worker records the contact and the needs found. Supplies to sealed
// or isolated households are delivery tasks with a status.

// enforcedZonesAt is the SQL of the zone versions in force at the instant bound to
// the placeholder (one %s): the newest version of each zone changed before it,
// kept when active or downgraded. Reports of past days thus see the zones of that
// day, with the kind and shape they had.
const enforcedZonesAt = `SELECT zone_id, kind, geom FROM (
	SELECT DISTINCT ON (zone_id) zone_id, kind, status, geom FROM zone_versions
	WHERE changed_at < %s ORDER BY zone_id, version DESC) zv
	WHERE zv.status IN ('active', 'downgraded')`

// CareNeeds are the needs a contact may record.
var CareNeeds = []string{"food", "medicine", "care"}

// VulnerablePerson is a vulnerable resident as their worker and command staff see
// them, masked for the reader.
type VulnerablePerson struct {
	PersonID      int64
	Name          string
	Phone         string
	Vulnerability []Vulnerability
	HouseholdID   int64
	Address       string
	AreaID        int64
	Location      orb.Point
	WorkerID      int64 // 0: nobody responsible yet
	WorkerName    string
	ZoneKind      string // the strongest enforced zone kind at the home, "" for none
	Due           bool   // inside a sealed or control zone: contact daily
	ContactedAt   *time.Time
	ContactedDay  bool // contacted today (the care policy's day)
	Missed        bool // due, not contacted today, and the day's contact hour has passed
	LastNeeds     []string
}

// VulnerableFilter selects vulnerable persons.
type VulnerableFilter struct {
	Mine   bool // only those c.User is responsible for
	Due    bool // only those due for daily contact
	Missed bool // only those who missed today's contact
}

// ListVulnerable lists the vulnerable persons inside c's jurisdiction at now, due
// ones first; persons are masked per PersonPolicy and their read audited.
func (s *Store) ListVulnerable(ctx context.Context, c Caller, f VulnerableFilter, now time.Time) ([]VulnerablePerson, error) {
	var out []VulnerablePerson
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		today := pol.Policy.Day(now)
		w := &where{args: []any{now}}
		w.add("p.vulnerability <> '{}'")
		w.visibleAreaCol(c.User, "h.area_id")
		if f.Mine {
			w.add("cw.worker_id = ?", c.User.ID)
		}
		rows, err := tx.Query(ctx, `
			WITH z AS (`+fmt.Sprintf(enforcedZonesAt, "$1")+`)
			SELECT p.id, p.name, p.phone, p.vulnerability, h.id, h.address, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom),
			       COALESCE(cw.worker_id, 0), COALESCE(u.name, ''),
			       COALESCE((SELECT z.kind FROM z WHERE ST_Intersects(z.geom, h.geom)
			                 ORDER BY array_position(ARRAY['sealed', 'control', 'precaution'], z.kind) LIMIT 1), ''),
			       lc.at, COALESCE(lc.needs, '{}')
			FROM persons p JOIN households h ON h.id = p.household_id
			LEFT JOIN care_workers cw ON cw.person_id = p.id
			LEFT JOIN users u ON u.id = cw.worker_id
			LEFT JOIN LATERAL (SELECT at, needs FROM care_contacts k WHERE k.person_id = p.id ORDER BY at DESC LIMIT 1) lc ON true`+
			w.sql()+` ORDER BY p.id`+fmt.Sprintf(" LIMIT %d", MaxLimit*10), w.args...)
		if err != nil {
			return dbError("list vulnerable", err)
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VulnerablePerson, error) {
			var v VulnerablePerson
			var vs []string
			err := r.Scan(&v.PersonID, &v.Name, &v.Phone, &vs, &v.HouseholdID, &v.Address, &v.AreaID, &v.Location[0], &v.Location[1],
				&v.WorkerID, &v.WorkerName, &v.ZoneKind, &v.ContactedAt, &v.LastNeeds)
			for _, x := range vs {
				v.Vulnerability = append(v.Vulnerability, Vulnerability(x))
			}
			return v, err
		})
		if err != nil {
			return dbError("list vulnerable", err)
		}
		mask := PersonPolicy(c.User, true)
		out = []VulnerablePerson{}
		var ids []int64
		for _, v := range all {
			v.Due = v.ZoneKind == string(SealedZone) || v.ZoneKind == string(ControlZone)
			v.ContactedDay = v.ContactedAt != nil && pol.Policy.Day(*v.ContactedAt).Equal(today)
			v.Missed = v.Due && pol.Policy.ContactMissed(v.ContactedAt, now)
			if (f.Due && !v.Due) || (f.Missed && !v.Missed) {
				continue
			}
			m := mask.Apply(Person{Name: v.Name, Phone: v.Phone})
			v.Name, v.Phone = m.Name, m.Phone
			if err := s.placeFor(c.User, &v.Address, &v.Location); err != nil {
				return fmt.Errorf("vulnerable person %d: %w", v.PersonID, err)
			}
			out = append(out, v)
			ids = append(ids, v.PersonID)
			if len(out) == MaxLimit {
				break
			}
		}
		slices.SortStableFunc(out, func(a, b VulnerablePerson) int {
			if a.Due != b.Due {
				if a.Due {
					return -1
				}
				return 1
			}
			return 0
		})
		fields := nameAndPhoneShown(mask)
		if len(fields) == 0 || len(ids) == 0 {
			return nil
		}
		return appendAudit(ctx, tx, c, AuditReadPerson, "vulnerable", 0, map[string]any{"person_ids": ids, "fields": fields})
	})
	return out, err
}

// AssignCareWorker makes worker responsible for vulnerable person id. Errors:
// Forbidden outside CommandWriters; NotFound for a person outside the jurisdiction;
// Invalid naming person_id (not vulnerable) or worker_id (not a grid worker whose
// jurisdiction holds the person's home).
func (s *Store) AssignCareWorker(ctx context.Context, c Caller, id, worker int64) error {
	if err := requireRoleIn(c.User, CommandWriters()); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockPerson(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		if !p.Vulnerable {
			return Errorf(Invalid, "person_id", "person %d has no vulnerability flag", id)
		}
		var ok bool
		err = tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM users u JOIN user_areas ua ON ua.user_id = u.id JOIN areas a ON a.id = $2
			               WHERE u.id = $1 AND u.role = 'grid_worker' AND NOT u.disabled AND a.ancestors @> ARRAY[ua.area_id])`,
			worker, p.AreaID).Scan(&ok)
		if err != nil {
			return dbError("check worker", err)
		}
		if !ok {
			return Errorf(Invalid, "worker_id", "user %d is not a grid worker responsible for the person's home", worker)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO care_workers (person_id, worker_id, assigned_by) VALUES ($1, $2, NULLIF($3::bigint, 0))
			ON CONFLICT (person_id) DO UPDATE SET worker_id = EXCLUDED.worker_id, assigned_by = EXCLUDED.assigned_by, assigned_at = now()`,
			id, worker, c.User.ID); err != nil {
			return dbError("assign worker", err)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "assign", Entity: "vulnerable", EntityID: id, AreaID: p.AreaID,
			BBox: pointBound(p.Location), Payload: map[string]any{"worker_id": worker}})
		return err
	})
}

// CareContact is one recorded contact with a vulnerable person.
type CareContact struct {
	ID       int64
	PersonID int64
	Day      time.Time
	At       time.Time
	Needs    []string
	Note     string
}

// RecordContact records a contact with vulnerable person id at now and the needs
// found. Errors: Forbidden outside CareWriters; NotFound outside the jurisdiction;
// Invalid naming needs, note or person_id (not vulnerable).
func (s *Store) RecordContact(ctx context.Context, c Caller, id int64, needs []string, note string, now time.Time) (CareContact, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return CareContact{}, err
	}
	if needs == nil {
		needs = []string{}
	}
	for _, n := range needs {
		if !slices.Contains(CareNeeds, n) {
			return CareContact{}, Errorf(Invalid, "needs", "%q is not one of %s", n, strings.Join(CareNeeds, ", "))
		}
	}
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > maxReasonLen {
		return CareContact{}, Errorf(Invalid, "note", "is longer than %d characters", maxReasonLen)
	}
	out := CareContact{PersonID: id, At: now, Needs: needs, Note: note}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		p, err := lockPerson(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		if !p.Vulnerable {
			return Errorf(Invalid, "person_id", "person %d has no vulnerability flag", id)
		}
		out.Day = pol.Policy.Day(now)
		if err := tx.QueryRow(ctx, `INSERT INTO care_contacts (person_id, day, at, needs, note, recorded_by)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6::bigint, 0)) RETURNING id`, id, out.Day, now, needs, note, c.User.ID).Scan(&out.ID); err != nil {
			return dbError("insert contact", err)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "contact", Entity: "vulnerable", EntityID: id, AreaID: p.AreaID,
			BBox: pointBound(p.Location), Payload: map[string]any{"needs": needs}})
		return err
	})
	return out, err
}

// Delivery is a supply task for a sealed or isolated household.
type Delivery struct {
	ID          int64
	HouseholdID int64
	AreaID      int64
	Items       []string
	Note        string
	Status      string // requested, dispatched, delivered or cancelled
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Address     string // filled in by ListDeliveries (cut for a restricted reader)
}

// DeliveryItems are the kinds of supplies.
var DeliveryItems = []string{"food", "medicine", "care", "daily_goods"}

// CreateDelivery opens a supply task for a household at now. Errors: Forbidden
// outside CareWriters; NotFound outside the jurisdiction; Invalid naming items, note
// or household_id when the household is neither inside a sealed zone nor isolated.
func (s *Store) CreateDelivery(ctx context.Context, c Caller, household int64, items []string, note string, now time.Time) (Delivery, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return Delivery{}, err
	}
	if len(items) == 0 {
		return Delivery{}, Errorf(Invalid, "items", "is required: one or more of %s", strings.Join(DeliveryItems, ", "))
	}
	for _, it := range items {
		if !slices.Contains(DeliveryItems, it) {
			return Delivery{}, Errorf(Invalid, "items", "%q is not one of %s", it, strings.Join(DeliveryItems, ", "))
		}
	}
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > maxReasonLen {
		return Delivery{}, Errorf(Invalid, "note", "is longer than %d characters", maxReasonLen)
	}
	out := Delivery{HouseholdID: household, Items: items, Note: note, Status: "requested", CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var loc orb.Point
		var sealed, isolated bool
		err := tx.QueryRow(ctx, `
			WITH z AS (`+fmt.Sprintf(enforcedZonesAt, "$4")+`)
			SELECT COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom),
			       EXISTS (SELECT 1 FROM z WHERE z.kind = 'sealed' AND ST_Intersects(z.geom, h.geom)),
			       EXISTS (SELECT 1 FROM isolations i WHERE i.household_id = h.id AND i.status = 'active' AND i.kind <> 'central_isolation')
			FROM households h WHERE h.id = $1 AND ($2 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[]))`,
			household, seesAll(c.User), userAreas(c.User), now).Scan(&out.AreaID, &loc[0], &loc[1], &sealed, &isolated)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(NotFound, "household_id", "household %d not found", household)
		}
		if err != nil {
			return dbError("load household", err)
		}
		if !sealed && !isolated {
			return Errorf(Invalid, "household_id", "household %d is neither inside a sealed zone nor under home isolation", household)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO deliveries (household_id, items, note, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, NULLIF($4::bigint, 0), $5, $5) RETURNING id`, household, items, note, c.User.ID, now).Scan(&out.ID); err != nil {
			return dbError("insert delivery", err)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "delivery", EntityID: out.ID, AreaID: out.AreaID,
			BBox: pointBound(loc), Payload: map[string]any{"status": out.Status}})
		return err
	})
	return out, err
}

// AdvanceDelivery moves delivery id on: dispatch (requested → dispatched), deliver
// (→ delivered) or cancel. Errors as AdvanceTransfer, for CareWriters.
func (s *Store) AdvanceDelivery(ctx context.Context, c Caller, id int64, action string, now time.Time) (Delivery, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return Delivery{}, err
	}
	next := map[string]string{"dispatch": "dispatched", "deliver": "delivered", "cancel": "cancelled"}[action]
	if next == "" {
		return Delivery{}, Errorf(Invalid, "action", "%q is not one of dispatch, deliver, cancel", action)
	}
	allowed := map[string][]string{"dispatch": {"requested"}, "deliver": {"requested", "dispatched"}, "cancel": {"requested", "dispatched"}}[action]
	var out Delivery
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var loc orb.Point
		err := tx.QueryRow(ctx, `
			SELECT d.id, d.household_id, COALESCE(h.area_id, 0), d.items, d.note, d.status, d.created_at, ST_X(h.geom), ST_Y(h.geom)
			FROM deliveries d JOIN households h ON h.id = d.household_id
			WHERE d.id = $1 AND ($2 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $3::bigint[])) FOR UPDATE OF d`,
			id, seesAll(c.User), userAreas(c.User)).Scan(&out.ID, &out.HouseholdID, &out.AreaID, &out.Items, &out.Note, &out.Status, &out.CreatedAt, &loc[0], &loc[1])
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(NotFound, "", "delivery %d not found", id)
		}
		if err != nil {
			return dbError("load delivery", err)
		}
		if !slices.Contains(allowed, out.Status) {
			return Errorf(Conflict, "", "delivery %d is %s: cannot %s", id, out.Status, action)
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = $2, updated_at = $3 WHERE id = $1`, id, next, now); err != nil {
			return dbError("update delivery", err)
		}
		out.Status, out.UpdatedAt = next, now
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: action, Entity: "delivery", EntityID: id, AreaID: out.AreaID,
			BBox: pointBound(loc), Payload: map[string]any{"status": next}})
		return err
	})
	return out, err
}

// ListDeliveries lists the deliveries inside c's jurisdiction, newest first; status
// "" lists every status.
func (s *Store) ListDeliveries(ctx context.Context, c Caller, status string) ([]Delivery, error) {
	w := &where{}
	if status != "" {
		if !slices.Contains([]string{"requested", "dispatched", "delivered", "cancelled"}, status) {
			return nil, Errorf(Invalid, "status", "%q is not one of requested, dispatched, delivered, cancelled", status)
		}
		w.add("d.status = ?", status)
	}
	w.visibleAreaCol(c.User, "h.area_id")
	rows, err := s.pool.Query(ctx, `SELECT d.id, d.household_id, COALESCE(h.area_id, 0), d.items, d.note, d.status, d.created_at, d.updated_at, h.address
		FROM deliveries d JOIN households h ON h.id = d.household_id`+w.sql()+fmt.Sprintf(" ORDER BY d.id DESC LIMIT %d", MaxLimit), w.args...)
	if err != nil {
		return nil, dbError("list deliveries", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.HouseholdID, &d.AreaID, &d.Items, &d.Note, &d.Status, &d.CreatedAt, &d.UpdatedAt, &d.Address)
		if Restricted(c.User) {
			d.Address = MaskAddress(d.Address)
		}
		return d, err
	})
	if err != nil {
		return nil, dbError("list deliveries", err)
	}
	return out, nil
}
