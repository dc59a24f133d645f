package grid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

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
		}
	}
	if Unreachable(err) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: Unavailable, Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Unreachable reports whether err says the database could not be reached or went
// away (refused or dropped connection, server shutting down or out of connections)
// rather than refusing a statement: the request may succeed once it is back, so
// callers answer Unavailable (503 with Retry-After), never Internal. A write that
// failed this way was rolled back by PostgreSQL, except a COMMIT cut off in flight,
// whose outcome the client cannot know either way.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-03: admin/crash shutdown, cannot
		// connect now; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" ||
			pe.Code == "57P03" || pe.Code == "53300"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
