// Package dbtest gives each test its own migrated PostGIS database, cloned from a
// template that is built once per schema fingerprint, so tests may run in parallel.
// The server comes from GRIDTRACE_TEST_DATABASE_URL (make test starts a throwaway
// cluster and sets it). Without it a test skips when run by hand, and fails when
// CI is set: in CI a missing database is an error, never a silent pass.
package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/migrations"
)

// EnvURL names the variable holding the admin URL of the test server.
const EnvURL = "GRIDTRACE_TEST_DATABASE_URL"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
	counter      atomic.Int64
)

// Require skips (by hand) or fails (under CI) the test when no test server is set,
// and returns the admin URL otherwise.
func Require(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set and CI=%s: PostGIS tests must run in CI (use make test)", EnvURL, os.Getenv("CI"))
		}
		t.Skipf("%s not set: skipping PostGIS test (make test starts a cluster)", EnvURL)
	}
	return u
}

// New creates a fresh migrated database for the test, dropped when it ends, and
// returns a pool on it together with its URL.
func New(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	admin := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, admin) })
	if templateErr != nil {
		t.Fatalf("test template: %v", templateErr)
	}
	name := fmt.Sprintf("gt_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, counter.Add(1))
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(ctx)
	// Clones of one template are serialised: CREATE DATABASE fails while another
	// session is copying the same source.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7714001)`); err != nil {
		t.Fatalf("lock: %v", err)
	}
	_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{templateName}.Sanitize()))
	conn.Exec(ctx, `SELECT pg_advisory_unlock(7714001)`)
	if err != nil {
		t.Fatalf("clone test database: %v", err)
	}
	dbURL := withDB(admin, name)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("parse test URL: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("open test pool: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return pool, dbURL
}

func ensureTemplate(ctx context.Context, admin string) (string, error) {
	fp, err := migrations.Fingerprint()
	if err != nil {
		return "", err
	}
	name := "gt_template_" + fp
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect admin: %w", err)
	}
	defer conn.Close(ctx)
	// Several test binaries start at once; one builds the template, the others wait.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7714000)`); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7714000)`)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return name, nil
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	tc, err := pgx.Connect(ctx, withDB(admin, name))
	if err != nil {
		return "", fmt.Errorf("connect template: %w", err)
	}
	err = migrations.Apply(ctx, tc)
	tc.Close(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH is_template true"); err != nil {
		return "", fmt.Errorf("mark template: %w", err)
	}
	return name, nil
}

func withDB(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + strings.TrimPrefix(db, "/")
	return u.String()
}
