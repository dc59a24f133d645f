package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/gridtrace/gridtrace/grid"
)

// hstsMaxAge is one year: sent only over TLS (or behind a proxy saying
// X-Forwarded-Proto: https), since a plain-HTTP demo must stay reachable.
const hstsMaxAge = 365 * 24 * 3600

// importMap finds the page's one inline script, the import map, whose hash the CSP
// allows instead of 'unsafe-inline'.
var importMap = regexp.MustCompile(`(?s)<script type="importmap">(.*?)</script>`)

// contentSecurityPolicy is the CSP of the web app. Scripts and workers come from our
// own origin only (MapLibre's ES-module worker is a file beside it; blob: for the
// workers MapLibre and Terra Draw may start from blob URLs), plus the import map by
// hash; images may be data:/blob: (MapLibre's sprites and canvas exports); styles
// allow inline because MapLibre and Terra Draw set element styles; the live feed is
// a same-origin websocket ('self' covers ws/wss of the same host in CSP 3); nothing
// may frame the app (clickjacking) and forms post only to us.
func contentSecurityPolicy(web fs.FS) string {
	script := "script-src 'self'"
	if web != nil {
		if page, err := fs.ReadFile(web, "index.html"); err == nil {
			if m := importMap.FindSubmatch(page); m != nil {
				sum := sha256.Sum256(m[1])
				script += " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			}
		}
	}
	return strings.Join([]string{
		"default-src 'self'", script, "worker-src 'self' blob:", "child-src 'self' blob:",
		"img-src 'self' data: blob:", "style-src 'self' 'unsafe-inline'", "font-src 'self' data:",
		"connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// secureHeaders sets the security headers of every answer (CSP, no framing, no
// sniffing, HSTS over TLS) and forbids caching of API answers: they carry personal
// data, and a shared or back-button cache must not keep them.
func secureHeaders(web fs.FS) echo.MiddlewareFunc {
	sec := middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "same-origin",
		HSTSMaxAge:            hstsMaxAge,
		ContentSecurityPolicy: contentSecurityPolicy(web),
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return sec(func(c echo.Context) error {
			if strings.HasPrefix(c.Request().URL.Path, "/api/") {
				h := c.Response().Header()
				h.Set(echo.HeaderCacheControl, "no-store")
				h.Set("Pragma", "no-cache")
			}
			return next(c)
		})
	}
}

// securityRoutes registers account security and the audit log on the authenticated
// group: an admin reads the audit log, ends a user's sessions and disables or
// enables a user; everyone changes their own password.
func (s *Server) securityRoutes(g *echo.Group) {
	admin := requireRole(grid.Admin)
	limit := bodyLimit(MaxJSONBody)
	g.GET("/audit", s.handleAuditList, admin)
	g.POST("/users/:id/revoke-sessions", s.handleRevokeSessions, admin, limit)
	g.POST("/users/:id/disable", s.handleUserDisabled(true), admin, limit)
	g.POST("/users/:id/enable", s.handleUserDisabled(false), admin, limit)
	g.PUT("/me/password", s.handlePasswordChange, limit)
}

// auditJSON is an audit row as answered.
type auditJSON struct {
	ID       int64           `json:"id"`
	At       string          `json:"at"`
	UserID   any             `json:"user_id"`
	UserName string          `json:"user_name"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID any             `json:"entity_id"`
	Route    string          `json:"route"`
	Detail   json.RawMessage `json:"detail"`
}

// handleAuditList: GET /api/v1/audit?user=&entity=&entity_id=&action=&from=&to=&limit=&offset=,
// admin only, newest first: {entries, total, limit, offset, next_offset}.
func (s *Server) handleAuditList(c echo.Context) error {
	if err := queryStrict(c, "user", "entity", "entity_id", "action", "from", "to", "limit", "offset"); err != nil {
		return err
	}
	var f grid.AuditFilter
	var err error
	if f.UserID, err = queryID(c, "user"); err != nil {
		return err
	}
	if f.EntityID, err = queryID(c, "entity_id"); err != nil {
		return err
	}
	f.Entity, f.Action = c.QueryParam("entity"), c.QueryParam("action")
	if f.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	if f.Page, err = queryPage(c); err != nil {
		return err
	}
	p, err := s.cfg.Store.ListAudit(c.Request().Context(), callerOf(c), f)
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(p.Entries))
	for i, e := range p.Entries {
		out[i] = auditJSON{ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), UserID: idOrNull(e.UserID), UserName: e.UserName,
			Action: e.Action, Entity: e.Entity, EntityID: idOrNull(e.EntityID), Route: e.Route, Detail: e.Detail}
	}
	body := pageMembers(p.Page, len(p.Entries), p.Total)
	body["entries"] = out
	return c.JSON(http.StatusOK, body)
}

// handleRevokeSessions: POST /api/v1/users/:id/revoke-sessions, admin only: ends
// every open session of the user; {"revoked": n}.
func (s *Server) handleRevokeSessions(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	n, err := s.cfg.Store.RevokeSessions(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	s.endLive(id)
	return c.JSON(http.StatusOK, map[string]int{"revoked": n})
}

// handleUserDisabled: POST /api/v1/users/:id/disable (or /enable), admin only;
// disabling ends the user's sessions. 204.
func (s *Server) handleUserDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		if err := s.cfg.Store.SetUserDisabled(c.Request().Context(), callerOf(c), id, disabled); err != nil {
			return err
		}
		if disabled {
			s.endLive(id)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

type passwordRequest struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// handlePasswordChange: PUT /api/v1/me/password {current_password, new_password}.
// Every session of the caller ends, this one included (204 and the cookie cleared):
// the next request logs in with the new password.
func (s *Server) handlePasswordChange(c echo.Context) error {
	var req passwordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	// A stolen session must not become a password oracle: wrong current passwords
	// count against the login throttle of the user's name.
	key := "user:" + userOf(c).Name
	if wait := s.throttle.blocked(key); wait > 0 {
		c.Response().Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
		return echo.NewHTTPError(http.StatusTooManyRequests, "too many failed attempts; try again later")
	}
	if err := s.cfg.Store.ChangePassword(c.Request().Context(), callerOf(c), req.Current, req.New); err != nil {
		if grid.KindOf(err) == grid.Unauthorized {
			s.throttle.fail(key)
		}
		return err
	}
	s.endLive(userOf(c).ID)
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.NoContent(http.StatusNoContent)
}

// endLive closes the live connections of user id on this server at once, after
// its sessions were revoked; other servers' hubs notice at their next check.
func (s *Server) endLive(id int64) {
	if s.cfg.Live != nil {
		s.cfg.Live.EndUser(id)
	}
}
