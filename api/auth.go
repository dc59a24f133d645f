package api

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// SessionCookie is the HttpOnly cookie carrying the session token for the browser app.
const SessionCookie = "gridtrace_session"

// DefaultSessionTTL bounds a login absolutely: a shift plus margin.
const DefaultSessionTTL = 12 * time.Hour

// DefaultSessionIdle ends a session unused for this long: a terminal left open in a
// community office stops showing residents after half an hour without use.
const DefaultSessionIdle = 30 * time.Minute

// MaxAuthBody caps the bodies of login and logout: a name and a password are a few
// dozen bytes, and these routes answer before any session is checked.
const MaxAuthBody = 4 << 10

const userKey = "gridtrace.user"

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

type userJSON struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	Role    string  `json:"role"`
	AreaIDs []int64 `json:"area_ids"`
}

func toUserJSON(u grid.User) userJSON {
	ids := u.AreaIDs
	if ids == nil {
		ids = []int64{}
	}
	return userJSON{ID: u.ID, Name: u.Name, Role: string(u.Role), AreaIDs: ids}
}

func (s *Server) handleLogin(c echo.Context) error {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return grid.Errorf(grid.Invalid, "name", "is required")
	}
	if req.Password == "" {
		return grid.Errorf(grid.Invalid, "password", "is required")
	}
	// Login CSRF (a page logging the browser into the attacker's account): a browser
	// names the page's origin, which must be ours.
	if o := c.Request().Header.Get("Origin"); o != "" && !sameOrigin(c.Request()) {
		return grid.Errorf(grid.Forbidden, "", "cross-site login refused")
	}
	keys := []string{"user:" + req.Name, "addr:" + c.RealIP()}
	if wait := s.throttle.blocked(keys...); wait > 0 {
		c.Response().Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
		return echo.NewHTTPError(http.StatusTooManyRequests, "too many failed logins; try again later")
	}
	sess, err := s.cfg.Store.Login(c.Request().Context(), req.Name, req.Password, s.cfg.SessionTTL)
	if err != nil {
		if grid.KindOf(err) == grid.Unauthorized {
			s.throttle.fail(keys...)
		}
		return err
	}
	s.throttle.reset("user:" + req.Name)
	c.SetCookie(&http.Cookie{
		Name: SessionCookie, Value: sess.Token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Scheme() == "https",
	})
	return c.JSON(http.StatusOK, map[string]any{
		"token": sess.Token, "expires_at": sess.ExpiresAt.UTC(), "user": toUserJSON(sess.User),
	})
}

func (s *Server) handleLogout(c echo.Context) error {
	if err := s.cfg.Store.Logout(c.Request().Context(), tokenOf(c)); err != nil {
		return err
	}
	if s.cfg.Live != nil {
		s.cfg.Live.EndSessions(grid.SessionKey(tokenOf(c)))
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) handleMe(c echo.Context) error {
	return c.JSON(http.StatusOK, toUserJSON(userOf(c)))
}

// tokenOf reads the session token from "Authorization: Bearer" or the cookie.
func tokenOf(c echo.Context) string {
	if h := c.Request().Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	if ck, err := c.Cookie(SessionCookie); err == nil {
		return ck.Value
	}
	return ""
}

// authed loads the caller from their session; without one the answer is 401.
// A state-changing request authenticated by cookie must come from our own origin
// (CSRF): the SameSite=Strict cookie already stops most, the Origin check the rest.
func (s *Server) authed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		bearer := strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ")
		u, err := s.cfg.Store.SessionUser(req.Context(), tokenOf(c), s.cfg.SessionIdle)
		if err != nil {
			return err
		}
		if !bearer && unsafeMethod(req.Method) && !sameOrigin(req) {
			return grid.Errorf(grid.Forbidden, "", "cross-site request refused")
		}
		c.Set(userKey, u)
		return next(c)
	}
}

// userOf is the authenticated caller; only call it behind authed.
func userOf(c echo.Context) grid.User {
	u, _ := c.Get(userKey).(grid.User)
	return u
}

// requireRole refuses callers whose role is not one of roles.
func requireRole(roles ...grid.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := userOf(c)
			for _, r := range roles {
				if u.Role == r {
					return next(c)
				}
			}
			return grid.Errorf(grid.Forbidden, "", "role %s may not do this", u.Role)
		}
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// sameOrigin reports whether a cookie-authenticated unsafe request comes from our own
// origin. Browsers send Origin on every POST, PUT, PATCH and DELETE (Referer as the
// fallback of old ones), so a cookie request without either is not from our page
// and is refused too; non-browser clients authenticate with a bearer token.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// throttle counts failed logins per key (user name, client address) and blocks a key
// for a while after too many, so passwords cannot be guessed quickly.
type throttle struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	fails int
	first time.Time
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{max: max, window: window, entries: map[string]*throttleEntry{}}
}

func (t *throttle) blocked(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var wait time.Duration
	for _, k := range keys {
		e := t.entries[k]
		if e == nil {
			continue
		}
		if now.Sub(e.first) > t.window {
			delete(t.entries, k)
			continue
		}
		if e.fails >= t.max {
			if w := t.window - now.Sub(e.first); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if len(t.entries) > 100000 {
		// Bounded memory under a spray of names: forget the oldest window wholesale.
		t.entries = map[string]*throttleEntry{}
	}
	for _, k := range keys {
		e := t.entries[k]
		if e == nil || now.Sub(e.first) > t.window {
			e = &throttleEntry{first: now}
			t.entries[k] = e
		}
		e.fails++
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}
