package grid

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridtrace/gridtrace/geo"
)

// H3 resolutions stored with every household and case: r8 (~0.7 km², the published
// "spatiotemporal companion" cell size) and r12 (~300 m², about one building);
// coarser ones are derived in SQL with h3_parent.
const (
	h3ResCoarse = 8
	h3ResFine   = 12
)

// InsertHouseholds loads hs with their persons in one transaction; see LoadHouseholds.
func (s *Store) InsertHouseholds(ctx context.Context, hs []HouseholdInput) (LoadReport, error) {
	return s.LoadHouseholds(ctx, func(yield func([]HouseholdInput, error) bool) { yield(hs, nil) })
}

// LoadHouseholds loads a stream of household batches with their persons in one
// transaction, so memory stays bounded by the batch (a reader may reuse a batch once
// yield returns). Each household is checked (coordinates in range, address required,
// person name required, status one of PersonStatuses, vulnerability flags from
// Vulnerabilities, sex "", "M" or "F", no birth date in the future, an ExtID used
// once); src may also yield a RowError for a row it could not read. If any row is
// bad, nothing is written, the error is Invalid and lists the first ones, and the
// report's Rejected holds up to 100 of them in line order. Any other error from src
// aborts the load.
//
// Households whose ExtID is already stored are skipped with their persons, so a
// file loads once however often it is imported. Each household gets its H3 cells
// (computed in Go) and the finest area containing it (area_id; NULL outside every
// area), and the load appends one row to the change feed.
func (s *Store) LoadHouseholds(ctx context.Context, src iter.Seq2[[]HouseholdInput, error]) (LoadReport, error) {
	var rep LoadReport
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return loadHouseholds(ctx, tx, src, &rep)
	})
	return rep, err
}

// The staging tables are temporary (unlogged, dropped at commit) so a rejected load
// leaves nothing behind; geom is generated from lng/lat during COPY, which needs no
// PostGIS binary encoding in Go.
const householdStageDDL = `
CREATE TEMP TABLE gt_stage_households (
  ord      bigint NOT NULL,
  line     int NOT NULL,
  ext_id   text,
  address  text NOT NULL,
  building text NOT NULL,
  unit     text NOT NULL,
  flags    text[] NOT NULL,
  lng      float8 NOT NULL,
  lat      float8 NOT NULL,
  h3_r8    bigint NOT NULL,
  h3_r12   bigint NOT NULL,
  geom     geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), 4326)) STORED
) ON COMMIT DROP;
CREATE TEMP TABLE gt_stage_persons (
  hh_ord        bigint NOT NULL,
  name          text NOT NULL,
  id_number     text NOT NULL,
  phone         text NOT NULL,
  birth_date    date,
  sex           text NOT NULL,
  status        text NOT NULL,
  vulnerability text[] NOT NULL
) ON COMMIT DROP`

var (
	householdStageCols = []string{"ord", "line", "ext_id", "address", "building", "unit", "flags", "lng", "lat", "h3_r8", "h3_r12"}
	personStageCols    = []string{"hh_ord", "name", "id_number", "phone", "birth_date", "sex", "status", "vulnerability"}
)

func loadHouseholds(ctx context.Context, tx pgx.Tx, src iter.Seq2[[]HouseholdInput, error], rep *LoadReport) error {
	if _, err := tx.Exec(ctx, householdStageDDL); err != nil {
		return dbError("import households: stage", err)
	}
	var bad rejects
	var ord int64
	var hrows, prows [][]any
	now := time.Now()
	for batch, err := range src {
		if err != nil {
			if re, ok := rowError(err); ok {
				bad.add(re)
				continue
			}
			return fmt.Errorf("import households: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("import households: %w", err)
		}
		hrows, prows = hrows[:0], prows[:0]
		for i := range batch {
			h := &batch[i]
			if errs := validateHousehold(h, ord, now); len(errs) > 0 {
				bad.add(errs...)
			}
			ord++
			if bad.total > 0 {
				continue // nothing will be written: only look for more bad rows
			}
			c8, err := geo.CellOf(h.Location, h3ResCoarse)
			if err != nil {
				return fmt.Errorf("import households: %w", err)
			}
			c12, err := geo.CellOf(h.Location, h3ResFine)
			if err != nil {
				return fmt.Errorf("import households: %w", err)
			}
			flags := h.Flags
			if flags == nil {
				flags = []string{}
			}
			hrows = append(hrows, []any{ord, h.Line, nullIfEmpty(h.ExtID), strings.TrimSpace(h.Address),
				h.Building, h.Unit, flags, h.Location.Lon(), h.Location.Lat(), int64(c8), int64(c12)})
			for _, p := range h.Persons {
				status := p.Status
				if status == "" {
					status = "normal"
				}
				prows = append(prows, []any{ord, strings.TrimSpace(p.Name), p.IDNumber, p.Phone, p.BirthDate,
					p.Sex, status, vulnerabilityStrings(p.Vulnerability)})
			}
		}
		if bad.total > 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"gt_stage_households"}, householdStageCols, pgx.CopyFromRows(hrows)); err != nil {
			return dbError("import households: copy", err)
		}
		if len(prows) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"gt_stage_persons"}, personStageCols, pgx.CopyFromRows(prows)); err != nil {
				return dbError("import persons: copy", err)
			}
		}
	}
	if bad.total == 0 {
		if err := duplicateExtIDs(ctx, tx, "gt_stage_households", "household", "households",
			" (the rows of one household must be consecutive)", &bad); err != nil {
			return err
		}
	}
	if bad.total > 0 {
		rep.Rejected = bad.sorted()
		return bad.err("import households")
	}
	if err := stageIndex(ctx, tx, "gt_stage_households"); err != nil {
		return err
	}
	if err := assignStagedAreas(ctx, tx, "gt_stage_households", "ord", "gt_stage_households_area"); err != nil {
		return err
	}
	// New households take their ids from the sequence here, so persons join them by
	// staging order (no ext_id needed, NULL ones included). It is a table, analysed,
	// rather than a CTE: the planner knows nothing of a CTE's rows and joined 25,000
	// persons to 10,000 households by nested loop (5 s; 50 ms as hash joins).
	tag, err := tx.Exec(ctx, `
CREATE TEMP TABLE gt_new_households ON COMMIT DROP AS
SELECT s.ord, nextval(pg_get_serial_sequence('households', 'id')) AS id, x.area_id,
       s.ext_id, s.address, s.building, s.unit, s.flags, s.geom, s.h3_r8, s.h3_r12
FROM gt_stage_households s LEFT JOIN gt_stage_households_area x ON x.key = s.ord
WHERE s.ext_id IS NULL OR NOT EXISTS (SELECT 1 FROM households h WHERE h.ext_id = s.ext_id)`)
	if err != nil {
		return dbError("import households: new", err)
	}
	staged := int(tag.RowsAffected())
	if _, err := tx.Exec(ctx, `ANALYZE gt_new_households; ANALYZE gt_stage_persons`); err != nil {
		return dbError("import households: analyze", err)
	}
	// ON CONFLICT: a concurrent load of the same ext_id makes this one skip it, not fail.
	var bbox []float64
	err = tx.QueryRow(ctx, `
WITH ins AS (
  INSERT INTO households (id, area_id, ext_id, address, building, unit, flags, geom, h3_r8, h3_r12)
  SELECT id, area_id, ext_id, address, building, unit, flags, geom, h3_r8, h3_r12
  FROM gt_new_households
  ON CONFLICT (ext_id) DO NOTHING
  RETURNING area_id, geom
)
SELECT count(*), count(*) FILTER (WHERE area_id IS NULL), `+bboxSQL("ST_Extent(geom)")+` FROM ins`).
		Scan(&rep.Inserted, &rep.Unassigned, &bbox)
	if err != nil {
		return dbError("import households: insert", err)
	}
	// Persons follow only the households really inserted. Normally that is all of
	// gt_new_households; only when a concurrent load got some first (ON CONFLICT)
	// must they be matched against households, a join that scans the whole table.
	matchInserted := ""
	if staged != rep.Inserted {
		matchInserted = "JOIN households h ON h.id = n.id"
	}
	tag, err = tx.Exec(ctx, `
INSERT INTO persons (household_id, name, id_number, phone, birth_date, sex, status, vulnerability)
SELECT n.id, p.name, p.id_number, p.phone, p.birth_date, p.sex, p.status, p.vulnerability
FROM gt_stage_persons p JOIN gt_new_households n ON n.ord = p.hh_ord `+matchInserted)
	if err != nil {
		return dbError("import persons: insert", err)
	}
	rep.Persons = int(tag.RowsAffected())
	rep.Skipped = int(ord) - rep.Inserted
	if rep.Inserted == 0 {
		return nil
	}
	return recordBulkChange(ctx, tx, "import", "households", bbox, map[string]any{
		"inserted": rep.Inserted, "persons": rep.Persons,
	})
}

// stageIndex makes a staged point table ready for the areas-first join of
// assignStagedAreas: temporary tables are never auto-analysed, and without the
// index and statistics the planner probes the areas per point instead.
func stageIndex(ctx context.Context, tx pgx.Tx, table string) error {
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE INDEX ON %s USING gist (geom)`, table)); err != nil {
		return dbError("stage index", err)
	}
	if _, err := tx.Exec(ctx, `ANALYZE `+table); err != nil {
		return dbError("stage analyze", err)
	}
	return nil
}

// duplicateExtIDs reports every staged row whose ext_id an earlier row of the same
// load already used; column names the key in the file, noun the input slice (for
// rows without a line), hint ends the reason for file rows. Done in SQL so that a
// million-row file needs no set of keys in memory.
func duplicateExtIDs(ctx context.Context, tx pgx.Tx, table, column, noun, hint string, bad *rejects) error {
	rows, err := tx.Query(ctx, fmt.Sprintf(`
SELECT ext_id, lines, ords FROM (
  SELECT ext_id, array_agg(line ORDER BY ord) AS lines, array_agg(ord ORDER BY ord) AS ords
  FROM %s WHERE ext_id IS NOT NULL GROUP BY ext_id HAVING count(*) > 1
) d ORDER BY ords[2] LIMIT %d`, table, maxRejects))
	if err != nil {
		return dbError("duplicate keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var lines []int
		var ords []int64
		if err := rows.Scan(&key, &lines, &ords); err != nil {
			return dbError("duplicate keys", err)
		}
		for i := 1; i < len(lines); i++ {
			if lines[i] > 0 {
				bad.add(RowError{Line: lines[i], Field: column, Reason: fmt.Sprintf("%q is already used at line %d%s", key, lines[0], hint)})
			} else {
				bad.add(RowError{Field: fmt.Sprintf("%s[%d].ext_id", noun, ords[i]-1), Reason: fmt.Sprintf("%q is already used by %s[%d]", key, noun, ords[0]-1)})
			}
		}
	}
	if err := rows.Err(); err != nil {
		return dbError("duplicate keys", err)
	}
	return nil
}

// validateHousehold checks one household and its persons. Fields are named as in
// the households CSV, prefixed by the input position when the row has no line.
func validateHousehold(h *HouseholdInput, ord int64, now time.Time) []RowError {
	var errs []RowError
	at := func(line int, prefix, field, reason string) {
		if line == 0 {
			field = prefix + field
		}
		errs = append(errs, RowError{Line: line, Field: field, Reason: reason})
	}
	hp := fmt.Sprintf("households[%d].", ord)
	if err := geo.ValidLngLat(h.Location.Lon(), h.Location.Lat()); err != nil {
		ce := err.(*geo.CoordError)
		at(h.Line, hp, ce.Field, ce.Reason)
	}
	if strings.TrimSpace(h.Address) == "" {
		at(h.Line, hp, "address", "is required")
	}
	for j := range h.Persons {
		p := &h.Persons[j]
		line := p.Line
		if line == 0 {
			line = h.Line
		}
		pp := fmt.Sprintf("%spersons[%d].", hp, j)
		if strings.TrimSpace(p.Name) == "" {
			at(line, pp, "name", "is required for a person (leave every person column empty for a household row without one)")
		}
		if p.Status != "" && !slices.Contains(PersonStatuses, p.Status) {
			at(line, pp, "status", fmt.Sprintf("%q is not one of %s", p.Status, strings.Join(PersonStatuses, ", ")))
		}
		if p.Sex != "" && p.Sex != "M" && p.Sex != "F" {
			at(line, pp, "sex", fmt.Sprintf("%q is not M, F or empty", p.Sex))
		}
		if p.BirthDate != nil && p.BirthDate.After(now) {
			at(line, pp, "birth_date", p.BirthDate.Format(time.DateOnly)+" is in the future")
		}
		for _, v := range p.Vulnerability {
			if !slices.Contains(Vulnerabilities, v) {
				at(line, pp, "vulnerability", fmt.Sprintf("%q is not one of %s", v, joinVulnerabilities()))
				break
			}
		}
	}
	return errs
}

func joinVulnerabilities() string {
	s := make([]string, len(Vulnerabilities))
	for i, v := range Vulnerabilities {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// vulnerabilityStrings is the flags as text[], each once.
func vulnerabilityStrings(vs []Vulnerability) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if !slices.Contains(out, string(v)) {
			out = append(out, string(v))
		}
	}
	return out
}

// AssignAreas sets the area_id of every household and case to its finest area (see
// assignStagedAreas; NULL when no area contains it), by a PostGIS point-in-polygon
// join in one transaction, and returns how many rows changed. Loads assign areas as
// they insert; call this after adding or redrawing areas (the demo does, once it has
// created communities and grids), so households move down to the new finest level.
func (s *Store) AssignAreas(ctx context.Context) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, t := range []struct{ table, touch string }{
			{"households", ", updated_at = now()"},
			{"cases", ""},
		} {
			dst := "gt_assign_" + t.table
			if err := assignStagedAreas(ctx, tx, t.table, "id", dst); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, fmt.Sprintf(`
UPDATE %[1]s t SET area_id = b.area_id%[2]s
FROM (SELECT r.id, x.area_id FROM %[1]s r LEFT JOIN %[3]s x ON x.key = r.id) b
WHERE t.id = b.id AND t.area_id IS DISTINCT FROM b.area_id`, t.table, t.touch, dst))
			if err != nil {
				return dbError("assign areas: "+t.table, err)
			}
			changed := int(tag.RowsAffected())
			n += changed
			if changed > 0 {
				// No bbox: the change may be anywhere, and clients refresh what they show.
				if err := recordBulkChange(ctx, tx, "reassign", t.table, nil, map[string]any{"changed": changed}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}
