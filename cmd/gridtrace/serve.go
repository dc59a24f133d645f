package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/web"
)

type serveFlags struct {
	addr string
	demo bool
	sec  securityFlags
}

func (m *Main) bindServe(fs *flag.FlagSet, f *serveFlags) {
	fs.StringVar(&f.addr, "addr", m.envOr("GRIDTRACE_ADDR", ":8080"), "listen address (env GRIDTRACE_ADDR)")
	fs.BoolVar(&f.demo, "demo", m.envOr("GRIDTRACE_DEMO", "") == "1", "demo mode: allow the demo users' published passwords (env GRIDTRACE_DEMO=1)")
	m.bindSecurity(fs, &f.sec)
}

func (m *Main) runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var db dbFlags
	var sf serveFlags
	m.bindDB(fs, &db)
	m.bindServe(fs, &sf)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := m.logger(db.logLevel)
	pool, err := db.open(ctx, log)
	if err != nil {
		return err
	}
	defer db.close(pool, log)
	store := grid.NewStore(pool)
	if !sf.demo && !db.local() {
		// The demo users' passwords are published: on a real database they are a door.
		names, err := store.DemoPasswordsPresent(ctx)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return fmt.Errorf("refusing to serve: users %v still have their published demo passwords; change them or run with --demo", names)
		}
	}
	return m.serve(ctx, store, sf, db.local(), nil)
}

// serve runs the HTTP server until ctx ends, then drains it. A throwaway local
// cluster is demo mode by definition. ready, when set, receives the bound address.
func (m *Main) serve(ctx context.Context, store *grid.Store, sf serveFlags, local bool, ready chan<- string) error {
	log := m.logger(m.envOr("GRIDTRACE_LOG_LEVEL", "info"))
	// The live map: the listener follows the change feed and the hub fans it out.
	hub := live.NewHub(live.Config{Store: store, Log: log, Sessions: store, SessionCheckEvery: sf.sec.liveSessionCheck,
		Privacy: store.LocationPrivacy})
	feed := grid.NewListener(store, grid.ListenerConfig{Publish: hub.Publish, Health: hub.SetDatabase, Log: log})
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.Run(feedCtx) }()
	defer func() { stopFeed(); <-feedDone }()
	// The care sweeper: missed check-ins and contacts raise alerts, spells are
	// released on their last day (grid/sweep.go); idempotent across servers.
	go store.RunSweeper(feedCtx, time.Minute, log)
	if sf.sec.privacy != (grid.LocationPrivacy{}) {
		if err := store.SetLocationPrivacy(sf.sec.privacy); err != nil {
			return fmt.Errorf("location privacy flags: %w", err)
		}
	}
	srv := api.New(api.Config{Store: store, Log: log, Web: web.FS(), Live: hub, SessionTTL: sf.sec.sessionTTL, SessionIdle: sf.sec.sessionIdle, TrustProxy: sf.sec.trustProxy})
	ln, err := net.Listen("tcp", sf.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sf.addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving", "addr", ln.Addr().String(), "demo", sf.demo || local)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Websockets are hijacked: Shutdown does not wait for them. Closing them first
	// with 1001 sends their browsers to reconnect elsewhere.
	if err := hub.Close(shutdownCtx); err != nil {
		log.Warn("live clients did not close in time", "err", err)
	}
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
