package api

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/grid"
)

// Config is what the server needs; cmd fills it from flags.
type Config struct {
	Store *grid.Store
	Log   *slog.Logger
	// Web is the browser app served at /.
	Web fs.FS
	// MaxBodyBytes caps request bodies (uploads included).
	MaxBodyBytes string
	// Live is the websocket hub behind GET /api/v1/live; nil answers 503 there.
	Live *live.Hub
	// SessionTTL is a session's absolute lifetime (0: DefaultSessionTTL), SessionIdle
	// how long it survives unused (0: DefaultSessionIdle; negative: no idle limit).
	SessionTTL, SessionIdle time.Duration
	// TrustProxy takes the client address from X-Forwarded-For when the request
	// comes from a loopback or private address (a reverse proxy); otherwise the
	// header is ignored, so a client cannot rotate it to escape the login throttle.
	TrustProxy bool
}

// Server is the HTTP server: an Echo instance with every route registered.
type Server struct {
	cfg      Config
	echo     *echo.Echo
	throttle *throttle
}

// New builds the server and registers its routes.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxBodyBytes == "" {
		cfg.MaxBodyBytes = "64M"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = DefaultSessionIdle
	} else if cfg.SessionIdle < 0 {
		cfg.SessionIdle = 0
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(cfg.Log)
	e.IPExtractor = echo.ExtractIPDirect()
	if cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(cfg.MaxBodyBytes))
	e.Use(secureHeaders(cfg.Web))
	e.Use(requestLog(cfg.Log))
	s := &Server{cfg: cfg, echo: e, throttle: newThrottle(10, 15*time.Minute)}
	s.routes()
	return s
}

// Handler is the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router, so tests can enumerate every registered route.
func (s *Server) Echo() *echo.Echo { return s.echo }

func (s *Server) routes() {
	s.echo.GET("/healthz", s.handleHealth)
	s.echo.GET("/readyz", s.handleReady)

	v1 := s.echo.Group("/api/v1")
	v1.POST("/login", s.handleLogin, bodyLimit(MaxAuthBody))
	authed := v1.Group("", s.authed)
	authed.POST("/logout", s.handleLogout, bodyLimit(MaxAuthBody))
	authed.GET("/me", s.handleMe)
	authed.GET("/live", s.handleLive)
	s.tileRoutes(s.echo.Group("/tiles", s.authed))
	s.gridRoutes(authed)
	s.zoneRoutes(authed)
	s.traceRoutes(authed)
	s.samplingRoutes(authed)
	s.careRoutes(authed)
	s.reportRoutes(authed)
	s.securityRoutes(authed)
	s.userRoutes(authed)
	if s.cfg.Web != nil {
		s.echo.GET("/*", echo.WrapHandler(http.FileServer(http.FS(s.cfg.Web))))
	}
}

func (s *Server) handleHealth(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ready(ctx); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func requestLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			log.Debug("request", "method", c.Request().Method, "path", c.Path(),
				"status", c.Response().Status, "ms", time.Since(start).Milliseconds())
			return nil
		}
	}
}
