// Package localpg runs a throwaway PostgreSQL + PostGIS cluster from the machine's
// PostgreSQL binaries, for `gridtrace demo` and `make test` when no DATABASE_URL is
// given. It installs PostGIS from Debian packages when missing and, because initdb
// refuses root, runs the cluster as the postgres user when started by root.
package localpg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostGISPackage is the Debian package that provides PostGIS for PostgreSQL 15.
const PostGISPackage = "postgresql-15-postgis-3"

// Cluster is a local cluster kept in Dir and listening on 127.0.0.1:Port only.
type Cluster struct {
	Dir    string
	Port   int
	BinDir string
	Log    *slog.Logger
	// Started is set by Start when it started the server (it was not running), so
	// the command that started it stops it and one that found it running leaves it.
	Started bool
}

// URL is the connection string for database db on the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// FindBinDir returns the newest /usr/lib/postgresql/*/bin holding initdb.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// EnsurePostGIS installs the PostGIS package with apt-get when its control file is
// missing; it needs root, and says so otherwise.
func EnsurePostGIS(ctx context.Context, binDir string, log *slog.Logger) error {
	major := filepath.Base(filepath.Dir(binDir))
	control := filepath.Join("/usr/share/postgresql", major, "extension", "postgis.control")
	if _, err := os.Stat(control); err == nil {
		return nil
	}
	pkg := fmt.Sprintf("postgresql-%s-postgis-3", major)
	if os.Geteuid() != 0 {
		return fmt.Errorf("PostGIS is missing (%s); install it with: sudo apt-get install -y %s", control, pkg)
	}
	log.Info("installing PostGIS", "package", pkg)
	install := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", pkg)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := install.CombinedOutput(); err != nil {
		update := exec.CommandContext(ctx, "apt-get", "update", "-q")
		if uout, uerr := update.CombinedOutput(); uerr != nil {
			return fmt.Errorf("apt-get update: %w: %s", uerr, tail(uout))
		}
		install = exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", pkg)
		install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err = install.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get install %s: %w: %s", pkg, err, tail(out))
		}
	}
	return nil
}

// Start initialises the cluster if needed, starts it unless it already runs, and
// creates database db. It returns the database's URL.
func (c *Cluster) Start(ctx context.Context, db string) (string, error) {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.BinDir == "" {
		d, err := FindBinDir()
		if err != nil {
			return "", err
		}
		c.BinDir = d
	}
	if err := EnsurePostGIS(ctx, c.BinDir, c.Log); err != nil {
		return "", err
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return "", fmt.Errorf("cluster dir: %w", err)
	}
	c.Dir = dir
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		if err := c.initdb(ctx); err != nil {
			return "", err
		}
	}
	if !c.running(ctx) {
		c.Log.Info("starting local PostgreSQL", "dir", dir, "port", c.Port)
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "+
			"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c jit=off "+
			"-c max_connections=200 -c shared_buffers=256MB", c.Port)
		if err := c.run(ctx, "pg_ctl", "-D", dir, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
			return "", fmt.Errorf("start cluster (see %s): %w", filepath.Join(dir, "server.log"), err)
		}
		c.Started = true
	}
	if err := c.createDB(ctx, db); err != nil {
		return "", err
	}
	return c.URL(db), nil
}

// Stop shuts the cluster down quickly if it runs.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.BinDir == "" {
		d, err := FindBinDir()
		if err != nil {
			return err
		}
		c.BinDir = d
	}
	if !c.running(ctx) {
		return nil
	}
	return c.run(ctx, "pg_ctl", "-D", c.Dir, "-m", "fast", "-w", "stop")
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.Log.Info("creating local PostgreSQL cluster", "dir", c.Dir)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("initdb refuses root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.Dir, uid, gid); err != nil {
			return fmt.Errorf("chown cluster dir: %w", err)
		}
		// The postgres user must be able to reach the directory through its parents.
		for p := filepath.Dir(c.Dir); p != "/"; p = filepath.Dir(p) {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(p, st.Mode().Perm()|0o001)
			}
		}
	}
	return c.run(ctx, "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
}

func (c *Cluster) running(ctx context.Context) bool {
	if _, err := os.Stat(filepath.Join(c.Dir, "postmaster.pid")); err != nil {
		return false
	}
	return c.run(ctx, "pg_ctl", "-D", c.Dir, "status") == nil
}

func (c *Cluster) createDB(ctx context.Context, db string) error {
	var conn *pgx.Conn
	var err error
	for i := 0; i < 50; i++ {
		conn, err = pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("connect to local cluster: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
		return fmt.Errorf("check database %s: %w", db, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// run executes a PostgreSQL binary, as the postgres user when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	bin := filepath.Join(c.BinDir, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(out))
	}
	return nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}
