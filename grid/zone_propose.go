package grid

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gridtrace/gridtrace/grid/zoning"
)

// ZoneSelection selects the cases a proposal is computed from. The given fields
// combine (a case must match each); at least one of BBox, AreaIDs and CaseIDs is
// required.
type ZoneSelection struct {
	BBox    *orb.Bound // cases inside the box
	AreaIDs []int64    // cases in these areas or below them
	CaseIDs []int64    // these cases
	From    *time.Time // reported at or after
	To      *time.Time // reported before
}

// ZoneProposal is what ProposeZones saved.
type ZoneProposal struct {
	Zones         []Zone // the proposed zones, ordered by id (sealed first)
	PolicyVersion int
	Cases         int // cases the zones were computed from
	Cells         int // H3 cells in the computed zones
	Dropped       int // computed zones wholly outside the caller's jurisdiction, not saved
}

// Limits of one proposal: the Shanghai day of 3,658 located cases is well inside.
const (
	maxProposalCases = 20000
	maxSelectionIDs  = 10000
)

// ProposeZones computes zones from the cases selected by sel that lie in c.User's
// jurisdiction, under the current zone policy (grid/zoning), and saves each as a
// proposed zone with the cases that caused it, the policy version and the
// escalation level, with its first version and a change-feed row, in one
// transaction. A commander's zones are clipped to their jurisdiction (what lies
// beyond is another command's to decide); admin's are saved whole. Errors: Invalid
// (selection, too many cases, or a proposal beyond the cell budget), NotFound (an
// area or case outside the jurisdiction, field area_ids[i] or case_ids[i]),
// Forbidden (role).
func (s *Store) ProposeZones(ctx context.Context, c Caller, sel ZoneSelection) (ZoneProposal, error) {
	if err := canWriteZones(c.User); err != nil {
		return ZoneProposal{}, err
	}
	if err := sel.validate(); err != nil {
		return ZoneProposal{}, err
	}
	for i, a := range sel.AreaIDs {
		if _, err := s.GetArea(ctx, c.User, a); err != nil {
			if KindOf(err) == NotFound {
				err = Errorf(NotFound, fmt.Sprintf("area_ids[%d]", i), "area %d not found", a)
			}
			return ZoneProposal{}, err
		}
	}
	var pol StoredZonePolicy
	var in zoning.Input
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if pol, err = currentZonePolicy(ctx, tx); err != nil {
			return err
		}
		if in.Cases, err = proposalCases(ctx, tx, c.User, sel); err != nil {
			return err
		}
		if r := pol.Policy.Precaution; r.Mode == ModeArea && len(in.Cases) > 0 {
			in.Areas, err = proposalAreas(ctx, tx, r.AreaLevel, in.Cases)
		}
		return err
	})
	if err != nil {
		return ZoneProposal{}, err
	}
	res, err := zoning.Propose(in, pol.Policy.Zoning())
	if err != nil {
		var le *zoning.LimitError
		if errors.As(err, &le) {
			return ZoneProposal{}, &Error{Kind: Invalid, Message: le.Error(), Err: err}
		}
		return ZoneProposal{}, fmt.Errorf("propose zones: %w", err)
	}
	out := ZoneProposal{Zones: []Zone{}, PolicyVersion: pol.Version, Cases: len(in.Cases), Cells: res.CellCount()}
	if len(res.Zones) == 0 {
		return out, nil
	}
	n := len(res.Zones)
	kinds, geoms, caseIDs, levels, reasons := make([]string, n), make([][]byte, n), make([]string, n), make([]string, n), make([]string, n)
	for i, z := range res.Zones {
		kinds[i], levels[i] = string(z.Kind), string(z.Escalation)
		if geoms[i], err = wkb.Marshal(orb.MultiPolygon{z.Geom}); err != nil {
			return ZoneProposal{}, fmt.Errorf("encode zone: %w", err)
		}
		ids := make([]string, len(z.CaseIDs))
		for j, id := range z.CaseIDs {
			ids[j] = strconv.FormatInt(id, 10)
		}
		caseIDs[i] = "{" + strings.Join(ids, ",") + "}"
		plural := "s"
		if len(z.CaseIDs) == 1 {
			plural = ""
		}
		reasons[i] = fmt.Sprintf("computed from %d case%s under zone policy v%d: %s", len(z.CaseIDs), plural, pol.Version, z.Reason)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			WITH input AS (
			  SELECT t.ord, t.kind, ST_GeomFromWKB(t.wkb, 4326) AS g, t.case_ids::bigint[] AS case_ids, t.escalation, t.reason
			  FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[])
			       WITH ORDINALITY AS t(kind, wkb, case_ids, escalation, reason, ord)
			), jur AS (
			  SELECT ST_Union(geom) AS g FROM areas WHERE id = ANY($6::bigint[])
			), cut AS (
			  SELECT i.ord, i.kind, i.case_ids, i.escalation, i.reason,
			         CASE WHEN $7 THEN i.g ELSE ST_Multi(ST_CollectionExtract(ST_Intersection(i.g, jur.g), 3)) END AS g,
			         CASE WHEN $7 THEN false ELSE NOT ST_CoveredBy(i.g, jur.g) END AS clipped
			  FROM input i, jur
			)
			INSERT INTO zones (kind, status, source, geom, area_id, policy_version, case_ids, escalation, reason, created_by)
			SELECT kind, 'proposed', 'computed', g, (`+finestAreaOf("g", "$8")+`), $9, case_ids, escalation,
			       reason || CASE WHEN clipped THEN '; clipped to your jurisdiction' ELSE '' END, NULLIF($10::bigint, 0)
			FROM cut WHERE g IS NOT NULL AND NOT ST_IsEmpty(g)
			ORDER BY ord
			RETURNING id`,
			kinds, geoms, caseIDs, levels, reasons, userAreas(c.User), seesAll(c.User), levelNames(), pol.Version, c.User.ID)
		if err != nil {
			return dbError("insert proposed zones", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return dbError("insert proposed zones", err)
		}
		out.Dropped = n - len(ids)
		if _, err := tx.Exec(ctx, `
			INSERT INTO zone_versions (zone_id, version, action, kind, status, geom, changed_by, reason)
			SELECT id, version, 'propose', kind, status, geom, created_by, reason FROM zones WHERE id = ANY($1)`, ids); err != nil {
			return dbError("record proposed zone versions", err)
		}
		zs, _, err := queryZones(ctx, tx, zoneSelect+` WHERE z.id = ANY($1) ORDER BY z.id`, []any{ids})
		if err != nil {
			return err
		}
		for _, z := range zs {
			if err := appendZoneChange(ctx, tx, z, "propose"); err != nil {
				return err
			}
		}
		out.Zones = zs
		return nil
	})
	if err != nil {
		return ZoneProposal{}, err
	}
	return out, nil
}

func (sel ZoneSelection) validate() error {
	if sel.BBox == nil && len(sel.AreaIDs) == 0 && len(sel.CaseIDs) == 0 {
		return Errorf(Invalid, "bbox", "select cases by bbox, area_ids or case_ids")
	}
	for _, f := range []struct {
		name string
		ids  []int64
	}{{"area_ids", sel.AreaIDs}, {"case_ids", sel.CaseIDs}} {
		if len(f.ids) > maxSelectionIDs {
			return Errorf(Invalid, f.name, "at most %d ids", maxSelectionIDs)
		}
		for i, id := range f.ids {
			if id < 1 {
				return Errorf(Invalid, fmt.Sprintf("%s[%d]", f.name, i), "must be a positive id")
			}
		}
	}
	if sel.From != nil && sel.To != nil && !sel.From.Before(*sel.To) {
		return Errorf(Invalid, "to", "must be after from")
	}
	return nil
}

// proposalCases loads the selected cases visible to u, as the proposal sees them:
// the epidemic point (key) of a case in a household is the household's address,
// building and unit, else the case's own address.
func proposalCases(ctx context.Context, tx pgx.Tx, u User, sel ZoneSelection) ([]zoning.Case, error) {
	var w where
	w.visibleAreaCol(u, "c.area_id")
	if len(sel.CaseIDs) > 0 {
		// Every listed case must exist for the caller, whatever the other filters.
		vis := where{conds: append([]string{}, w.conds...), args: append([]any{}, w.args...)}
		vis.add("c.id = ANY(?::bigint[])", sel.CaseIDs)
		rows, err := tx.Query(ctx, `SELECT c.id FROM cases c`+vis.sql(), vis.args...)
		if err != nil {
			return nil, dbError("check cases", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, dbError("check cases", err)
		}
		seen := map[int64]bool{}
		for _, id := range found {
			seen[id] = true
		}
		for i, id := range sel.CaseIDs {
			if !seen[id] {
				return nil, Errorf(NotFound, fmt.Sprintf("case_ids[%d]", i), "case %d not found", id)
			}
		}
		w.add("c.id = ANY(?::bigint[])", sel.CaseIDs)
	}
	if len(sel.AreaIDs) > 0 {
		w.add("c.area_id IN (SELECT id FROM areas WHERE ancestors && ?::bigint[])", sel.AreaIDs)
	}
	if sel.BBox != nil {
		w.inBBox("c.geom", *sel.BBox)
	}
	if sel.From != nil {
		w.add("c.reported_at >= ?", *sel.From)
	}
	if sel.To != nil {
		w.add("c.reported_at < ?", *sel.To)
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`
		SELECT c.id, ST_X(c.geom), ST_Y(c.geom), c.reported_at,
		       CASE WHEN h.id IS NOT NULL THEN concat_ws(' ', h.address, NULLIF(h.building, ''), NULLIF(h.unit, ''))
		            ELSE c.address END
		FROM cases c LEFT JOIN households h ON h.id = c.household_id%s ORDER BY c.id LIMIT %d`, w.sql(), maxProposalCases+1), w.args...)
	if err != nil {
		return nil, dbError("load cases", err)
	}
	defer rows.Close()
	var out []zoning.Case
	for rows.Next() {
		var zc zoning.Case
		if err := rows.Scan(&zc.ID, &zc.Point[0], &zc.Point[1], &zc.At, &zc.Key); err != nil {
			return nil, dbError("scan case", err)
		}
		// Cases carry no traced source yet: every case counts as of unknown source.
		out = append(out, zc)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("load cases", err)
	}
	if len(out) > maxProposalCases {
		return nil, Errorf(Invalid, "bbox", "more than %d cases selected: narrow the selection", maxProposalCases)
	}
	return out, nil
}

// proposalAreas loads the areas of level containing at least one of the cases, for a
// precaution rule in area mode.
func proposalAreas(ctx context.Context, tx pgx.Tx, level Level, cases []zoning.Case) ([]zoning.AreaShape, error) {
	ids := make([]int64, len(cases))
	for i, c := range cases {
		ids[i] = c.ID
	}
	rows, err := tx.Query(ctx, `
		SELECT a.id, ST_AsBinary(a.geom) FROM areas a
		WHERE a.level = $1 AND EXISTS (SELECT 1 FROM cases c WHERE c.id = ANY($2) AND ST_Intersects(a.geom, c.geom))
		ORDER BY a.id`, string(level), ids)
	if err != nil {
		return nil, dbError("load areas", err)
	}
	defer rows.Close()
	var out []zoning.AreaShape
	for rows.Next() {
		var a zoning.AreaShape
		var geom []byte
		if err := rows.Scan(&a.ID, &geom); err != nil {
			return nil, dbError("scan area", err)
		}
		if a.Geom, err = decodeMultiPolygon(geom); err != nil {
			return nil, fmt.Errorf("area %d: %w", a.ID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("load areas", err)
	}
	return out, nil
}
