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
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// HouseholdView is a household as one reader may see it: its Persons are already
// masked, and Shown says which of their personal fields are in clear.
type HouseholdView struct {
	Household
	Shown MaskPolicy
}

// HouseholdFilter selects households; zero fields do not filter.
type HouseholdFilter struct {
	Area        int64      // households in this area or below it
	BBox        *orb.Bound // households inside the box
	WithPersons bool       // load the residents (masked per reader)
	Page        Page
}

// HouseholdPage is one page of households, ordered by id, and the number matching.
type HouseholdPage struct {
	Households []HouseholdView
	Total      int
	Page       Page
}

// HouseholdWriters are the roles that may create and edit households: the command
// staff and grid workers who keep the household files (一户一档), and admin.
func HouseholdWriters() []Role { return []Role{Admin, Commander, GridWorker} }

// ListHouseholds lists the households visible to c.User, ordered by id. With
// WithPersons, residents come masked per PersonPolicy, and a read showing any field
// in clear is written to the audit log in the same transaction (one row for the
// request), so no personal data leaves without its log entry. An Area outside the
// jurisdiction is NotFound (field "area").
func (s *Store) ListHouseholds(ctx context.Context, c Caller, f HouseholdFilter) (HouseholdPage, error) {
	page, err := f.Page.normalize(DefaultLimit)
	if err != nil {
		return HouseholdPage{}, err
	}
	if f.Area != 0 {
		if _, err := s.GetArea(ctx, c.User, f.Area); err != nil {
			if KindOf(err) == NotFound {
				err = Errorf(NotFound, "area", "area %d not found", f.Area)
			}
			return HouseholdPage{}, err
		}
	}
	w := householdWhere(c.User, f)
	out := HouseholdPage{Households: []HouseholdView{}, Page: page}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		hs, total, err := queryHouseholds(ctx, tx, householdSelect+w.sql()+" ORDER BY h.id"+page.sql(), w.args)
		if err != nil {
			return err
		}
		out.Total = total
		// Every listed household is inside the jurisdiction (the filter above), so the
		// role alone decides the masking.
		pol := PersonPolicy(c.User, true)
		if f.WithPersons {
			if err := loadPersons(ctx, tx, hs); err != nil {
				return err
			}
		}
		for _, h := range hs {
			v, err := s.viewHousehold(h, pol)
			if err != nil {
				return err
			}
			out.Households = append(out.Households, v)
		}
		return auditPersonRead(ctx, tx, c, "person", 0, hs, pol)
	})
	if err != nil {
		return HouseholdPage{}, err
	}
	if len(out.Households) == 0 && page.Offset > 0 {
		if out.Total, err = s.recount(ctx, "households h", w); err != nil {
			return HouseholdPage{}, err
		}
	}
	return out, nil
}

// GetHousehold returns one household with its residents, masked per PersonPolicy;
// a read showing any field in clear is audited in the same transaction. A household
// outside c.User's jurisdiction is NotFound.
func (s *Store) GetHousehold(ctx context.Context, c Caller, id int64) (HouseholdView, error) {
	var out HouseholdView
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		h, err := getHousehold(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		pol := PersonPolicy(c.User, true)
		if out, err = s.viewHousehold(h, pol); err != nil {
			return err
		}
		return auditPersonRead(ctx, tx, c, "household", id, []Household{h}, pol)
	})
	return out, err
}

// householdWhere is the filter of f for u.
func householdWhere(u User, f HouseholdFilter) *where {
	w := &where{}
	w.visibleAreaCol(u, "h.area_id")
	if f.Area != 0 {
		w.underArea("h.area_id", f.Area)
	}
	if f.BBox != nil {
		w.inBBox("h.geom", *f.BBox)
	}
	return w
}

const householdSelect = `SELECT h.id, COALESCE(h.area_id, 0), COALESCE(h.ext_id, ''), h.address, h.building,
	h.unit, ST_X(h.geom), ST_Y(h.geom), h.h3_r8, h.h3_r12, h.flags, h.version, COUNT(*) OVER()
	FROM households h`

// getHousehold loads one visible household with its persons, unmasked.
func getHousehold(ctx context.Context, tx pgx.Tx, u User, id int64) (Household, error) {
	var w where
	w.add("h.id = ?", id)
	w.visibleAreaCol(u, "h.area_id")
	hs, _, err := queryHouseholds(ctx, tx, householdSelect+w.sql(), w.args)
	if err != nil {
		return Household{}, err
	}
	if len(hs) == 0 {
		return Household{}, Errorf(NotFound, "id", "household %d not found", id)
	}
	if err := loadPersons(ctx, tx, hs); err != nil {
		return Household{}, err
	}
	return hs[0], nil
}

func queryHouseholds(ctx context.Context, tx pgx.Tx, q string, args []any) ([]Household, int, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, dbError("list households", err)
	}
	defer rows.Close()
	var hs []Household
	total := 0
	for rows.Next() {
		var h Household
		var lng, lat float64
		var r8, r12 int64
		if err := rows.Scan(&h.ID, &h.AreaID, &h.ExtID, &h.Address, &h.Building, &h.Unit,
			&lng, &lat, &r8, &r12, &h.Flags, &h.Version, &total); err != nil {
			return nil, 0, dbError("scan household", err)
		}
		h.Location = orb.Point{lng, lat}
		h.H3R8, h.H3R12 = geo.Cell(r8), geo.Cell(r12)
		if h.Flags == nil {
			h.Flags = []string{}
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError("list households", err)
	}
	return hs, total, nil
}

// loadPersons fills the Persons of hs (unmasked), ordered by id, in one query.
func loadPersons(ctx context.Context, tx pgx.Tx, hs []Household) error {
	if len(hs) == 0 {
		return nil
	}
	ids := make([]int64, len(hs))
	at := make(map[int64]int, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
		at[h.ID] = i
		hs[i].Persons = []Person{}
	}
	rows, err := tx.Query(ctx, `
		SELECT id, household_id, name, id_number, phone, birth_date, sex, status, vulnerability,
		       health_code, version
		FROM persons WHERE household_id = ANY($1) ORDER BY household_id, id`, ids)
	if err != nil {
		return dbError("list persons", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Person
		var vuln []string
		if err := rows.Scan(&p.ID, &p.HouseholdID, &p.Name, &p.IDNumber, &p.Phone, &p.BirthDate,
			&p.Sex, &p.Status, &vuln, &p.HealthCode, &p.Version); err != nil {
			return dbError("scan person", err)
		}
		p.Vulnerability = make([]Vulnerability, len(vuln))
		for i, v := range vuln {
			p.Vulnerability[i] = Vulnerability(v)
		}
		i := at[p.HouseholdID]
		hs[i].Persons = append(hs[i].Persons, p)
	}
	if err := rows.Err(); err != nil {
		return dbError("list persons", err)
	}
	return nil
}

// viewHousehold is h as a reader with policy pol sees it: residents masked, and for
// a restricted reader (nothing in clear) the place coarsened by anonHousehold.
func (s *Store) viewHousehold(h Household, pol MaskPolicy) (HouseholdView, error) {
	if !pol.Any() {
		var err error
		if h, err = anonHousehold(h, s.LocationPrivacy()); err != nil {
			return HouseholdView{}, err
		}
	}
	return maskHousehold(h, pol), nil
}

func maskHousehold(h Household, pol MaskPolicy) HouseholdView {
	if h.Persons != nil {
		ps := make([]Person, len(h.Persons))
		for i, p := range h.Persons {
			ps[i] = pol.Apply(p)
		}
		h.Persons = ps
	}
	return HouseholdView{Household: h, Shown: pol}
}

// HouseholdEdit is a household as a writer sends it, to create or to replace one.
type HouseholdEdit struct {
	// ExtID is the import key; on update an empty one keeps the current key, so an
	// edit cannot break the idempotency of a later re-import.
	ExtID    string
	Address  string
	Building string
	Unit     string
	Location orb.Point
	Flags    []string
	// Persons is the full list of residents when ReplacePersons is set: entries with
	// an ID update that resident, entries without one add a resident, and residents
	// left out are removed. Without ReplacePersons an update keeps them unchanged.
	Persons        []PersonEdit
	ReplacePersons bool
	// Version is, for an update, the version the writer last read; a stale one is a
	// Conflict (optimistic concurrency: two grid workers editing one file).
	Version int
}

// PersonEdit is a resident as a writer sends it.
type PersonEdit struct {
	ID            int64 // 0 adds a resident
	Name          string
	IDNumber      string
	Phone         string
	BirthDate     *time.Time
	Sex           string
	Status        string // empty means normal
	Vulnerability []Vulnerability
	HealthCode    string // empty means green
}

// Limits on what a writer sends: generous for real files, small enough that one
// request cannot bloat a row.
const (
	maxAddressLen = 200
	maxShortLen   = 64
	maxFlags      = 20
	maxPersons    = 200 // collective households (dormitories) are large
)

// Validate checks an edit and returns it normalised (trimmed, phone without
// separators, ID number upper-case, defaults filled). Errors are Invalid and name the
// JSON field: address, lng, lat, flags[i], persons[i].name ...
func (e HouseholdEdit) Validate(now time.Time) (HouseholdEdit, error) {
	e.ExtID = strings.TrimSpace(e.ExtID)
	e.Address = strings.TrimSpace(e.Address)
	e.Building = strings.TrimSpace(e.Building)
	e.Unit = strings.TrimSpace(e.Unit)
	if e.Address == "" {
		return e, Errorf(Invalid, "address", "is required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"address", e.Address, maxAddressLen}, {"building", e.Building, maxShortLen}, {"unit", e.Unit, maxShortLen}, {"ext_id", e.ExtID, maxShortLen}} {
		if utf8.RuneCountInString(f.v) > f.max {
			return e, Errorf(Invalid, f.name, "is longer than %d characters", f.max)
		}
	}
	if err := geo.ValidLngLat(e.Location.Lon(), e.Location.Lat()); err != nil {
		var ce *geo.CoordError
		if errors.As(err, &ce) {
			return e, &Error{Kind: Invalid, Field: ce.Field, Message: ce.Reason}
		}
		return e, &Error{Kind: Invalid, Field: "location", Message: err.Error()}
	}
	if len(e.Flags) > maxFlags {
		return e, Errorf(Invalid, "flags", "at most %d flags", maxFlags)
	}
	flags := make([]string, 0, len(e.Flags))
	for i, f := range e.Flags {
		f = strings.TrimSpace(f)
		if f == "" || utf8.RuneCountInString(f) > maxShortLen {
			return e, Errorf(Invalid, fmt.Sprintf("flags[%d]", i), "must be 1 to %d characters", maxShortLen)
		}
		if !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
	}
	e.Flags = flags
	if len(e.Persons) > maxPersons {
		return e, Errorf(Invalid, "persons", "at most %d persons per household", maxPersons)
	}
	persons := make([]PersonEdit, len(e.Persons))
	seen := map[int64]bool{}
	for i, p := range e.Persons {
		p, err := p.validate(now, fmt.Sprintf("persons[%d].", i))
		if err != nil {
			return e, err
		}
		if p.ID != 0 {
			if seen[p.ID] {
				return e, Errorf(Invalid, fmt.Sprintf("persons[%d].id", i), "person %d is listed twice", p.ID)
			}
			seen[p.ID] = true
		}
		persons[i] = p
	}
	e.Persons = persons
	return e, nil
}

func (p PersonEdit) validate(now time.Time, field string) (PersonEdit, error) {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		return p, Errorf(Invalid, field+"name", "is required")
	}
	if utf8.RuneCountInString(p.Name) > maxShortLen {
		return p, Errorf(Invalid, field+"name", "is longer than %d characters", maxShortLen)
	}
	if p.ID < 0 {
		return p, Errorf(Invalid, field+"id", "must be a positive id")
	}
	phone, ok := normalizePhone(p.Phone)
	if !ok {
		return p, Errorf(Invalid, field+"phone", "must be 5 to 20 digits, optionally starting with +")
	}
	p.Phone = phone
	p.IDNumber = strings.ToUpper(strings.TrimSpace(p.IDNumber))
	if !validIDNumber(p.IDNumber) {
		return p, Errorf(Invalid, field+"id_number", "must be 6 to 32 letters or digits")
	}
	if p.BirthDate != nil {
		d := p.BirthDate.UTC()
		if d.After(now) || d.Year() < 1900 {
			return p, Errorf(Invalid, field+"birth_date", "must be between 1900-01-01 and today")
		}
		d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		p.BirthDate = &d
	}
	if p.Sex != "" && p.Sex != "M" && p.Sex != "F" {
		return p, Errorf(Invalid, field+"sex", `must be "M", "F" or empty`)
	}
	if p.Status == "" {
		p.Status = "normal"
	}
	if !slices.Contains(PersonStatuses, p.Status) {
		return p, Errorf(Invalid, field+"status", "%q is not one of %s", p.Status, strings.Join(PersonStatuses, ", "))
	}
	if p.HealthCode == "" {
		p.HealthCode = "green"
	}
	if p.HealthCode != "green" && p.HealthCode != "yellow" && p.HealthCode != "red" {
		return p, Errorf(Invalid, field+"health_code", "must be green, yellow or red")
	}
	vs := make([]Vulnerability, 0, len(p.Vulnerability))
	for i, v := range p.Vulnerability {
		if !slices.Contains(Vulnerabilities, v) {
			return p, Errorf(Invalid, fmt.Sprintf("%svulnerability[%d]", field, i), "%q is not a vulnerability flag", v)
		}
		if !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	p.Vulnerability = vs
	return p, nil
}

// normalizePhone drops spaces and dashes and checks what remains: an optional "+"
// then 5 to 20 digits. Empty is allowed (not everyone has a phone).
func normalizePhone(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == ' ' || r == '-':
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	out := b.String()
	digits := len(strings.TrimPrefix(out, "+"))
	return out, out == "" || (digits >= 5 && digits <= 20)
}

// validIDNumber accepts a resident ID (18 characters) as well as passports and
// permits: 6 to 32 ASCII letters or digits, or empty. The resident-ID checksum is not
// enforced: a grid worker must be able to file a person whose card was misread.
func validIDNumber(s string) bool {
	if s == "" {
		return true
	}
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// canWriteHouseholds refuses roles outside HouseholdWriters.
func canWriteHouseholds(u User) error {
	if !slices.Contains(HouseholdWriters(), u.Role) {
		return Errorf(Forbidden, "", "role %s may not edit households", u.Role)
	}
	return nil
}

// CreateHousehold files a new household with its residents. The point must lie
// inside c.User's jurisdiction (Forbidden otherwise, field "location"); the household
// is assigned to the finest area containing it. The outbox row and an audit row are
// written in the same transaction. Errors: Invalid, Forbidden, Conflict (ext_id taken).
func (s *Store) CreateHousehold(ctx context.Context, c Caller, e HouseholdEdit) (HouseholdView, error) {
	if err := canWriteHouseholds(c.User); err != nil {
		return HouseholdView{}, err
	}
	e, err := e.Validate(time.Now())
	if err != nil {
		return HouseholdView{}, err
	}
	for i, p := range e.Persons {
		if p.ID != 0 {
			return HouseholdView{}, Errorf(Invalid, fmt.Sprintf("persons[%d].id", i), "a new household has no residents with an id yet")
		}
	}
	r8, r12, err := householdCells(e.Location)
	if err != nil {
		return HouseholdView{}, err
	}
	var out HouseholdView
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		area, ok, err := areaForPoint(ctx, tx, c.User, e.Location)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(Forbidden, "location", "the point is outside your jurisdiction")
		}
		var id int64
		err = tx.QueryRow(ctx, `
			INSERT INTO households (area_id, ext_id, address, building, unit, geom, h3_r8, h3_r12, flags)
			VALUES (NULLIF($1::bigint, 0), NULLIF($2, ''), $3, $4, $5, ST_SetSRID(ST_MakePoint($6, $7), 4326), $8, $9, $10)
			RETURNING id`,
			area, e.ExtID, e.Address, e.Building, e.Unit, e.Location[0], e.Location[1], int64(r8), int64(r12), e.Flags).Scan(&id)
		if err != nil {
			return householdDBError("insert household", err)
		}
		if err := syncPersons(ctx, tx, id, e.Persons); err != nil {
			return err
		}
		out, err = finishHouseholdWrite(ctx, tx, c, id, area, area, orb.Bound{Min: e.Location, Max: e.Location})
		return err
	})
	return out, err
}

// UpdateHousehold replaces household id's fields (and residents, with
// ReplacePersons) when e.Version is still its version. Errors: Invalid, NotFound
// (unknown or outside the jurisdiction), Conflict (stale version, message carrying
// the current one; or a removed resident still referenced, e.g. by a case),
// Forbidden (role, or a new point outside the jurisdiction).
func (s *Store) UpdateHousehold(ctx context.Context, c Caller, id int64, e HouseholdEdit) (HouseholdView, error) {
	if err := canWriteHouseholds(c.User); err != nil {
		return HouseholdView{}, err
	}
	if e.Version < 1 {
		return HouseholdView{}, Errorf(Invalid, "version", "is required: the version you last read")
	}
	e, err := e.Validate(time.Now())
	if err != nil {
		return HouseholdView{}, err
	}
	r8, r12, err := householdCells(e.Location)
	if err != nil {
		return HouseholdView{}, err
	}
	var out HouseholdView
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var w where
		w.add("h.id = ?", id)
		w.visibleAreaCol(c.User, "h.area_id")
		var version int
		var prevArea int64
		var lng, lat float64
		err := tx.QueryRow(ctx, `SELECT h.version, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom)
			FROM households h`+w.sql()+` FOR UPDATE OF h`, w.args...).Scan(&version, &prevArea, &lng, &lat)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(NotFound, "id", "household %d not found", id)
		}
		if err != nil {
			return dbError("lock household", err)
		}
		if version != e.Version {
			return Errorf(Conflict, "version", "household %d was changed since version %d; the current version is %d: reload and retry", id, e.Version, version)
		}
		area, ok, err := areaForPoint(ctx, tx, c.User, e.Location)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(Forbidden, "location", "the new point is outside your jurisdiction")
		}
		_, err = tx.Exec(ctx, `
			UPDATE households SET area_id = NULLIF($2::bigint, 0), ext_id = COALESCE(NULLIF($3, ''), ext_id), address = $4,
			  building = $5, unit = $6, geom = ST_SetSRID(ST_MakePoint($7, $8), 4326), h3_r8 = $9,
			  h3_r12 = $10, flags = $11, version = version + 1, updated_at = now()
			WHERE id = $1`,
			id, area, e.ExtID, e.Address, e.Building, e.Unit, e.Location[0], e.Location[1], int64(r8), int64(r12), e.Flags)
		if err != nil {
			return householdDBError("update household", err)
		}
		if e.ReplacePersons {
			if err := syncPersons(ctx, tx, id, e.Persons); err != nil {
				return err
			}
		}
		// The map must redraw both where the household was and where it is now.
		b := orb.Bound{Min: e.Location, Max: e.Location}.Extend(orb.Point{lng, lat})
		out, err = finishHouseholdWrite(ctx, tx, c, id, area, prevArea, b)
		return err
	})
	return out, err
}

func householdCells(p orb.Point) (geo.Cell, geo.Cell, error) {
	r8, err := geo.CellOf(p, 8)
	if err != nil {
		return 0, 0, fmt.Errorf("household cell r8: %w", err)
	}
	r12, err := geo.CellOf(p, 12)
	if err != nil {
		return 0, 0, fmt.Errorf("household cell r12: %w", err)
	}
	return r8, r12, nil
}

// syncPersons makes household's residents match ps: update those with an id, insert
// those without, delete the rest. A resident whose fields did not change keeps its
// version.
func syncPersons(ctx context.Context, tx pgx.Tx, household int64, ps []PersonEdit) error {
	rows, err := tx.Query(ctx, `SELECT id FROM persons WHERE household_id = $1`, household)
	if err != nil {
		return dbError("list residents", err)
	}
	existing, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return dbError("list residents", err)
	}
	keep := map[int64]bool{}
	for i, p := range ps {
		vuln := make([]string, len(p.Vulnerability))
		for j, v := range p.Vulnerability {
			vuln[j] = string(v)
		}
		if p.ID == 0 {
			_, err := tx.Exec(ctx, `
				INSERT INTO persons (household_id, name, id_number, phone, birth_date, sex, status, vulnerability, health_code)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				household, p.Name, p.IDNumber, p.Phone, p.BirthDate, p.Sex, p.Status, vuln, p.HealthCode)
			if err != nil {
				return fieldDBError(fmt.Sprintf("persons[%d]", i), "insert resident", err)
			}
			continue
		}
		if !slices.Contains(existing, p.ID) {
			return Errorf(Invalid, fmt.Sprintf("persons[%d].id", i), "person %d is not a resident of household %d", p.ID, household)
		}
		keep[p.ID] = true
		_, err := tx.Exec(ctx, `
			UPDATE persons SET name = $3, id_number = $4, phone = $5, birth_date = $6, sex = $7,
			  status = $8, vulnerability = $9, health_code = $10, version = version + 1, updated_at = now()
			WHERE id = $1 AND household_id = $2
			  AND (name, id_number, phone, birth_date, sex, status, vulnerability, health_code)
			      IS DISTINCT FROM ($3, $4, $5, $6::date, $7, $8, $9::text[], $10)`,
			p.ID, household, p.Name, p.IDNumber, p.Phone, p.BirthDate, p.Sex, p.Status, vuln, p.HealthCode)
		if err != nil {
			return fieldDBError(fmt.Sprintf("persons[%d]", i), "update resident", err)
		}
	}
	for _, id := range existing {
		if keep[id] {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM persons WHERE id = $1`, id); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" {
				return &Error{Kind: Conflict, Field: "persons", Err: err,
					Message: fmt.Sprintf("person %d is referenced elsewhere (e.g. by a case) and cannot be removed", id)}
			}
			return dbError("remove resident", err)
		}
	}
	return nil
}

// householdDBError is dbError naming ext_id when another household holds it (the
// driver names the constraint, not the column, of a unique violation).
func householdDBError(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "households_ext_id_key" {
		return &Error{Kind: Conflict, Field: "ext_id", Message: "is already used by another household", Err: err}
	}
	return dbError(op, err)
}

// fieldDBError is dbError naming field when the driver does not say which column.
func fieldDBError(field, op string, err error) error {
	err = dbError(op, err)
	var de *Error
	if errors.As(err, &de) && de.Field == "" {
		de.Field = field
	}
	return err
}

// finishHouseholdWrite appends the outbox row and the audit row of a write, then
// reads the household back for the answer (writers see it in clear).
func finishHouseholdWrite(ctx context.Context, tx pgx.Tx, c Caller, id, area, prevArea int64, b orb.Bound) (HouseholdView, error) {
	h, err := getHousehold(ctx, tx, c.User, id)
	if err != nil {
		return HouseholdView{}, err
	}
	_, err = AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "household", EntityID: id,
		AreaID: area, PrevAreaID: prevArea, BBox: &b, Payload: map[string]any{"version": h.Version}})
	if err != nil {
		return HouseholdView{}, err
	}
	pol := PersonPolicy(c.User, true)
	detail := map[string]any{"version": h.Version, "person_ids": personIDs([]Household{h})}
	if err := appendAudit(ctx, tx, c, "write_household", "household", id, detail); err != nil {
		return HouseholdView{}, err
	}
	return maskHousehold(h, pol), nil
}
