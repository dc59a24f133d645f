package grid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gridtrace/gridtrace/grid/zoning"
)

// ZonePolicy says how zones are proposed from cases and when they may be lifted.
// Every epidemic threshold of zoning is a field here, never a constant in code; the
// policy is stored with a version (zone_policies), edited by admin, and every
// computed zone records the version it was computed under. JSON names are the API's.
type ZonePolicy struct {
	// Res is the H3 resolution of every zone cell: zones are sets of cells of one
	// resolution, so a stronger zone is cut out of a weaker one exactly and a
	// household is classified by its cell.
	Res        int            `json:"res"`
	Sealed     ZoneRule       `json:"sealed"`
	Control    ZoneRule       `json:"control"`
	Precaution ZoneRule       `json:"precaution"`
	Escalation ZoneEscalation `json:"escalation"`
	Lifting    ZoneLifting    `json:"lifting"`
}

// ZoneRule is the footprint of one zone kind around each case.
type ZoneRule struct {
	// Mode is "ring" (the H3 disk of RingK steps around the case's cell), "metres"
	// (cells whose centre lies within DistanceM of the case point) or, for
	// precaution only, "area" (the cells of the AreaLevel area containing the case).
	Mode      string  `json:"mode"`
	RingK     int     `json:"ring_k"`               // ring mode, and area mode for a case in no area: steps
	DistanceM float64 `json:"distance_m"`           // metres mode: radius in metres
	AreaLevel Level   `json:"area_level,omitempty"` // area mode: street or community
}

// ZoneEscalation holds the escalation rules of DOMAIN.md ("Escalation in a
// community"). A computed zone records the level its cases reach.
type ZoneEscalation struct {
	// SealMinCases is how many cases one epidemic point (one family, site or
	// building unit; a case without one is a point of its own) needs before it is
	// sealed.
	SealMinCases int `json:"seal_min_cases"`
	// ClusterMinCases cases at one point make a cluster (manage contacts strictly).
	ClusterMinCases int `json:"cluster_min_cases"`
	// CommunityMinCases cases of unknown source within CommunityWindowDays days in
	// one zone make community transmission (stop gatherings, close venues).
	CommunityMinCases   int `json:"community_min_cases"`
	CommunityWindowDays int `json:"community_window_days"`
}

// ZoneLifting holds the lifting rules: a zone steps down (sealed → control →
// precaution → lifted) after DaysWithoutCase days without a new case inside, counted
// from the later of the last case and the zone's last step, and, when
// RequireNegativeRound is set, a negative sampling round of everyone inside.
type ZoneLifting struct {
	DaysWithoutCase int `json:"days_without_case"`
	// RequireNegativeRound: the conditions hold only once a closed sampling round
	// covering the zone came back negative with nobody inside missing (see
	// negativeRounds); until then zones show "waiting for a negative round" and
	// lifting needs force with a reason.
	RequireNegativeRound bool `json:"require_negative_round"`
	// UTCOffsetMinutes fixes the local day the days are counted in.
	UTCOffsetMinutes int `json:"utc_offset_minutes"`
}

// Zone rule modes.
const (
	ModeRing   = "ring"
	ModeMetres = "metres"
	ModeArea   = "area"
)

// DefaultZonePolicy is the policy shipped with the server, stored as version 1 the
// first time a policy is needed. Sources (DOMAIN.md, "Zones and their rules"):
//   - Res 11: cells of about 2,150 m² (edge about 29 m, neighbouring centres about
//     50 m apart): rings measure distance in 50 m steps, and all 3,658 located
//     Shanghai cases of 2022-04-04 fit in about a million cells.
//   - Sealed, ring 1 (7 cells, about 1.5 ha, 150 m across): "usually the case's
//     building or compound". Households are points, there are no building outlines,
//     and published case addresses name a lane or compound (白杨路1065弄) geocoded to
//     a point on its road, so the case's cell alone (about 58 m across) would often
//     miss the buildings; its first ring covers a compound-sized block around it.
//   - Control, ring 6 (about 300 m around the case cell): "the surroundings of
//     sealed zones", the neighbouring blocks.
//   - Precaution, ring 20 (about 1 km): "the rest of the street or town"; an urban
//     Shanghai street is 2–3 km across. Mode "area" with area_level "street" takes
//     the literal street instead (suburban towns are far larger than a ring).
//   - Escalation: one case seals its point; "two or more cases in one family, one
//     work site or one building unit" make a cluster; "two or more cases of unknown
//     source within 14 days" make community transmission.
//   - Lifting: "commonly 7 days per step", and "a negative round of sampling of
//     everyone inside" is required; days are counted in China Standard Time (UTC+8).
func DefaultZonePolicy() ZonePolicy {
	return ZonePolicy{
		Res:        11,
		Sealed:     ZoneRule{Mode: ModeRing, RingK: 1},
		Control:    ZoneRule{Mode: ModeRing, RingK: 6},
		Precaution: ZoneRule{Mode: ModeRing, RingK: 20},
		Escalation: ZoneEscalation{SealMinCases: 1, ClusterMinCases: 2, CommunityMinCases: 2, CommunityWindowDays: 14},
		Lifting:    ZoneLifting{DaysWithoutCase: 7, RequireNegativeRound: true, UTCOffsetMinutes: 8 * 60},
	}
}

// Bounds of a policy: wide enough for any plan in the seeds, narrow enough that one
// proposal stays within memory (zoning.DefaultMaxCells bounds it in the end).
const (
	minZoneRes       = 7  // cells of about 5 km²
	maxZoneRes       = 13 // cells of about 44 m²
	maxZoneRingK     = 60
	maxZoneDistanceM = 5000
	maxZoneDays      = 60
)

// Validate checks p; errors are Invalid and name the JSON field (policy.res,
// policy.control.ring_k, ...).
func (p ZonePolicy) Validate() error {
	bad := func(field, format string, args ...any) error {
		return Errorf(Invalid, "policy."+field, format, args...)
	}
	if p.Res < minZoneRes || p.Res > maxZoneRes {
		return bad("res", "must be between %d and %d", minZoneRes, maxZoneRes)
	}
	rules := []struct {
		name string
		r    ZoneRule
	}{{"sealed", p.Sealed}, {"control", p.Control}, {"precaution", p.Precaution}}
	for _, x := range rules {
		switch x.r.Mode {
		case ModeRing, ModeArea:
			if x.r.Mode == ModeArea && x.name != "precaution" {
				return bad(x.name+".mode", "area is for precaution only; use ring or metres")
			}
			if x.r.RingK < 0 || x.r.RingK > maxZoneRingK {
				return bad(x.name+".ring_k", "must be between 0 and %d", maxZoneRingK)
			}
		case ModeMetres:
			if !(x.r.DistanceM > 0 && x.r.DistanceM <= maxZoneDistanceM) {
				return bad(x.name+".distance_m", "must be more than 0 and at most %d metres", maxZoneDistanceM)
			}
		default:
			return bad(x.name+".mode", "%q is not ring, metres or area", x.r.Mode)
		}
		if x.r.Mode == ModeArea {
			if x.r.AreaLevel != Street && x.r.AreaLevel != Community {
				return bad(x.name+".area_level", "must be street or community in area mode")
			}
		} else if x.r.AreaLevel != "" {
			return bad(x.name+".area_level", "is for area mode only")
		}
	}
	// A weaker zone must reach beyond a stronger one, or the cut leaves it empty.
	for i := 1; i < len(rules); i++ {
		in, out := rules[i-1], rules[i]
		if in.r.Mode == ModeRing && out.r.Mode == ModeRing && out.r.RingK <= in.r.RingK {
			return bad(out.name+".ring_k", "must be larger than %s.ring_k (%d)", in.name, in.r.RingK)
		}
		if in.r.Mode == ModeMetres && out.r.Mode == ModeMetres && out.r.DistanceM <= in.r.DistanceM {
			return bad(out.name+".distance_m", "must be larger than %s.distance_m (%g)", in.name, in.r.DistanceM)
		}
	}
	e := p.Escalation
	switch {
	case e.SealMinCases < 1 || e.SealMinCases > 100:
		return bad("escalation.seal_min_cases", "must be between 1 and 100")
	case e.ClusterMinCases < 2 || e.ClusterMinCases > 100:
		return bad("escalation.cluster_min_cases", "must be between 2 and 100")
	case e.CommunityMinCases < 2 || e.CommunityMinCases > 100:
		return bad("escalation.community_min_cases", "must be between 2 and 100")
	case e.CommunityWindowDays < 1 || e.CommunityWindowDays > maxZoneDays:
		return bad("escalation.community_window_days", "must be between 1 and %d", maxZoneDays)
	}
	l := p.Lifting
	switch {
	case l.DaysWithoutCase < 1 || l.DaysWithoutCase > maxZoneDays:
		return bad("lifting.days_without_case", "must be between 1 and %d", maxZoneDays)
	case l.UTCOffsetMinutes < -12*60 || l.UTCOffsetMinutes > 14*60:
		return bad("lifting.utc_offset_minutes", "must be between -720 and 840")
	}
	return nil
}

// Zoning is the policy as the pure proposal needs it.
func (p ZonePolicy) Zoning() zoning.Policy {
	rule := func(r ZoneRule) zoning.Rule {
		return zoning.Rule{Mode: zoning.Mode(r.Mode), RingK: r.RingK, DistanceM: r.DistanceM}
	}
	return zoning.Policy{
		Res: p.Res, Sealed: rule(p.Sealed), Control: rule(p.Control), Precaution: rule(p.Precaution),
		SealMinCases:      p.Escalation.SealMinCases,
		ClusterMinCases:   p.Escalation.ClusterMinCases,
		CommunityMinCases: p.Escalation.CommunityMinCases,
		CommunityWindow:   time.Duration(p.Escalation.CommunityWindowDays) * 24 * time.Hour,
	}
}

// StoredZonePolicy is one version of the policy.
type StoredZonePolicy struct {
	Version   int
	Policy    ZonePolicy
	CreatedBy int64 // 0 for the shipped default
	CreatedAt time.Time
}

// ZonePolicyWriters are the roles that may change the zone policy.
func ZonePolicyWriters() []Role { return []Role{Admin} }

// CurrentZonePolicy returns the newest stored policy, storing DefaultZonePolicy as
// version 1 when none is stored yet.
func (s *Store) CurrentZonePolicy(ctx context.Context) (StoredZonePolicy, error) {
	var out StoredZonePolicy
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = currentZonePolicy(ctx, tx)
		return err
	})
	return out, err
}

// UpdateZonePolicy stores p as the next version when base is still the current
// version (optimistic concurrency: Conflict naming the current version otherwise).
// Admin only (Forbidden). p is validated (Invalid, field policy.…). The change is
// written to the audit log; zones already computed keep the version they recorded.
func (s *Store) UpdateZonePolicy(ctx context.Context, c Caller, base int, p ZonePolicy) (StoredZonePolicy, error) {
	if c.User.Role != Admin {
		return StoredZonePolicy{}, Errorf(Forbidden, "", "role %s may not change the zone policy", c.User.Role)
	}
	if base < 1 {
		return StoredZonePolicy{}, Errorf(Invalid, "version", "is required: the policy version you edit")
	}
	if err := p.Validate(); err != nil {
		return StoredZonePolicy{}, err
	}
	var out StoredZonePolicy
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := currentZonePolicy(ctx, tx)
		if err != nil {
			return err
		}
		if cur.Version != base {
			return Errorf(Conflict, "version", "the zone policy was changed since version %d; the current version is %d: reload and retry", base, cur.Version)
		}
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode zone policy: %w", err)
		}
		out = StoredZonePolicy{Version: cur.Version + 1, Policy: p, CreatedBy: c.User.ID}
		err = tx.QueryRow(ctx, `
			INSERT INTO zone_policies (version, body, created_by) VALUES ($1, $2, NULLIF($3::bigint, 0))
			RETURNING created_at`, out.Version, body, c.User.ID).Scan(&out.CreatedAt)
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return &Error{Kind: Conflict, Field: "version", Err: err,
					Message: fmt.Sprintf("the zone policy was changed concurrently; version %d exists: reload and retry", out.Version)}
			}
			return dbError("insert zone policy", err)
		}
		return appendAudit(ctx, tx, c, "write_zone_policy", "zone_policy", int64(out.Version), map[string]any{"version": out.Version})
	})
	return out, err
}

// currentZonePolicy reads the newest policy in tx, seeding the default. Stored
// bodies are decoded over the default, so a field added to ZonePolicy later takes its
// default in older versions.
func currentZonePolicy(ctx context.Context, tx pgx.Tx) (StoredZonePolicy, error) {
	for range 2 {
		var out StoredZonePolicy
		var body []byte
		var by *int64
		err := tx.QueryRow(ctx, `SELECT version, body, created_by, created_at FROM zone_policies
			ORDER BY version DESC LIMIT 1`).Scan(&out.Version, &body, &by, &out.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			def, err := json.Marshal(DefaultZonePolicy())
			if err != nil {
				return out, fmt.Errorf("encode default zone policy: %w", err)
			}
			// Two first requests may race to seed: the loser's insert does nothing.
			if _, err := tx.Exec(ctx, `INSERT INTO zone_policies (version, body) VALUES (1, $1) ON CONFLICT (version) DO NOTHING`, def); err != nil {
				return out, dbError("seed zone policy", err)
			}
			continue
		}
		if err != nil {
			return out, dbError("read zone policy", err)
		}
		out.Policy = DefaultZonePolicy()
		if err := json.Unmarshal(body, &out.Policy); err != nil {
			return out, fmt.Errorf("decode zone policy %d: %w", out.Version, err)
		}
		if by != nil {
			out.CreatedBy = *by
		}
		return out, nil
	}
	return StoredZonePolicy{}, fmt.Errorf("zone policy: seeded but not found")
}
