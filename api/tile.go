package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// mvtType is the registered media type of Mapbox Vector Tiles.
const mvtType = "application/vnd.mapbox-vector-tile"

// tileCacheControl lets the browser reuse a tile while panning back and forth, but
// only briefly (the live map refreshes tiles on changes) and never in a shared
// cache: tiles are cut to the caller's jurisdiction.
const tileCacheControl = "private, max-age=30"

// tileRoutes registers GET /tiles/{layer}/{z}/{x}/{y}.mvt on g, a group that
// authenticates the caller (the browser sends its session cookie with each tile).
func (s *Server) tileRoutes(g *echo.Group) {
	// Echo ends a path parameter only at "/", so ":y.mvt" would name a parameter
	// "y.mvt"; the suffix is checked in the handler instead.
	g.GET("/:layer/:z/:x/:y", s.handleTile)
}

func (s *Server) handleTile(c echo.Context) error {
	layer, err := grid.ParseTileLayer(c.Param("layer"))
	if err != nil {
		return err
	}
	y, ok := strings.CutSuffix(c.Param("y"), ".mvt")
	if !ok {
		return grid.Errorf(grid.Invalid, "y", "tile path must end in .mvt")
	}
	id, err := grid.ParseTileID(c.Param("z"), c.Param("x"), y)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	mvt, err := s.cfg.Store.Tile(ctx, userOf(c), layer, id)
	if err != nil {
		if ctx.Err() != nil {
			// The client went away: MapLibre cancels the tiles that leave the view
			// while panning, which is routine, not a server error worth logging.
			return nil
		}
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, tileCacheControl)
	// The same URL answers differently per session.
	h.Add(echo.HeaderVary, "Cookie, Authorization")
	return c.Blob(http.StatusOK, mvtType, mvt)
}
