package grid

import (
	"errors"
	"fmt"
)

// Kind classifies an error for its callers; only the api package maps kinds to HTTP
// status codes.
type Kind string

// The error kinds of the project.
const (
	Invalid      Kind = "invalid"
	Unauthorized Kind = "unauthorized"
	Forbidden    Kind = "forbidden"
	NotFound     Kind = "not_found"
	Conflict     Kind = "conflict"
	Unavailable  Kind = "unavailable"
	Internal     Kind = "internal"
)

// Error is a domain error with a message safe to show a user, the field it concerns
// (JSON name, CSV column or "line N"), and an optional cause kept for the logs.
type Error struct {
	Kind    Kind
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	s := string(e.Kind) + ": " + e.Message
	if e.Field != "" {
		s = string(e.Kind) + ": " + e.Field + ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a domain error of kind about field.
func Errorf(kind Kind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf is the kind of the first domain error in err's chain, Internal otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
