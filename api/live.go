package api

import (
	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// handleLive upgrades GET /api/v1/live to the change feed's websocket (see package
// live for the protocol). The session was checked by authed; the origin is checked
// by the hub's upgrader, since a websocket is not bound by CORS.
func (s *Server) handleLive(c echo.Context) error {
	if s.cfg.Live == nil {
		return grid.Errorf(grid.Unavailable, "", "this server has no live feed")
	}
	return s.cfg.Live.ServeWS(c.Response(), c.Request(), userOf(c), grid.SessionKey(tokenOf(c)))
}
