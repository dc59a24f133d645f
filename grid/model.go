package grid

import (
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// Level is a rung of the spatial hierarchy.
type Level string

// The levels, coarsest first.
const (
	District  Level = "district"
	Street    Level = "street"
	Community Level = "community"
	GridLevel Level = "grid"
)

// Levels lists the hierarchy from coarsest to finest.
var Levels = []Level{District, Street, Community, GridLevel}

// ParseLevel checks a level name.
func ParseLevel(s string) (Level, error) {
	for _, l := range Levels {
		if string(l) == s {
			return l, nil
		}
	}
	return "", Errorf(Invalid, "level", "%q is not one of district, street, community, grid", s)
}

// Depth is the level's rank: 0 for district up to 3 for grid.
func (l Level) Depth() int {
	for i, x := range Levels {
		if x == l {
			return i
		}
	}
	return -1
}

// Area is a district, street, community or grid polygon in the hierarchy.
type Area struct {
	ID        int64
	ParentID  int64 // 0 for a district
	Level     Level
	Name      string
	Code      string // stable import key, e.g. "浦东新区/万祥镇"
	Ancestors []int64
	Props     map[string]any
	Geom      orb.MultiPolygon
}

// Household is one dwelling at a point, assigned to the finest area containing it.
type Household struct {
	ID       int64
	AreaID   int64 // 0 when no area contains it
	ExtID    string
	Address  string
	Building string
	Unit     string
	Location orb.Point
	H3R8     geo.Cell
	H3R12    geo.Cell
	Flags    []string
	Version  int
	Persons  []Person
}

// Vulnerability flags a person whom grid workers must look after first.
type Vulnerability string

// The vulnerability flags of DOMAIN.md.
const (
	ElderlyAlone    Vulnerability = "elderly_alone"
	Disabled        Vulnerability = "disabled"
	LeftBehindChild Vulnerability = "left_behind_child"
	SeverelyIll     Vulnerability = "severely_ill"
	LowIncome       Vulnerability = "low_income"
	Bedridden       Vulnerability = "bedridden"
	Pregnant        Vulnerability = "pregnant"
)

// Vulnerabilities lists every valid flag.
var Vulnerabilities = []Vulnerability{ElderlyAlone, Disabled, LeftBehindChild, SeverelyIll, LowIncome, Bedridden, Pregnant}

// PersonStatuses lists the valid person statuses.
var PersonStatuses = []string{"normal", "health_monitoring", "home_isolation", "central_isolation",
	"close_contact", "secondary_contact", "confirmed", "asymptomatic", "recovered", "deceased"}

// Person is a resident of a household.
type Person struct {
	ID            int64
	HouseholdID   int64
	Name          string
	IDNumber      string
	Phone         string
	BirthDate     *time.Time
	Sex           string // "", "M" or "F"
	Status        string
	Vulnerability []Vulnerability
	HealthCode    string
	Version       int
}

// CaseKind is how a case was classified.
type CaseKind string

// The case kinds.
const (
	Confirmed    CaseKind = "confirmed"
	Asymptomatic CaseKind = "asymptomatic"
	Suspected    CaseKind = "suspected"
)

// Case is a reported infection at a location (a household's or a free address).
type Case struct {
	ID          int64
	ExtID       string
	PersonID    int64
	HouseholdID int64
	Kind        CaseKind
	ReportedAt  time.Time
	OnsetAt     *time.Time
	Address     string
	AreaID      int64
	Location    orb.Point
	H3R8        geo.Cell
	H3R12       geo.Cell
}

// Role is what a user does; it decides which data they may see unmasked.
type Role string

// The roles.
const (
	Admin      Role = "admin"
	Commander  Role = "commander"
	GridWorker Role = "grid_worker"
	Sampler    Role = "sampler"
	Tracer     Role = "tracer"
	Viewer     Role = "viewer"
)

// Roles lists every role.
var Roles = []Role{Admin, Commander, GridWorker, Sampler, Tracer, Viewer}

// User is an account with a role and a jurisdiction (the areas it may see, with
// everything below them).
type User struct {
	ID      int64
	Name    string
	Role    Role
	AreaIDs []int64
}
