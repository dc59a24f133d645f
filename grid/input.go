package grid

import (
	"time"

	"github.com/paulmach/orb"
)

// HouseholdInput is a household to load (by import or demo), with its residents.
type HouseholdInput struct {
	ExtID    string // stable key: re-loading the same ExtID is skipped, not duplicated
	Address  string
	Building string
	Unit     string
	Location orb.Point
	Flags    []string
	Persons  []PersonInput
}

// PersonInput is a resident to load with a household.
type PersonInput struct {
	Name          string
	IDNumber      string
	Phone         string
	BirthDate     *time.Time
	Sex           string
	Status        string // empty means normal
	Vulnerability []Vulnerability
}

// CaseInput is a case to load at a location.
type CaseInput struct {
	ExtID      string
	Kind       CaseKind
	ReportedAt time.Time
	OnsetAt    *time.Time
	Address    string
	Location   orb.Point
}

// LoadReport says what a load did.
type LoadReport struct {
	Inserted int        // rows written
	Skipped  int        // rows already present (same ExtID)
	Rejected []RowError // rows refused; a non-fatal report only where the format allows it
}

// RowError is a rejected input row: Line is 1-based in the file (the header is line 1).
type RowError struct {
	Line   int
	Field  string
	Reason string
}
