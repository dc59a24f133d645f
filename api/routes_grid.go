package api

import (
	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// gridRoutes registers the grid nouns on the authenticated group: areas, households,
// cases and H3 counts. Every read is filtered to the caller's jurisdiction by the
// store; writes are open to grid.HouseholdWriters only.
func (s *Server) gridRoutes(g *echo.Group) {
	g.GET("/areas", s.handleAreaList)
	g.GET("/areas/:id", s.handleAreaGet)
	writers := requireRole(grid.HouseholdWriters()...)
	g.GET("/households", s.handleHouseholdList)
	g.POST("/households", s.handleHouseholdCreate, writers, bodyLimit(MaxJSONBody))
	g.GET("/households/:id", s.handleHouseholdGet)
	g.PUT("/households/:id", s.handleHouseholdUpdate, writers, bodyLimit(MaxJSONBody))
	g.GET("/cases", s.handleCaseList)
	g.GET("/h3", s.handleH3Counts)
}
