package live

import (
	"context"
	"time"
)

// A websocket outlives the request that authenticated it, so the hub checks the
// sessions of its clients again: every SessionCheckEvery, one query for all of them
// (LiveSessions), and at once when this server revokes a session (EndSessions,
// EndUser). A client whose session ended is closed with 1008, which the browser
// takes as "log in again" rather than "reconnect".

// SessionChecker tells which sessions are still open; *grid.Store is one.
type SessionChecker interface {
	LiveSessions(ctx context.Context, keys []string) (map[string]bool, error)
}

// sessionEnded is the close reason of a client whose session ended.
const sessionEnded = "session ended"

// checkSessions re-checks the clients' sessions every SessionCheckEvery until Close.
func (h *Hub) checkSessions() {
	t := time.NewTicker(h.cfg.SessionCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.CheckSessions(h.ctx)
		}
	}
}

// CheckSessions closes the clients whose session is no longer open, with one query
// for all distinct sessions. When the query fails (the database is down) every
// client is kept: the feed says the database is unavailable, and a session that
// ended meanwhile is caught by the next check.
func (h *Hub) CheckSessions(ctx context.Context) {
	if h.cfg.Sessions == nil {
		return
	}
	h.mu.Lock()
	seen := map[string]bool{}
	var keys []string
	for c := range h.clients {
		if c.session != "" && !seen[c.session] {
			seen[c.session] = true
			keys = append(keys, c.session)
		}
	}
	h.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.SessionCheckEvery)
	defer cancel()
	open, err := h.cfg.Sessions.LiveSessions(ctx, keys)
	if err != nil {
		h.cfg.Log.Warn("live: session check failed", "sessions", len(keys), "err", err)
		return
	}
	// Only the sessions asked about may be ended: a client connected meanwhile
	// was checked by its handshake.
	h.endWhere(func(c *client) bool { return seen[c.session] && !open[c.session] })
}

// EndSessions closes at once the clients of the sessions named by keys
// (grid.SessionKey), after this server logged them out.
func (h *Hub) EndSessions(keys ...string) {
	h.endWhere(func(c *client) bool {
		for _, k := range keys {
			if k != "" && c.session == k {
				return true
			}
		}
		return false
	})
}

// EndUser closes at once every client of user id, after this server revoked the
// user's sessions (admin revoke, disable, a password change).
func (h *Hub) EndUser(id int64) {
	h.endWhere(func(c *client) bool { return c.user.ID == id })
}

// endWhere drops the clients for which ended reports true, with 1008.
func (h *Hub) endWhere(ended func(*client) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if ended(c) {
			h.drop(c, CloseSessionEnded, sessionEnded)
		}
	}
}
