package grid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridtrace/gridtrace/grid/care"
)

// StoredCarePolicy is a version of the care policy; version 0 is the built-in
// care.DefaultPolicy, in force until admin stores one.
type StoredCarePolicy struct {
	Version   int
	Policy    care.Policy
	CreatedBy int64
	CreatedAt time.Time
}

// CarePolicyWriters are the roles that may change the care policy.
func CarePolicyWriters() []Role { return []Role{Admin} }

// CurrentCarePolicy returns the newest stored care policy, or the default.
func (s *Store) CurrentCarePolicy(ctx context.Context) (StoredCarePolicy, error) {
	return currentCarePolicy(ctx, s.pool)
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func currentCarePolicy(ctx context.Context, q rowQuerier) (StoredCarePolicy, error) {
	var out StoredCarePolicy
	var body []byte
	var by *int64
	err := q.QueryRow(ctx, `SELECT version, body, created_by, created_at FROM care_policies ORDER BY version DESC LIMIT 1`).
		Scan(&out.Version, &body, &by, &out.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredCarePolicy{Policy: care.DefaultPolicy()}, nil
	}
	if err != nil {
		return StoredCarePolicy{}, dbError("load care policy", err)
	}
	if by != nil {
		out.CreatedBy = *by
	}
	if err := json.Unmarshal(body, &out.Policy); err != nil {
		return StoredCarePolicy{}, fmt.Errorf("decode care policy %d: %w", out.Version, err)
	}
	return out, nil
}

// UpdateCarePolicy stores p as the version after base; Conflict when base is not the
// current version, Invalid naming the field when p is not valid, Forbidden for
// roles other than CarePolicyWriters. Spells already placed keep their period.
func (s *Store) UpdateCarePolicy(ctx context.Context, c Caller, base int, p care.Policy) (StoredCarePolicy, error) {
	if c.User.Role != Admin {
		return StoredCarePolicy{}, Errorf(Forbidden, "", "role %s may not change the care policy", c.User.Role)
	}
	if err := p.Validate(); err != nil {
		return StoredCarePolicy{}, careError(err)
	}
	var out StoredCarePolicy
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE care_policies IN EXCLUSIVE MODE`); err != nil {
			return dbError("lock care policies", err)
		}
		cur, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		if cur.Version != base {
			return Errorf(Conflict, "version", "the care policy is at version %d, not %d: reload and edit again", cur.Version, base)
		}
		body, _ := json.Marshal(p)
		out = StoredCarePolicy{Version: base + 1, Policy: p, CreatedBy: c.User.ID}
		if err := tx.QueryRow(ctx, `INSERT INTO care_policies (version, body, created_by) VALUES ($1, $2, NULLIF($3::bigint, 0)) RETURNING created_at`,
			out.Version, body, c.User.ID).Scan(&out.CreatedAt); err != nil {
			return dbError("store care policy", err)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "upsert", Entity: "care_policy", EntityID: int64(out.Version)})
		return err
	})
	return out, err
}

// careError turns a care.FieldError into an Invalid domain error.
func careError(err error) error {
	var fe *care.FieldError
	if errors.As(err, &fe) {
		return Errorf(Invalid, fe.Field, "%s", fe.Reason)
	}
	return err
}
