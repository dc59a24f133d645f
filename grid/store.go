package grid

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/migrations"
)

// Store is the PostGIS store of the grid domain: plain SQL over a pgx pool, one
// transaction per exported method that writes.
type Store struct {
	pool    *pgxpool.Pool
	privacy locationPrivacy
}

// NewStore wraps a pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool exposes the pool to sibling stores (trace) and the tile handler.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ready reports an Unavailable error unless the database answers and its schema is
// at the version this binary embeds.
func (s *Store) Ready(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return &Error{Kind: Unavailable, Message: "database unreachable", Err: err}
	}
	defer conn.Release()
	cur, err := migrations.Current(ctx, conn.Conn())
	if err != nil {
		return &Error{Kind: Unavailable, Message: "database unreachable", Err: err}
	}
	want, err := migrations.Latest()
	if err != nil {
		return fmt.Errorf("latest migration: %w", err)
	}
	if cur != want {
		return Errorf(Unavailable, "", "schema at version %d, this server needs %d", cur, want)
	}
	return nil
}

// inTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbError("begin", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError("commit", err)
	}
	return nil
}

// DBError maps a driver error to a domain kind by SQLSTATE, for sibling stores
// (trace) so the project has one such table.
func DBError(op string, err error) error { return dbError(op, err) }

// dbError maps driver errors by SQLSTATE (never by message text) to domain kinds.
func dbError(op string, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &Error{Kind: Conflict, Message: "already exists", Field: pe.ColumnName, Err: fmt.Errorf("%s: %w", op, err)}
		case "23503":
			return &Error{Kind: Invalid, Message: "refers to something that does not exist", Field: pe.ColumnName, Err: fmt.Errorf("%s: %w", op, err)}
		case "23514", "22P02", "22007", "22008":
			return &Error{Kind: Invalid, Message: "value not allowed", Field: pe.ColumnName, Err: fmt.Errorf("%s: %w", op, err)}
		case "40001", "40P01", "55P03":
			return &Error{Kind: Conflict, Message: "concurrent change, retry", Err: fmt.Errorf("%s: %w", op, err)}
		case "57P01", "57P02", "57P03", "08000", "08003", "08006":
			return &Error{Kind: Unavailable, Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
		}
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: Unavailable, Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return fmt.Errorf("%s: %w", op, err)
}
