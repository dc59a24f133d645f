package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/migrations"
	"github.com/gridtrace/gridtrace/migrations/localpg"
)

// dbFlags are the flags every database command shares, each with an env fallback.
type dbFlags struct {
	url       string
	dataDir   string
	localPort int
	logLevel  string
	// started is the throwaway cluster open started, which close stops again.
	started *localpg.Cluster
}

func (m *Main) envOr(name, def string) string {
	if v := m.Getenv(name); v != "" {
		return v
	}
	return def
}

func (m *Main) envInt(name string, def int) int {
	if v := m.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func (m *Main) bindDB(fs *flag.FlagSet, f *dbFlags) {
	fs.StringVar(&f.url, "db", m.envOr("DATABASE_URL", ""), "PostgreSQL URL (env DATABASE_URL); empty: a throwaway local cluster under --data-dir")
	fs.StringVar(&f.dataDir, "data-dir", m.envOr("GRIDTRACE_DATA_DIR", ".data"), "where the throwaway local cluster lives (env GRIDTRACE_DATA_DIR)")
	fs.IntVar(&f.localPort, "local-port", m.envInt("GRIDTRACE_LOCAL_PORT", 54329), "port of the throwaway local cluster (env GRIDTRACE_LOCAL_PORT)")
	fs.StringVar(&f.logLevel, "log-level", m.envOr("GRIDTRACE_LOG_LEVEL", "info"), "debug, info, warn or error (env GRIDTRACE_LOG_LEVEL)")
}

func (m *Main) logger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: l}))
}

// local reports whether the command runs on the throwaway cluster (no URL given).
func (f *dbFlags) local() bool { return f.url == "" }

func (f *dbFlags) cluster(log *slog.Logger) *localpg.Cluster {
	return &localpg.Cluster{Dir: filepath.Join(f.dataDir, "pg"), Port: f.localPort, Log: log}
}

// open connects to the database (starting the local cluster when no URL is given)
// and applies the migrations.
func (f *dbFlags) open(ctx context.Context, log *slog.Logger) (*pgxpool.Pool, error) {
	url := f.url
	if url == "" {
		c := f.cluster(log)
		u, err := c.Start(ctx, "gridtrace")
		if err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
		if c.Started {
			f.started = c
		}
		url = u
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	// JIT compilation costs 1–3 s per large statement here and never paid back on our
	// short queries (measured on the demo load and tiles).
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(url), err)
	}
	err = migrations.Apply(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// close closes pool and stops the throwaway cluster if open started it: Ctrl-C on
// `make demo` leaves no PostgreSQL behind, while a cluster that was already running
// (`gridtrace pg start`, another command's) stays up. The stop runs on its own
// context because the command's was cancelled by the signal that ends it.
func (f *dbFlags) close(pool *pgxpool.Pool, log *slog.Logger) {
	pool.Close()
	if f.started == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.started.Stop(ctx); err != nil {
		log.Warn("stop local cluster", "dir", f.started.Dir, "err", err)
		return
	}
	log.Info("stopped local PostgreSQL", "dir", f.started.Dir)
}

func redact(url string) string {
	if i := strings.Index(url, "@"); i > 0 {
		if j := strings.Index(url, "://"); j > 0 && j < i {
			return url[:j+3] + "…" + url[i:]
		}
	}
	return url
}

func (m *Main) runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var db dbFlags
	m.bindDB(fs, &db)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := m.logger(db.logLevel)
	pool, err := db.open(ctx, log)
	if err != nil {
		return err
	}
	defer db.close(pool, log)
	v, _ := migrations.Latest()
	log.Info("migrated", "version", v)
	return nil
}

func (m *Main) runPG(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pg", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var db dbFlags
	m.bindDB(fs, &db)
	dbName := fs.String("name", "gridtrace", "database to create on start")
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, "usage: gridtrace pg start|stop|url [flags]")
		return errUsage
	}
	verb := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := m.logger(db.logLevel)
	c := db.cluster(log)
	switch verb {
	case "start":
		u, err := c.Start(ctx, *dbName)
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, u)
		return nil
	case "stop":
		abs, err := filepath.Abs(c.Dir)
		if err != nil {
			return err
		}
		c.Dir = abs
		return c.Stop(ctx)
	case "url":
		fmt.Fprintln(m.Stdout, c.URL(*dbName))
		return nil
	}
	fmt.Fprintf(m.Stderr, "unknown pg verb %q (start, stop, url)\n", verb)
	return errUsage
}
