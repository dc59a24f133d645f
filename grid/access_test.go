package grid

import (
	"errors"
	"reflect"
	"testing"
)

func TestWherePlaceholders(t *testing.T) {
	var w where
	w.add("a = ?", 1)
	lim := w.arg(10)
	w.add("b BETWEEN ? AND ?", 2, 3)
	w.add("c <> '{}'")
	if got, want := w.sql(), " WHERE a = $1 AND b BETWEEN $3 AND $4 AND c <> '{}'"; got != want {
		t.Fatalf("sql %q, want %q", got, want)
	}
	if lim != "$2" || !reflect.DeepEqual(w.args, []any{1, 10, 2, 3}) {
		t.Fatalf("arg %s, args %v", lim, w.args)
	}
	var empty where
	if empty.sql() != "" {
		t.Fatal("empty where is not empty")
	}
}

func TestPageNormalize(t *testing.T) {
	for _, tc := range []struct {
		in    Page
		want  Page
		field string
	}{
		{Page{}, Page{Limit: 100}, ""},
		{Page{Limit: 1000, Offset: 5}, Page{Limit: 1000, Offset: 5}, ""},
		{Page{Limit: 1001}, Page{}, "limit"},
		{Page{Limit: -1}, Page{}, "limit"},
		{Page{Limit: 10, Offset: -1}, Page{}, "offset"},
	} {
		got, err := tc.in.normalize(DefaultLimit)
		if tc.field != "" {
			var e *Error
			if !errors.As(err, &e) || e.Kind != Invalid || e.Field != tc.field {
				t.Errorf("normalize(%+v) = %v, want Invalid %s", tc.in, err, tc.field)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalize(%+v) = %+v, %v", tc.in, got, err)
		}
	}
}
