package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// statusOf is the one table from domain error kinds to HTTP status codes.
var statusOf = map[grid.Kind]int{
	grid.Invalid:      http.StatusBadRequest,
	grid.Unauthorized: http.StatusUnauthorized,
	grid.Forbidden:    http.StatusForbidden,
	grid.NotFound:     http.StatusNotFound,
	grid.Conflict:     http.StatusConflict,
	grid.Unavailable:  http.StatusServiceUnavailable,
	grid.Internal:     http.StatusInternalServerError,
}

// codeOf names Echo's own HTTP errors (unknown route, wrong method, body too large)
// in the project's vocabulary.
var codeOf = map[int]grid.Kind{
	http.StatusBadRequest:            grid.Invalid,
	http.StatusUnauthorized:          grid.Unauthorized,
	http.StatusForbidden:             grid.Forbidden,
	http.StatusNotFound:              grid.NotFound,
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  grid.Invalid,
	http.StatusTooManyRequests:       "too_many_requests",
	http.StatusServiceUnavailable:    grid.Unavailable,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// errorHandler writes every error as {"error":{"code","message","field"}}; internal
// errors are logged with their cause and shown only as "internal error".
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
			// The client went away (MapLibre cancels tiles while panning): nobody to
			// answer and nothing wrong with the server.
			log.Debug("request cancelled", "path", c.Path())
			return
		}
		status, body := render(err)
		if status >= 500 && status != http.StatusServiceUnavailable {
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		} else if status == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", "5")
			log.Warn("unavailable", "path", c.Path(), "err", err)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, body)
	}
}

func render(err error) (int, errorBody) {
	var de *grid.Error
	if errors.As(err, &de) {
		status := statusOf[de.Kind]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		msg := de.Message
		if status == http.StatusInternalServerError {
			msg = "internal error"
		}
		return status, errorBody{errorDetail{Code: string(de.Kind), Message: msg, Field: de.Field}}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		kind, ok := codeOf[he.Code]
		if !ok {
			kind = grid.Internal
		}
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && he.Code < 500 {
			msg = s
		}
		return he.Code, errorBody{errorDetail{Code: string(kind), Message: msg}}
	}
	if grid.Unreachable(err) {
		// A store path that did not wrap its driver error still means "come back".
		return http.StatusServiceUnavailable, errorBody{errorDetail{Code: string(grid.Unavailable), Message: "database unavailable"}}
	}
	return http.StatusInternalServerError, errorBody{errorDetail{Code: string(grid.Internal), Message: "internal error"}}
}
