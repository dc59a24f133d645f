package grid

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// Who is inside a zone. A household is inside when its point intersects the zone's
// geometry (a point on the edge counts, as for areas); only households in the
// caller's jurisdiction are listed or counted, and residents are masked and their
// reads audited exactly as the household list does (household.go), by calling its
// helpers.

// VulnerablePriority is the order in which vulnerable people come first in zone
// lists: DOMAIN.md names the elderly living alone, the disabled and children left
// alone as those to contact and supply first; other flags follow, then everyone else.
func VulnerablePriority() []Vulnerability {
	return []Vulnerability{ElderlyAlone, Disabled, LeftBehindChild}
}

// insideZone adds the condition that household "h" lies inside zone id. The zone's
// geometry comes from an uncorrelated subquery, evaluated once, so the households'
// GiST index answers the intersection.
func (w *where) insideZone(id int64) {
	w.add("ST_Intersects(h.geom, (SELECT geom FROM zones WHERE id = ?))", id)
}

// ListZoneHouseholds lists the households inside zone id visible to c.User, ordered
// by id, with their residents (masked per PersonPolicy and audited) when
// withPersons. NotFound when the zone does not reach into the jurisdiction.
func (s *Store) ListZoneHouseholds(ctx context.Context, c Caller, id int64, withPersons bool, p Page) (HouseholdPage, error) {
	page, err := p.normalize(DefaultLimit)
	if err != nil {
		return HouseholdPage{}, err
	}
	w := householdWhere(c.User, HouseholdFilter{})
	w.insideZone(id)
	out := HouseholdPage{Households: []HouseholdView{}, Page: page}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getZone(ctx, tx, c.User, id); err != nil {
			return err
		}
		hs, total, err := queryHouseholds(ctx, tx, householdSelect+w.sql()+" ORDER BY h.id"+page.sql(), w.args)
		if err != nil {
			return err
		}
		out.Total = total
		if withPersons {
			if err := loadPersons(ctx, tx, hs); err != nil {
				return err
			}
		}
		pol := PersonPolicy(c.User, true)
		for _, h := range hs {
			v, err := s.viewHousehold(h, pol)
			if err != nil {
				return err
			}
			out.Households = append(out.Households, v)
		}
		return auditPersonRead(ctx, tx, c, "zone", id, hs, pol)
	})
	if err != nil {
		return HouseholdPage{}, err
	}
	if len(out.Households) == 0 && page.Offset > 0 {
		if out.Total, err = s.recount(ctx, "households h", w); err != nil {
			return HouseholdPage{}, err
		}
	}
	return out, nil
}

// PersonInside is a resident of a household inside a zone, masked for its reader.
type PersonInside struct {
	Person
	Address  string
	Building string
	Unit     string
	AreaID   int64
	Location orb.Point
}

// ZoneSummary counts who is inside a zone and lists the vulnerable first.
type ZoneSummary struct {
	ZoneID          int64
	Households      int
	Persons         int
	ByStatus        map[string]int // persons per status, every status present (zero included)
	ByVulnerability map[string]int // persons per vulnerability flag, every flag present
	// Vulnerable lists vulnerable residents, VulnerablePriority first, then by
	// household and person id; at most MaxLimit of VulnerableTotal.
	Vulnerable      []PersonInside
	VulnerableTotal int
	Shown           MaskPolicy // which personal fields are in clear
}

// ZoneSummary counts the households and persons inside zone id visible to c.User
// and lists the vulnerable people, masked and audited. NotFound as ListZoneHouseholds.
func (s *Store) ZoneSummary(ctx context.Context, c Caller, id int64) (ZoneSummary, error) {
	out := ZoneSummary{ZoneID: id, ByStatus: map[string]int{}, ByVulnerability: map[string]int{}, Vulnerable: []PersonInside{}}
	for _, st := range PersonStatuses {
		out.ByStatus[st] = 0
	}
	for _, v := range Vulnerabilities {
		out.ByVulnerability[string(v)] = 0
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getZone(ctx, tx, c.User, id); err != nil {
			return err
		}
		w := householdWhere(c.User, HouseholdFilter{})
		w.insideZone(id)
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM households h`+w.sql(), w.args...).Scan(&out.Households); err != nil {
			return dbError("count households in zone", err)
		}
		rows, err := tx.Query(ctx, `
			SELECT 's', p.status, count(*) FROM persons p JOIN households h ON h.id = p.household_id`+w.sql()+`
			GROUP BY p.status
			UNION ALL
			SELECT 'v', v, count(*) FROM persons p JOIN households h ON h.id = p.household_id
			     CROSS JOIN unnest(p.vulnerability) v`+w.sql()+` GROUP BY v`, w.args...)
		if err != nil {
			return dbError("count persons in zone", err)
		}
		for rows.Next() {
			var what, key string
			var n int
			if err := rows.Scan(&what, &key, &n); err != nil {
				rows.Close()
				return dbError("count persons in zone", err)
			}
			if what == "s" {
				out.ByStatus[key] = n
				out.Persons += n
			} else {
				out.ByVulnerability[key] = n
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("count persons in zone", err)
		}
		ps, total, err := personsInside(ctx, tx, w, true, MaxLimit)
		if err != nil {
			return err
		}
		out.VulnerableTotal = total
		out.Shown = PersonPolicy(c.User, true)
		if out.Vulnerable, err = s.maskInside(ps, out.Shown); err != nil {
			return err
		}
		return auditInside(ctx, tx, c, id, ps, out.Shown)
	})
	return out, err
}

// MaxZoneExport caps a CSV export of the persons inside one zone.
const MaxZoneExport = 200000

// ZonePersons lists every person inside zone id visible to c.User for export: the
// vulnerable first (as ZoneSummary), then everyone else by household and id, masked
// and audited. Invalid when more than MaxZoneExport would be exported.
func (s *Store) ZonePersons(ctx context.Context, c Caller, id int64) ([]PersonInside, MaskPolicy, error) {
	var out []PersonInside
	pol := PersonPolicy(c.User, true)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getZone(ctx, tx, c.User, id); err != nil {
			return err
		}
		w := householdWhere(c.User, HouseholdFilter{})
		w.insideZone(id)
		ps, total, err := personsInside(ctx, tx, w, false, MaxZoneExport)
		if err != nil {
			return err
		}
		if total > MaxZoneExport {
			return Errorf(Invalid, "format", "%d persons are inside; an export holds at most %d: use the paginated household list", total, MaxZoneExport)
		}
		if out, err = s.maskInside(ps, pol); err != nil {
			return err
		}
		return auditInside(ctx, tx, c, id, ps, pol)
	})
	return out, pol, err
}

// personsInside reads, unmasked, the persons of the households matching w (which
// filters "h"), vulnerable ones first in VulnerablePriority; only the vulnerable
// when onlyVulnerable. It returns at most limit and the number matching.
func personsInside(ctx context.Context, tx pgx.Tx, w *where, onlyVulnerable bool, limit int) ([]PersonInside, int, error) {
	prio := make([]string, len(VulnerablePriority()))
	for i, v := range VulnerablePriority() {
		prio[i] = string(v)
	}
	cond := w.sql()
	if onlyVulnerable {
		if cond == "" {
			cond = " WHERE p.vulnerability <> '{}'"
		} else {
			cond += " AND p.vulnerability <> '{}'"
		}
	}
	args := append(append([]any{}, w.args...), prio)
	rows, err := tx.Query(ctx, fmt.Sprintf(`
		SELECT p.id, p.household_id, p.name, p.id_number, p.phone, p.birth_date, p.sex, p.status, p.vulnerability,
		       p.health_code, p.version, h.address, h.building, h.unit, COALESCE(h.area_id, 0), ST_X(h.geom), ST_Y(h.geom),
		       COUNT(*) OVER()
		FROM persons p JOIN households h ON h.id = p.household_id%s
		ORDER BY CASE WHEN p.vulnerability = '{}' THEN 2 ELSE 1 END,
		         COALESCE((SELECT min(array_position($%d::text[], v)) FROM unnest(p.vulnerability) v), 99),
		         p.household_id, p.id
		LIMIT %d`, cond, len(args), limit), args...)
	if err != nil {
		return nil, 0, dbError("list persons in zone", err)
	}
	defer rows.Close()
	var out []PersonInside
	total := 0
	for rows.Next() {
		var p PersonInside
		var vuln []string
		if err := rows.Scan(&p.ID, &p.HouseholdID, &p.Name, &p.IDNumber, &p.Phone, &p.BirthDate, &p.Sex, &p.Status,
			&vuln, &p.HealthCode, &p.Version, &p.Address, &p.Building, &p.Unit, &p.AreaID, &p.Location[0], &p.Location[1], &total); err != nil {
			return nil, 0, dbError("scan person in zone", err)
		}
		p.Vulnerability = make([]Vulnerability, len(vuln))
		for i, v := range vuln {
			p.Vulnerability[i] = Vulnerability(v)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError("list persons in zone", err)
	}
	return out, total, nil
}

// maskInside masks the residents per pol and, for a restricted reader, places them
// as anonHousehold does.
func (s *Store) maskInside(ps []PersonInside, pol MaskPolicy) ([]PersonInside, error) {
	out := make([]PersonInside, len(ps))
	for i, p := range ps {
		p.Person = pol.Apply(p.Person)
		if !pol.Any() {
			at, err := anonPoint(p.Location, s.LocationPrivacy())
			if err != nil {
				return nil, fmt.Errorf("person %d: %w", p.ID, err)
			}
			p.Location = at
			p.Address, p.Building, p.Unit = MaskAddress(p.Address), "", ""
		}
		out[i] = p
	}
	return out, nil
}

// auditInside logs a read of persons inside zone id through auditPersonRead, with
// the persons grouped by household as it expects.
func auditInside(ctx context.Context, tx pgx.Tx, c Caller, id int64, ps []PersonInside, pol MaskPolicy) error {
	var hs []Household
	at := map[int64]int{}
	for _, p := range ps {
		i, ok := at[p.HouseholdID]
		if !ok {
			i = len(hs)
			at[p.HouseholdID] = i
			hs = append(hs, Household{ID: p.HouseholdID})
		}
		hs[i].Persons = append(hs[i].Persons, p.Person)
	}
	return auditPersonRead(ctx, tx, c, "zone", id, hs, pol)
}

// ZoneCounts counts what the enforced zones of one kind hold in one area.
type ZoneCounts struct {
	Zones      int // enforced zones of the kind reaching into the area
	Households int // households of the area whose strongest zone is of the kind
	Persons    int
	Vulnerable int // persons with any vulnerability flag
}

// ZoneDashboardRow is one area of the dashboard with its counts per zone kind;
// every kind is present, zero included (零报告: an explicit zero).
type ZoneDashboardRow struct {
	AreaID  int64
	Name    string
	Level   Level
	Context bool // above the caller's jurisdiction: counts cover only what lies inside it
	Kinds   map[ZoneKind]ZoneCounts
}

// ZoneDashboard counts, for every area of level (street or community) visible to u
// (and the context areas above u's jurisdiction), the enforced (active and
// downgraded) zones of each kind reaching into it and the households, persons and
// vulnerable persons inside them. A household inside zones of several kinds counts
// once, for the strongest. Only households and zones in u's jurisdiction count.
// Invalid for another level (field "level").
func (s *Store) ZoneDashboard(ctx context.Context, u User, level Level) ([]ZoneDashboardRow, error) {
	if level != Street && level != Community {
		return nil, Errorf(Invalid, "level", "must be street or community")
	}
	all, ua := seesAll(u), userAreas(u)
	out := []ZoneDashboardRow{}
	at := map[int64]int{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT a.id, a.name, NOT ($3 OR a.ancestors && $2::bigint[])
			FROM areas a
			WHERE a.level = $1 AND ($3 OR a.ancestors && $2::bigint[]
			      OR a.id IN (SELECT unnest(x.ancestors) FROM areas x WHERE x.id = ANY($2::bigint[])))
			ORDER BY a.id`, string(level), ua, all)
		if err != nil {
			return dbError("dashboard areas", err)
		}
		for rows.Next() {
			r := ZoneDashboardRow{Level: level, Kinds: map[ZoneKind]ZoneCounts{}}
			if err := rows.Scan(&r.AreaID, &r.Name, &r.Context); err != nil {
				rows.Close()
				return dbError("scan dashboard area", err)
			}
			for _, k := range ZoneKinds() {
				r.Kinds[k] = ZoneCounts{}
			}
			at[r.AreaID] = len(out)
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("dashboard areas", err)
		}
		if len(out) == 0 {
			return nil
		}
		ids := make([]int64, len(out))
		for i, r := range out {
			ids[i] = r.AreaID
		}
		rows, err = tx.Query(ctx, `
			WITH hz AS (
			  SELECT h.id, h.area_id, max(CASE z.kind WHEN 'sealed' THEN 3 WHEN 'control' THEN 2 ELSE 1 END) AS rank
			  FROM zones z JOIN households h ON ST_Intersects(h.geom, z.geom)
			  WHERE z.status IN ('active', 'downgraded')
			    AND ($3 OR h.area_id IN (SELECT id FROM areas WHERE ancestors && $2::bigint[]))
			  GROUP BY h.id, h.area_id
			), hp AS (
			  SELECT hz.id, hz.area_id, hz.rank, count(p.id) AS persons,
			         count(p.id) FILTER (WHERE p.vulnerability <> '{}') AS vulnerable
			  FROM hz LEFT JOIN persons p ON p.household_id = hz.id
			  GROUP BY hz.id, hz.area_id, hz.rank
			)
			SELECT la.id, hp.rank, count(*), sum(hp.persons)::bigint, sum(hp.vulnerable)::bigint, 0::bigint
			FROM hp JOIN areas ha ON ha.id = hp.area_id JOIN areas la ON la.id = ANY(ha.ancestors)
			WHERE la.id = ANY($1::bigint[])
			GROUP BY la.id, hp.rank
			UNION ALL
			SELECT a.id, CASE z.kind WHEN 'sealed' THEN 3 WHEN 'control' THEN 2 ELSE 1 END, 0::bigint, 0::bigint, 0::bigint, count(*)
			FROM areas a JOIN zones z ON ST_Intersects(a.geom, z.geom)
			WHERE a.id = ANY($1::bigint[]) AND z.status IN ('active', 'downgraded')
			  AND ($3 OR EXISTS (SELECT 1 FROM areas ua WHERE ua.id = ANY($2::bigint[]) AND ST_Intersects(ua.geom, z.geom)))
			GROUP BY a.id, z.kind`, ids, ua, all)
		if err != nil {
			return dbError("dashboard counts", err)
		}
		defer rows.Close()
		for rows.Next() {
			var area int64
			var rank, hh, persons, vulnerable, zones int
			if err := rows.Scan(&area, &rank, &hh, &persons, &vulnerable, &zones); err != nil {
				return dbError("scan dashboard counts", err)
			}
			i, ok := at[area]
			if !ok || rank < 1 || rank > 3 {
				continue
			}
			k := ZoneKinds()[3-rank]
			c := out[i].Kinds[k]
			c.Households += hh
			c.Persons += persons
			c.Vulnerable += vulnerable
			c.Zones += zones
			out[i].Kinds[k] = c
		}
		return orNil("dashboard counts", rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
