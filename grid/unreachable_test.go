package grid_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gridtrace/gridtrace/grid"
)

// TestUnreachable: a database that is away (refused, dropped, shutting down) is
// Unavailable, so the API answers 503 with Retry-After; a refused statement is not.
func TestUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("insert: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "XX000"}, false},
		{errors.New("scan: wrong type"), false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := grid.Unreachable(tc.err); got != tc.want {
			t.Errorf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.err == nil {
			continue
		}
		if got := grid.KindOf(grid.DBError("op", tc.err)) == grid.Unavailable; got != tc.want {
			t.Errorf("DBError(%v) unavailable = %v, want %v", tc.err, got, tc.want)
		}
	}
}
