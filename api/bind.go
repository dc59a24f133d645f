package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// bindJSON decodes a JSON body strictly (unknown fields refused) and turns every
// decoding failure into an Invalid error naming the field.
func bindJSON(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/geo+json") {
		return &grid.Error{Kind: grid.Invalid, Field: "Content-Type", Message: "must be application/json"}
	}
	dec := json.NewDecoder(req.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return grid.Errorf(grid.Invalid, "body", "has data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return grid.Errorf(grid.Invalid, "body", "is empty; a JSON object is required")
	case errors.As(err, &syn):
		return grid.Errorf(grid.Invalid, "body", "is not valid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return grid.Errorf(grid.Invalid, typ.Field, "must be %s, not %s", typ.Type, typ.Value)
	case errors.As(err, &tooBig):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return grid.Errorf(grid.Invalid, "body", "ends before the JSON value does")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return grid.Errorf(grid.Invalid, strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
	}
	return grid.Errorf(grid.Invalid, "body", "%v", fmt.Sprint(err))
}

func itoa(n int) string { return strconv.Itoa(n) }
