package trace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace/stay"
	"github.com/gridtrace/gridtrace/trace/track"
)

// Readers are the roles that may use flow tracing: read trajectories, stays and
// contacts, and run searches. Pings are not tied to areas (a trajectory crosses
// jurisdictions, and most subjects are not registered residents), so the tracing
// data is guarded by role alone: the flow-tracing staff, command staff who decide on
// isolation and transfers, and admin. Personal fields of a subject linked to a
// resident are still masked outside the reader's jurisdiction (see Subject).
func Readers() []grid.Role { return []grid.Role{grid.Admin, grid.Commander, grid.Tracer} }

// Writers are the roles that may load pings.
func Writers() []grid.Role { return []grid.Role{grid.Admin, grid.Tracer} }

// MaxTrackPings bounds one trajectory answer; a window holding more must be narrowed.
// A phone reporting every 10 s for 14 days makes about 121,000 pings.
const MaxTrackPings = 250_000

// Store is the PostGIS store of flow tracing: subjects, pings, runs, contacts and
// stays, in plain SQL over a pgx pool, one transaction per exported method that
// writes.
type Store struct {
	pool   *pgxpool.Pool
	policy Policy
	now    func() time.Time
}

// NewStore wraps a pool with the tracing policy in force. Errors: an invalid policy.
func NewStore(pool *pgxpool.Pool, pol Policy) (*Store, error) {
	if err := pol.Validate(); err != nil {
		return nil, fmt.Errorf("tracing policy: %w", err)
	}
	return &Store{pool: pool, policy: pol, now: time.Now}, nil
}

// Policy is the tracing policy the store applies.
func (s *Store) Policy() Policy { return s.policy }

// inTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbErr("begin", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return dbErr("commit", err)
	}
	return nil
}

// dbErr maps driver errors to domain kinds with grid's one SQLSTATE table.
func dbErr(op string, err error) error { return grid.DBError(op, err) }

// querier is what the read helpers need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Subject is someone whose trajectory is traced, as a reader may see it.
type Subject struct {
	ID int64
	// ExtID is the person id of the source (GeoLife user folder, CSV person column).
	ExtID string
	Label string
	// Person is the registered resident the subject is, when linked; its fields are
	// masked per grid.PersonPolicy (the resident's household inside the reader's
	// jurisdiction or not).
	Person *SubjectPerson
	// Pings counts the subject's pings; FirstAt and LastAt bound them (nil without).
	Pings           int64
	FirstAt, LastAt *time.Time
}

// SubjectPerson is the resident linked to a subject, masked for the reader.
type SubjectPerson struct {
	ID       int64
	Name     string
	Phone    string
	IDNumber string
	// Masked names the fields shown masked (name, phone, id_number, birth_date).
	Masked []string
	shown  bool
}

// subjectCols and scanSubject read a subject with its linked person and whether the
// person's household lies in the jurisdiction ($1: the reader's areas, $2: admin).
const subjectCols = `s.id, s.ext_id, s.label, s.pings, s.first_at, s.last_at,
	p.id, p.name, p.phone, p.id_number,
	COALESCE($2::bool OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $1::bigint[]), false)`

const subjectFrom = ` FROM trace_subjects s
	LEFT JOIN persons p ON p.id = s.person_id
	LEFT JOIN households h ON h.id = p.household_id`

func subjectArgs(u grid.User) []any {
	areas := u.AreaIDs
	if areas == nil {
		areas = []int64{}
	}
	return []any{areas, u.Role == grid.Admin}
}

func scanSubject(row pgx.Row, u grid.User) (Subject, error) {
	var sb Subject
	var pid *int64
	var name, phone, idn *string
	var inJur bool
	if err := row.Scan(&sb.ID, &sb.ExtID, &sb.Label, &sb.Pings, &sb.FirstAt, &sb.LastAt, &pid, &name, &phone, &idn, &inJur); err != nil {
		return sb, err
	}
	// Labels and source ids may be personal (a phone number as the id); the roles
	// allowed to trace see them in clear, any other role masked.
	if !grid.Unmasked(u.Role).Name {
		sb.ExtID, sb.Label = grid.MaskPhone(sb.ExtID), grid.MaskName(sb.Label)
	}
	if pid != nil {
		pol := grid.PersonPolicy(u, inJur)
		masked := pol.Apply(grid.Person{Name: *name, Phone: *phone, IDNumber: *idn})
		sb.Person = &SubjectPerson{ID: *pid, Name: masked.Name, Phone: masked.Phone, IDNumber: masked.IDNumber,
			Masked: pol.MaskedFields(), shown: pol.Any()}
	}
	return sb, nil
}

// subjectsByID reads the given subjects for u; unknown ids are left out.
func subjectsByID(ctx context.Context, q querier, u grid.User, ids []int64) (map[int64]Subject, error) {
	args := append(subjectArgs(u), ids)
	rows, err := q.Query(ctx, `SELECT `+subjectCols+subjectFrom+` WHERE s.id = ANY($3::bigint[])`, args...)
	if err != nil {
		return nil, dbErr("read subjects", err)
	}
	defer rows.Close()
	out := make(map[int64]Subject, len(ids))
	for rows.Next() {
		sb, err := scanSubject(rows, u)
		if err != nil {
			return nil, dbErr("read subjects", err)
		}
		out[sb.ID] = sb
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("read subjects", err)
	}
	return out, nil
}

// shownPersons lists the linked residents whose fields some subject shows in clear:
// the persons a read must write to the audit log.
func shownPersons(subs ...Subject) []int64 {
	ids := []int64{}
	seen := map[int64]bool{}
	for _, sb := range subs {
		if sb.Person != nil && sb.Person.shown && !seen[sb.Person.ID] {
			seen[sb.Person.ID] = true
			ids = append(ids, sb.Person.ID)
		}
	}
	return ids
}

// appendAudit writes one audit row in tx (grid's audit log: one row per request).
func appendAudit(ctx context.Context, tx pgx.Tx, c grid.Caller, action, entity string, entityID int64, detail map[string]any) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO audit_log (user_id, action, entity, entity_id, route, detail)
		VALUES (NULLIF($1::bigint, 0), $2, $3, NULLIF($4::bigint, 0), $5, $6)`,
		c.User.ID, action, entity, entityID, c.Route, detail)
	if err != nil {
		return dbErr("append audit", err)
	}
	return nil
}

// auditSubjects logs a read that shows linked residents in clear, if any.
func auditSubjects(ctx context.Context, tx pgx.Tx, c grid.Caller, entity string, entityID int64, subs ...Subject) error {
	ids := shownPersons(subs...)
	if len(ids) == 0 {
		return nil
	}
	sids := []int64{}
	for _, sb := range subs {
		if sb.Person != nil && sb.Person.shown {
			sids = append(sids, sb.ID)
		}
	}
	return appendAudit(ctx, tx, c, grid.AuditReadPerson, entity, entityID,
		map[string]any{"person_ids": ids, "subject_ids": sids, "fields": grid.Unmasked(c.User.Role).ShownFields()})
}

// Subjects lists every subject, ordered by ext_id, with its ping count and time
// range; linked residents are masked for c.User and a read showing any in clear is
// audited.
func (s *Store) Subjects(ctx context.Context, c grid.Caller) ([]Subject, error) {
	var out []Subject
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+subjectCols+subjectFrom+` ORDER BY s.ext_id`, subjectArgs(c.User)...)
		if err != nil {
			return dbErr("list subjects", err)
		}
		defer rows.Close()
		for rows.Next() {
			sb, err := scanSubject(rows, c.User)
			if err != nil {
				return dbErr("list subjects", err)
			}
			out = append(out, sb)
		}
		if err := rows.Err(); err != nil {
			return dbErr("list subjects", err)
		}
		rows.Close()
		return auditSubjects(ctx, tx, c, "trace_subject", 0, out...)
	})
	return out, err
}

// Subject reads one subject for c.User. Errors: NotFound.
func (s *Store) Subject(ctx context.Context, c grid.Caller, id int64) (Subject, error) {
	var sb Subject
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		sb, err = subject(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		return auditSubjects(ctx, tx, c, "trace_subject", id, sb)
	})
	return sb, err
}

func subject(ctx context.Context, q querier, u grid.User, id int64) (Subject, error) {
	args := append(subjectArgs(u), id)
	sb, err := scanSubject(q.QueryRow(ctx, `SELECT `+subjectCols+subjectFrom+` WHERE s.id = $3`, args...), u)
	if errors.Is(err, pgx.ErrNoRows) {
		return sb, grid.Errorf(grid.NotFound, "id", "no trace subject %d", id)
	}
	if err != nil {
		return sb, dbErr("read subject", err)
	}
	return sb, nil
}

// SubjectEdit changes what is known about a subject: its label and the resident it
// is (0: none).
type SubjectEdit struct {
	Label    string
	PersonID int64
}

// UpdateSubject sets a subject's label and linked resident. Errors: NotFound for the
// subject; Invalid (field person_id) for a person that does not exist; Invalid
// (field label) for a label over 200 characters.
func (s *Store) UpdateSubject(ctx context.Context, c grid.Caller, id int64, e SubjectEdit) (Subject, error) {
	if len([]rune(e.Label)) > 200 {
		return Subject{}, grid.Errorf(grid.Invalid, "label", "must be at most 200 characters")
	}
	if e.PersonID < 0 {
		return Subject{}, grid.Errorf(grid.Invalid, "person_id", "must be a positive id, or 0 for none")
	}
	var sb Subject
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if e.PersonID > 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM persons WHERE id = $1)`, e.PersonID).Scan(&ok); err != nil {
				return dbErr("check person", err)
			}
			if !ok {
				return grid.Errorf(grid.Invalid, "person_id", "no person %d", e.PersonID)
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE trace_subjects SET label = $2, person_id = NULLIF($3::bigint, 0) WHERE id = $1`, id, e.Label, e.PersonID)
		if err != nil {
			return dbErr("update subject", err)
		}
		if tag.RowsAffected() == 0 {
			return grid.Errorf(grid.NotFound, "id", "no trace subject %d", id)
		}
		sb, err = subject(ctx, tx, c.User, id)
		if err != nil {
			return err
		}
		return auditSubjects(ctx, tx, c, "trace_subject", id, sb)
	})
	return sb, err
}

// Window is a closed time range [From, To] of pings.
type Window struct{ From, To time.Time }

// window resolves the optional bounds of a request for a subject: To defaults to
// the subject's last ping, From to MaxWindow before To. Errors: NotFound when the
// subject has no pings at all; Invalid (field "to") for a window ending before it
// starts.
func (s *Store) window(sb Subject, from, to *time.Time) (Window, error) {
	if sb.LastAt == nil {
		return Window{}, grid.Errorf(grid.NotFound, "id", "trace subject %d (%s) has no pings", sb.ID, sb.ExtID)
	}
	w := Window{To: *sb.LastAt}
	if to != nil {
		w.To = to.UTC()
	}
	w.From = w.To.Add(-s.policy.MaxWindow)
	if from != nil {
		w.From = from.UTC()
	}
	if w.To.Before(w.From) {
		return w, grid.Errorf(grid.Invalid, "to", "%s is before from %s", w.To.Format(time.RFC3339), w.From.Format(time.RFC3339))
	}
	return w, nil
}

// Track returns the subject and its pings in [from, to] (nil bounds: the last
// MaxWindow of its pings), ordered by time. Errors: NotFound for an unknown subject
// or one without pings; Invalid for a window ending before it starts or holding more
// than MaxTrackPings pings (field "from").
func (s *Store) Track(ctx context.Context, c grid.Caller, id int64, from, to *time.Time) (Subject, Window, []track.Ping, error) {
	var sb Subject
	var w Window
	var pings []track.Ping
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if sb, err = subject(ctx, tx, c.User, id); err != nil {
			return err
		}
		if w, err = s.window(sb, from, to); err != nil {
			return err
		}
		if pings, err = subjectPings(ctx, tx, id, w.From, w.To, MaxTrackPings); err != nil {
			return err
		}
		return auditSubjects(ctx, tx, c, "trace_subject", id, sb)
	})
	return sb, w, pings, err
}

// subjectPings reads a subject's pings in [from, to] by time (the (subject_id, ts)
// index); more than limit (when > 0) is an Invalid error.
func subjectPings(ctx context.Context, q querier, id int64, from, to time.Time, limit int) ([]track.Ping, error) {
	sql := `SELECT ts, ST_X(geom), ST_Y(geom) FROM pings WHERE subject_id = $1 AND ts BETWEEN $2 AND $3 ORDER BY ts`
	args := []any{id, from, to}
	if limit > 0 {
		sql += ` LIMIT $4`
		args = append(args, limit+1)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbErr("read pings", err)
	}
	defer rows.Close()
	var out []track.Ping
	var p track.Ping
	_, err = pgx.ForEachRow(rows, []any{&p.Time, &p.Point[0], &p.Point[1]}, func() error {
		p.Time = p.Time.UTC()
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, dbErr("read pings", err)
	}
	if limit > 0 && len(out) > limit {
		return nil, grid.Errorf(grid.Invalid, "from", "the window holds more than %d pings of subject %d: narrow it", limit, id)
	}
	return out, nil
}

// Stays returns the subject's stays in [from, to] (nil bounds as for Track), detected
// by trace/stay with the policy's radius and minimum time: the subject's itinerary
// and, for a case, the exposure places. Errors as for Track.
func (s *Store) Stays(ctx context.Context, c grid.Caller, id int64, from, to *time.Time) (Subject, Window, []stay.Stay, error) {
	sb, w, pings, err := s.Track(ctx, c, id, from, to)
	if err != nil {
		return sb, w, nil, err
	}
	return sb, w, stay.Detect(pings, s.policy.StayRadiusM, s.policy.StayMin), nil
}
