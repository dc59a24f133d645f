package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
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
	case errors.As(err, &typ) && typ.Field == "":
		// The body itself has the wrong shape (an array for an object): don't show
		// the Go type's name.
		return grid.Errorf(grid.Invalid, "body", "must be a JSON object, not %s", typ.Value)
	case errors.As(err, &typ):
		return grid.Errorf(grid.Invalid, typ.Field, "must be %s, not %s", jsonType(typ.Type.Kind()), typ.Value)
	case errors.As(err, &tooBig):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return grid.Errorf(grid.Invalid, "body", "ends before the JSON value does")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return grid.Errorf(grid.Invalid, strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
	}
	return grid.Errorf(grid.Invalid, "body", "%v", fmt.Sprint(err))
}

// jsonType names a Go kind as the JSON type a client must send.
func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return "another type"
}

func itoa(n int) string { return strconv.Itoa(n) }
