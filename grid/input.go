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
	// Line is the 1-based source line (the household's first row) for error
	// reports; 0 when the input does not come from a file.
	Line int
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
	// Line is the 1-based source line of this person's row; 0 means the household's.
	Line int
}

// CaseInput is a case to load at a location.
type CaseInput struct {
	ExtID      string
	Kind       CaseKind
	ReportedAt time.Time
	OnsetAt    *time.Time
	Address    string
	Location   orb.Point
	// Line is the 1-based source line for error reports; 0 when not from a file.
	Line int
}

// LoadReport says what a load did.
type LoadReport struct {
	Inserted int        // rows written
	Skipped  int        // rows already present (same ExtID; for areas: same code, unchanged)
	Rejected []RowError // rows refused; a non-fatal report only where the format allows it

	Updated    int // areas already present (same code) whose geometry, name, parent or props changed
	Repaired   int // area geometries made valid with ST_MakeValid without changing their area
	Derived    int // parent areas created or re-computed as the union of their children
	Persons    int // persons written with the inserted households
	Unassigned int // inserted households or cases inside no area (area_id NULL)
}

// RowError is a rejected input row: Line is 1-based in the file (the header is line 1).
type RowError struct {
	Line   int
	Field  string
	Reason string
}
