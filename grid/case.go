package grid

import (
	"context"
	"fmt"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// CaseFilter selects cases; zero fields do not filter.
type CaseFilter struct {
	Area int64      // cases in this area or below it
	BBox *orb.Bound // cases inside the box
	From *time.Time // reported at or after
	To   *time.Time // reported before
	Kind CaseKind
	Page Page
}

// CasePage is one page of cases, ordered by report time then id, and the number
// matching.
type CasePage struct {
	Cases []Case
	Total int
	Page  Page
}

// ParseCaseKind checks a case kind.
func ParseCaseKind(s string) (CaseKind, error) {
	switch k := CaseKind(s); k {
	case Confirmed, Asymptomatic, Suspected:
		return k, nil
	}
	return "", Errorf(Invalid, "kind", "%q is not one of confirmed, asymptomatic, suspected", s)
}

// ListCases lists the cases visible to u (a case with no area only to admin),
// oldest report first. An Area outside the jurisdiction is NotFound (field "area");
// From after To is Invalid. A restricted role gets each case without address,
// person or household and placed at its H3 cell's centre (see anonCase).
func (s *Store) ListCases(ctx context.Context, u User, f CaseFilter) (CasePage, error) {
	page, err := f.Page.normalize(DefaultLimit)
	if err != nil {
		return CasePage{}, err
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return CasePage{}, Errorf(Invalid, "to", "must be after from")
	}
	if f.Kind != "" {
		if _, err := ParseCaseKind(string(f.Kind)); err != nil {
			return CasePage{}, err
		}
	}
	if f.Area != 0 {
		if _, err := s.GetArea(ctx, u, f.Area); err != nil {
			if KindOf(err) == NotFound {
				err = Errorf(NotFound, "area", "area %d not found", f.Area)
			}
			return CasePage{}, err
		}
	}
	var w where
	w.visibleAreaCol(u, "c.area_id")
	if f.Area != 0 {
		w.underArea("c.area_id", f.Area)
	}
	if f.BBox != nil {
		w.inBBox("c.geom", *f.BBox)
	}
	if f.From != nil {
		w.add("c.reported_at >= ?", *f.From)
	}
	if f.To != nil {
		w.add("c.reported_at < ?", *f.To)
	}
	if f.Kind != "" {
		w.add("c.kind = ?", string(f.Kind))
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, COALESCE(c.ext_id, ''), COALESCE(c.person_id, 0), COALESCE(c.household_id, 0),
		       c.kind, c.reported_at, c.onset_at, c.address, COALESCE(c.area_id, 0),
		       ST_X(c.geom), ST_Y(c.geom), c.h3_r8, c.h3_r12, COUNT(*) OVER()
		FROM cases c`+w.sql()+` ORDER BY c.reported_at, c.id`+page.sql(), w.args...)
	if err != nil {
		return CasePage{}, dbError("list cases", err)
	}
	defer rows.Close()
	out := CasePage{Cases: []Case{}, Page: page}
	restricted, priv := Restricted(u), s.LocationPrivacy()
	for rows.Next() {
		var c Case
		var kind string
		var lng, lat float64
		var r8, r12 int64
		if err := rows.Scan(&c.ID, &c.ExtID, &c.PersonID, &c.HouseholdID, &kind, &c.ReportedAt, &c.OnsetAt,
			&c.Address, &c.AreaID, &lng, &lat, &r8, &r12, &out.Total); err != nil {
			return CasePage{}, dbError("scan case", err)
		}
		c.Kind = CaseKind(kind)
		c.Location = orb.Point{lng, lat}
		c.H3R8, c.H3R12 = geo.Cell(r8), geo.Cell(r12)
		if restricted {
			if c, err = anonCase(c, priv); err != nil {
				return CasePage{}, err
			}
		}
		out.Cases = append(out.Cases, c)
	}
	if err := rows.Err(); err != nil {
		return CasePage{}, dbError("list cases", err)
	}
	if len(out.Cases) == 0 && page.Offset > 0 {
		if out.Total, err = s.recount(ctx, "cases c", &w); err != nil {
			return CasePage{}, err
		}
	}
	return out, nil
}

// anonCase is a case as a restricted role sees it (LocationPrivacy): kind, dates and
// area, placed at the centre of its H3 cell at MaxRes, without the address, the
// import id or the person and household it belongs to, which together with the
// household list would name the household of a case.
func anonCase(c Case, p LocationPrivacy) (Case, error) {
	at, err := anonPoint(c.Location, p)
	if err != nil {
		return c, fmt.Errorf("case %d: %w", c.ID, err)
	}
	c.Address, c.ExtID, c.PersonID, c.HouseholdID = "", "", 0, 0
	c.Location, c.H3R12 = at, 0
	return c, nil
}
