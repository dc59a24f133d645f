// Package migrations owns the database schema: numbered, forward-only SQL files
// embedded in the binary and applied with tern under its advisory lock. It imports
// only pgx and tern.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable is the table in which tern records the applied schema version.
const VersionTable = "schema_version"

func migrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return nil, fmt.Errorf("new migrator: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return m, nil
}

// Apply brings the database on conn up to the newest migration; concurrent callers
// wait on tern's advisory lock, so several servers may start at once.
func Apply(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrator(ctx, conn)
	if err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Latest is the version the embedded migrations bring a database to.
func Latest() (int32, error) {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		return 0, fmt.Errorf("find migrations: %w", err)
	}
	return int32(len(names)), nil
}

// Current reads the schema version applied to the database on conn (0 when none).
func Current(ctx context.Context, conn *pgx.Conn) (int32, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, VersionTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("check version table: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int32
	if err := conn.QueryRow(ctx, `SELECT version FROM `+VersionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Fingerprint is a short hash of the embedded migrations, so a test template built
// from an older schema is never reused.
func Fingerprint() (string, error) {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		return "", fmt.Errorf("find migrations: %w", err)
	}
	h := sha256.New()
	for _, n := range names {
		b, err := files.ReadFile(path.Base(n))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", n, err)
		}
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
