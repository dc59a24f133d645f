package grid

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The audit log records who read personal data in clear and who changed a household,
// with the request route. Rows are appended in the transaction that reads or writes
// the data, so a failed log entry fails the request: no personal data leaves without
// its entry. One row per request (entity ids in detail), never one per person, so a
// page of a thousand households costs one INSERT.

// Audit actions.
const (
	AuditReadPerson     = "read_person"
	AuditWriteHousehold = "write_household"
)

// appendAudit writes one audit row; entityID 0 means none (a list).
func appendAudit(ctx context.Context, tx pgx.Tx, c Caller, action, entity string, entityID int64, detail map[string]any) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO audit_log (user_id, action, entity, entity_id, route, detail)
		VALUES (NULLIF($1::bigint, 0), $2, $3, NULLIF($4::bigint, 0), $5, $6)`,
		c.User.ID, action, entity, entityID, c.Route, detail)
	if err != nil {
		return dbError("append audit", err)
	}
	return nil
}

// auditPersonRead logs a read of the persons of hs when pol shows any field in clear
// and there is at least one person; it names the fields shown.
func auditPersonRead(ctx context.Context, tx pgx.Tx, c Caller, entity string, entityID int64, hs []Household, pol MaskPolicy) error {
	ids := personIDs(hs)
	if !pol.Any() || len(ids) == 0 {
		return nil
	}
	hids := make([]int64, 0, len(hs))
	for _, h := range hs {
		if len(h.Persons) > 0 {
			hids = append(hids, h.ID)
		}
	}
	detail := map[string]any{"person_ids": ids, "household_ids": hids, "fields": pol.ShownFields()}
	return appendAudit(ctx, tx, c, AuditReadPerson, entity, entityID, detail)
}

func personIDs(hs []Household) []int64 {
	ids := []int64{}
	for _, h := range hs {
		for _, p := range h.Persons {
			ids = append(ids, p.ID)
		}
	}
	return ids
}
