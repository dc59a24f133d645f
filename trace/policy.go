package trace

import (
	"errors"
	"fmt"
	"time"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/copresence"
)

// Policy is the set of flow-tracing thresholds in force. Every value is data, never a
// constant in code: a stored policy is versioned, and every contact records the rule
// (Version plus parameters) that produced it.
type Policy struct {
	// Version names this set of values; change it whenever a value changes.
	Version string

	// DistanceM is the close-contact distance in metres: two pings within it (and
	// within Tolerance in time) are co-located.
	DistanceM float64
	// Tolerance is the greatest time gap between two co-located pings; it also joins
	// exposed minutes into one encounter when they are at most this far apart.
	Tolerance time.Duration
	// MinDuration is the least total exposure (in whole exposed minutes) that makes
	// a close contact.
	MinDuration time.Duration
	// LookBack is how long before the case's onset (or sampling, when
	// asymptomatic) the case's pings are searched.
	LookBack time.Duration
	// Depth is how far contacts are traced: 1 close contacts, 2 also their contacts.
	Depth int

	// CompanionRes is the H3 resolution of the spatiotemporal-companion cell.
	CompanionRes int
	// CompanionMin is the time in the same cell that must be exceeded.
	CompanionMin time.Duration
	// CompanionLookBack is how far back companions are searched.
	CompanionLookBack time.Duration

	// StayRadiusM is the radius in metres within which a person must remain for a
	// stay point, and StayMin how long.
	StayRadiusM float64
	StayMin     time.Duration

	// MaxWindow is the longest look-back window a tracing run may search: the whole
	// incubation period, beyond which a meeting cannot explain an infection.
	MaxWindow time.Duration
	// PingRes is the H3 resolution of the cell stored with every ping, the key of the
	// store's co-presence candidate search. Cells must be at least as coarse as the
	// search needs (an average edge of twice the contact distance) for a probe of the
	// 7 neighbouring cells to be exact; coarser searches use ranges of these cells.
	// Stored pings keep the resolution they were loaded with: changing it means
	// reloading them.
	PingRes int
}

// DefaultPolicy returns the values in public use, each with its source:
//   - DistanceM 20 m, Tolerance 5 min, MinDuration 15 min: the defaults of issue 5.
//     15 minutes is the cumulative exposure of the WHO and ECDC close-contact
//     definitions; 20 m and ±5 min turn "face to face" into something phone
//     positioning can observe (consumer GPS is good to 5–20 m in a city, and phone
//     location records are minutes apart).
//   - LookBack 48 h: China's COVID-19 prevention and control protocol (editions 8 and
//     9) traces close contacts from 2 days before symptom onset, or before sampling
//     for asymptomatic cases (DOMAIN.md, "Tracing rules in public use").
//   - Depth 2: close contacts (密接) and contacts of close contacts (次密接).
//   - CompanionRes 8, CompanionMin 10 min, CompanionLookBack 14 days: the published
//     spatiotemporal-companion rule (时空伴随者): the same 800 m × 800 m cell as a
//     case for more than 10 minutes within 14 days; an H3 resolution-8 cell is
//     0.74 km² on average, the area of that square.
//   - StayRadiusM 200, StayMin 30 min: the stay-point thresholds of Li et al. (ACM GIS
//     2008) on GeoLife.
//   - MaxWindow 14 days: the incubation period the protocols isolate for, and the
//     "within 14 days" of the companion rule.
//   - PingRes 10 (average edge 76 m): the cell the close-contact search picks for
//     the default 20 m (and any distance up to 37 m), so the default search reads
//     one (h3, ts) index range per probed cell.
func DefaultPolicy() Policy {
	return Policy{
		Version:           "2026.1",
		DistanceM:         20,
		Tolerance:         5 * time.Minute,
		MinDuration:       15 * time.Minute,
		LookBack:          48 * time.Hour,
		Depth:             2,
		CompanionRes:      8,
		CompanionMin:      10 * time.Minute,
		CompanionLookBack: 14 * 24 * time.Hour,
		StayRadiusM:       200,
		StayMin:           30 * time.Minute,
		MaxWindow:         14 * 24 * time.Hour,
		PingRes:           10,
	}
}

// ContactRule is the close-contact rule of the policy.
func (p Policy) ContactRule() copresence.Rule {
	return copresence.Rule{Version: p.Version, DistanceM: p.DistanceM, Tolerance: p.Tolerance, MinDuration: p.MinDuration}
}

// CompanionRule is the spatiotemporal-companion rule of the policy; it shares the
// close-contact time tolerance.
func (p Policy) CompanionRule() copresence.CompanionRule {
	return copresence.CompanionRule{Version: p.Version, Res: p.CompanionRes, Tolerance: p.Tolerance, MinDuration: p.CompanionMin}
}

// Validate reports every value out of range, joined, each naming its field.
func (p Policy) Validate() error {
	var errs []error
	if p.Version == "" {
		errs = append(errs, errors.New("version: must not be empty"))
	}
	if err := p.ContactRule().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.CompanionRule().Validate(); err != nil {
		errs = append(errs, err)
	}
	if p.LookBack < 0 || p.CompanionLookBack < 0 {
		errs = append(errs, fmt.Errorf("look-back %s / companion look-back %s: must not be negative", p.LookBack, p.CompanionLookBack))
	}
	if p.Depth < 1 || p.Depth > 2 {
		errs = append(errs, fmt.Errorf("depth %d: want 1 or 2", p.Depth))
	}
	if p.MaxWindow <= 0 {
		errs = append(errs, fmt.Errorf("max window %s: must be positive", p.MaxWindow))
	}
	if p.PingRes < 0 || p.PingRes > geo.MaxRes {
		errs = append(errs, fmt.Errorf("ping H3 resolution %d: want 0–%d", p.PingRes, geo.MaxRes))
	}
	if !(p.StayRadiusM > 0) || p.StayMin < 0 {
		errs = append(errs, fmt.Errorf("stay radius %g m / minimum %s: want a positive radius and a non-negative time", p.StayRadiusM, p.StayMin))
	}
	return errors.Join(errs...)
}

// StayRule describes the stay rule of the policy as recorded with stored stays, e.g.
// "2026.1 stay radius=200m min=30m0s".
func (p Policy) StayRule() string {
	return fmt.Sprintf("%s stay radius=%gm min=%s", p.Version, p.StayRadiusM, p.StayMin)
}
