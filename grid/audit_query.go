package grid

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEntry is one row of the audit log: who did what to which entity, when, and
// through which route.
type AuditEntry struct {
	ID       int64
	At       time.Time
	UserID   int64 // 0: no user (a command-line load)
	UserName string
	Action   string
	Entity   string
	EntityID int64 // 0: a list
	Route    string
	Detail   json.RawMessage
}

// AuditFilter selects audit rows; zero fields do not filter.
type AuditFilter struct {
	UserID   int64
	Entity   string
	EntityID int64
	Action   string
	From     *time.Time // at or after
	To       *time.Time // before
	Page     Page
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Entries []AuditEntry
	Page    Page
	Total   int
}

// ListAudit pages through the audit log, newest first (admin only: Forbidden
// otherwise). Reading the log is not itself logged: it holds ids, never personal
// fields in clear.
func (s *Store) ListAudit(ctx context.Context, c Caller, f AuditFilter) (AuditPage, error) {
	if c.User.Role != Admin {
		return AuditPage{}, Errorf(Forbidden, "", "only admin may read the audit log")
	}
	page, err := f.Page.normalize(DefaultLimit)
	if err != nil {
		return AuditPage{}, err
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return AuditPage{}, Errorf(Invalid, "to", "must be after from")
	}
	var w where
	if f.UserID != 0 {
		w.add("a.user_id = ?", f.UserID)
	}
	if f.Entity != "" {
		w.add("a.entity = ?", f.Entity)
	}
	if f.EntityID != 0 {
		w.add("a.entity_id = ?", f.EntityID)
	}
	if f.Action != "" {
		w.add("a.action = ?", f.Action)
	}
	if f.From != nil {
		w.add("a.at >= ?", *f.From)
	}
	if f.To != nil {
		w.add("a.at < ?", *f.To)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, a.at, COALESCE(a.user_id, 0), COALESCE(u.name, ''), a.action, a.entity,
		       COALESCE(a.entity_id, 0), a.route, a.detail, COUNT(*) OVER()
		FROM audit_log a LEFT JOIN users u ON u.id = a.user_id`+w.sql()+
		` ORDER BY a.id DESC`+page.sql(), w.args...)
	if err != nil {
		return AuditPage{}, dbError("list audit", err)
	}
	out := AuditPage{Entries: []AuditEntry{}, Page: page}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.ID, &e.At, &e.UserID, &e.UserName, &e.Action, &e.Entity, &e.EntityID, &e.Route, &e.Detail, &out.Total)
		return e, err
	})
	if err != nil {
		return AuditPage{}, dbError("list audit", err)
	}
	out.Entries = append(out.Entries, entries...)
	if len(entries) == 0 && page.Offset > 0 {
		if out.Total, err = s.recount(ctx, "audit_log a", &w); err != nil {
			return AuditPage{}, err
		}
	}
	return out, nil
}
