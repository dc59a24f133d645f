package grid

import (
	"fmt"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// LocationPrivacy bounds what maps show to a role without personal access (a
// viewer): no single household may be picked out of a heat map or a tile. It is
// policy, set by the server's flags.
type LocationPrivacy struct {
	// MinHouseholds is k of k-anonymity: an H3 cell or a household/case cluster is
	// shown only when it holds at least this many households (cases for the case
	// layer); smaller ones are withheld, not rounded. 5 follows the common small-cell
	// rule of public-health statistics (counts under 5 are suppressed).
	MinHouseholds int
	// MaxRes is the finest H3 resolution served: 9 (about 0.1 km², a block of
	// buildings); 10 and finer (a single compound or building) are coarsened to it.
	MaxRes int
}

// DefaultLocationPrivacy is k = 5 households and H3 resolution 9 at the finest.
func DefaultLocationPrivacy() LocationPrivacy { return LocationPrivacy{MinHouseholds: 5, MaxRes: 9} }

// Validate checks the policy: k of at least 1, MaxRes between MinH3Res and MaxH3Res.
func (p LocationPrivacy) Validate() error {
	if p.MinHouseholds < 1 {
		return Errorf(Invalid, "min_households", "must be at least 1")
	}
	if p.MaxRes < MinH3Res || p.MaxRes > MaxH3Res {
		return Errorf(Invalid, "max_res", "must be between %d and %d", MinH3Res, MaxH3Res)
	}
	return nil
}

// Restricted reports whether u sees no personal field in clear (Unmasked shows
// nothing), so maps shown to u follow LocationPrivacy.
func Restricted(u User) bool { return !Unmasked(u.Role).Any() }

// locationPrivacy holds the store's policy; nil means DefaultLocationPrivacy.
type locationPrivacy = atomic.Pointer[LocationPrivacy]

// SetLocationPrivacy sets the policy of the store's maps for restricted roles.
func (s *Store) SetLocationPrivacy(p LocationPrivacy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.privacy.Store(&p)
	return nil
}

// LocationPrivacy is the store's policy for restricted roles.
func (s *Store) LocationPrivacy() LocationPrivacy {
	if p := s.privacy.Load(); p != nil {
		return *p
	}
	return DefaultLocationPrivacy()
}

// anonPoint is where a restricted role sees a household or a case: the centre of
// its H3 cell at MaxRes, the same cells the tiles and counts use, so a list cannot
// place a household more finely than the map may.
func anonPoint(at orb.Point, p LocationPrivacy) (orb.Point, error) {
	cell, err := geo.CellOf(at, p.MaxRes)
	if err != nil {
		return at, fmt.Errorf("cell: %w", err)
	}
	return cell.Center()
}

// MaskAddress keeps an address up to its first number (the road or the compound)
// and stars the rest, so the house number, building and room are hidden:
// 上海市浦东新区张江路88弄3号 → 上海市浦东新区张江路**. An address without a
// number is starred whole but for its first rune, like a name.
func MaskAddress(s string) string {
	i := strings.IndexFunc(s, unicode.IsDigit)
	if i <= 0 {
		return MaskName(s)
	}
	return strings.TrimSpace(s[:i]) + "**"
}

// anonHousehold is a household as a restricted role sees it: at its cell centre
// (anonPoint), the address cut by MaskAddress, without building, unit, import id
// or finest cell. Residents are masked by the caller's MaskPolicy as before.
func anonHousehold(h Household, p LocationPrivacy) (Household, error) {
	at, err := anonPoint(h.Location, p)
	if err != nil {
		return h, fmt.Errorf("household %d: %w", h.ID, err)
	}
	h.Location, h.H3R12 = at, 0
	h.Address, h.Building, h.Unit, h.ExtID = MaskAddress(h.Address), "", "", ""
	return h, nil
}

// CoarseBound is b as a restricted role may learn it (a live change's box): grown to
// the H3 cells at MaxRes that hold its corners, so the box of one household's change
// tells no more than the cell the map shows it in, and a viewer cannot narrow it down
// by moving a small viewport around.
func (p LocationPrivacy) CoarseBound(b orb.Bound) (orb.Bound, error) {
	out := b
	for _, corner := range []orb.Point{b.Min, b.Max} {
		cell, err := geo.CellOf(corner, p.MaxRes)
		if err != nil {
			return b, fmt.Errorf("cell of %v: %w", corner, err)
		}
		poly, err := cell.Polygon()
		if err != nil {
			return b, fmt.Errorf("cell %s: %w", cell, err)
		}
		out = out.Union(poly.Bound())
	}
	return out, nil
}

// placeFor is where u may see a place named by an address and a point: as stored
// for a role with personal access; for a restricted one the address cut by
// MaskAddress and the point moved to its cell centre (anonPoint). Lists of people
// (isolations, the vulnerable, alerts) use it, so a viewer learns from them no more
// than from the map.
func (s *Store) placeFor(u User, addr *string, at *orb.Point) error {
	if !Restricted(u) {
		return nil
	}
	if addr != nil {
		*addr = MaskAddress(*addr)
	}
	p, err := anonPoint(*at, s.LocationPrivacy())
	if err != nil {
		return err
	}
	*at = p
	return nil
}
