package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// userRoutes registers the user list: admin and command staff pick the samplers of
// door-to-door teams (and whoever else they assign work to) from it.
func (s *Server) userRoutes(g *echo.Group) {
	g.GET("/users", s.handleUserList, requireRole(grid.UserReaders()...))
}

// userListJSON is a user as listed: no password hash, no sessions.
type userListJSON struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	Role     string  `json:"role"`
	AreaIDs  []int64 `json:"area_ids"`
	Disabled bool    `json:"disabled"`
}

// handleUserList: GET /api/v1/users[?role=], admin and commander: {"users": [...]},
// by name; a commander sees only the users whose jurisdiction lies inside theirs.
func (s *Server) handleUserList(c echo.Context) error {
	if err := queryStrict(c, "role"); err != nil {
		return err
	}
	us, err := s.cfg.Store.ListUsers(c.Request().Context(), callerOf(c), grid.Role(c.QueryParam("role")))
	if err != nil {
		return err
	}
	out := make([]userListJSON, len(us))
	for i, u := range us {
		out[i] = userListJSON{ID: u.ID, Name: u.Name, Role: string(u.Role), AreaIDs: u.AreaIDs, Disabled: u.Disabled}
	}
	return c.JSON(http.StatusOK, map[string]any{"users": out})
}
