package main

import (
	"flag"
	"time"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/grid"
)

// securityFlags are serve's session lifetimes and location privacy policy.
type securityFlags struct {
	sessionTTL, sessionIdle time.Duration
	liveSessionCheck        time.Duration
	privacy                 grid.LocationPrivacy
	trustProxy              bool
}

func (m *Main) envDuration(name string, def time.Duration) time.Duration {
	if v := m.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func (m *Main) bindSecurity(fs *flag.FlagSet, f *securityFlags) {
	def := grid.DefaultLocationPrivacy()
	fs.DurationVar(&f.sessionTTL, "session-ttl", m.envDuration("GRIDTRACE_SESSION_TTL", api.DefaultSessionTTL),
		"absolute lifetime of a login session (env GRIDTRACE_SESSION_TTL)")
	fs.DurationVar(&f.sessionIdle, "session-idle", m.envDuration("GRIDTRACE_SESSION_IDLE", api.DefaultSessionIdle),
		"a session unused this long ends; negative: never (env GRIDTRACE_SESSION_IDLE)")
	fs.DurationVar(&f.liveSessionCheck, "live-session-check", m.envDuration("GRIDTRACE_LIVE_SESSION_CHECK", 30*time.Second),
		"how often open live-map websockets have their sessions checked; one ended (expired, revoked elsewhere) is closed (env GRIDTRACE_LIVE_SESSION_CHECK)")
	fs.BoolVar(&f.trustProxy, "trust-proxy", m.envOr("GRIDTRACE_TRUST_PROXY", "") == "1",
		"behind a reverse proxy: take the client address from X-Forwarded-For sent by loopback/private addresses (env GRIDTRACE_TRUST_PROXY=1)")
	fs.IntVar(&f.privacy.MinHouseholds, "min-cell-households", m.envInt("GRIDTRACE_MIN_CELL_HOUSEHOLDS", def.MinHouseholds),
		"k-anonymity for roles without personal access: H3 cells and map clusters with fewer households are withheld (env GRIDTRACE_MIN_CELL_HOUSEHOLDS)")
	fs.IntVar(&f.privacy.MaxRes, "max-anon-h3-res", m.envInt("GRIDTRACE_MAX_ANON_H3_RES", def.MaxRes),
		"finest H3 resolution served to roles without personal access (env GRIDTRACE_MAX_ANON_H3_RES)")
}
