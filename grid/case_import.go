package grid

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridtrace/gridtrace/geo"
)

// caseKinds lists the valid case kinds.
var caseKinds = []CaseKind{Confirmed, Asymptomatic, Suspected}

// InsertCases loads cs in one transaction; see LoadCases.
func (s *Store) InsertCases(ctx context.Context, cs []CaseInput) (LoadReport, error) {
	return s.LoadCases(ctx, func(yield func([]CaseInput, error) bool) { yield(cs, nil) })
}

// LoadCases loads a stream of case batches in one transaction. Each case is checked
// (coordinates in range, kind one of confirmed, asymptomatic, suspected, a
// reported_at, an ExtID used once); src may also yield a RowError for a row it could
// not read. If any row is bad nothing is written and the error is Invalid, listing
// the first ones (the report's Rejected holds up to 100). Cases whose ExtID is
// already stored are skipped. Each case gets its H3 cells and the finest area
// containing it, and the load appends one row to the change feed.
func (s *Store) LoadCases(ctx context.Context, src iter.Seq2[[]CaseInput, error]) (LoadReport, error) {
	var rep LoadReport
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return loadCases(ctx, tx, src, &rep)
	})
	return rep, err
}

var caseStageCols = []string{"ord", "line", "ext_id", "kind", "reported_at", "onset_at", "address", "lng", "lat", "h3_r8", "h3_r12"}

func loadCases(ctx context.Context, tx pgx.Tx, src iter.Seq2[[]CaseInput, error], rep *LoadReport) error {
	if _, err := tx.Exec(ctx, `
CREATE TEMP TABLE gt_stage_cases (
  ord         bigint NOT NULL,
  line        int NOT NULL,
  ext_id      text,
  kind        text NOT NULL,
  reported_at timestamptz NOT NULL,
  onset_at    timestamptz,
  address     text NOT NULL,
  lng         float8 NOT NULL,
  lat         float8 NOT NULL,
  h3_r8       bigint NOT NULL,
  h3_r12      bigint NOT NULL,
  geom        geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), 4326)) STORED
) ON COMMIT DROP`); err != nil {
		return dbError("import cases: stage", err)
	}
	var bad rejects
	var ord int64
	var rows [][]any
	for batch, err := range src {
		if err != nil {
			if re, ok := rowError(err); ok {
				bad.add(re)
				continue
			}
			return fmt.Errorf("import cases: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("import cases: %w", err)
		}
		rows = rows[:0]
		for i := range batch {
			c := &batch[i]
			if errs := validateCase(c, ord); len(errs) > 0 {
				bad.add(errs...)
			}
			ord++
			if bad.total > 0 {
				continue
			}
			c8, err := geo.CellOf(c.Location, h3ResCoarse)
			if err != nil {
				return fmt.Errorf("import cases: %w", err)
			}
			c12, err := geo.CellOf(c.Location, h3ResFine)
			if err != nil {
				return fmt.Errorf("import cases: %w", err)
			}
			rows = append(rows, []any{ord, c.Line, nullIfEmpty(c.ExtID), string(c.Kind), c.ReportedAt, c.OnsetAt,
				c.Address, c.Location.Lon(), c.Location.Lat(), int64(c8), int64(c12)})
		}
		if bad.total > 0 || len(rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"gt_stage_cases"}, caseStageCols, pgx.CopyFromRows(rows)); err != nil {
			return dbError("import cases: copy", err)
		}
	}
	if bad.total == 0 {
		if err := duplicateExtIDs(ctx, tx, "gt_stage_cases", "ext_id", "cases", "", &bad); err != nil {
			return err
		}
	}
	if bad.total > 0 {
		rep.Rejected = bad.sorted()
		return bad.err("import cases")
	}
	if err := stageIndex(ctx, tx, "gt_stage_cases"); err != nil {
		return err
	}
	if err := assignStagedAreas(ctx, tx, "gt_stage_cases", "ord", "gt_stage_cases_area"); err != nil {
		return err
	}
	var bbox []float64
	err := tx.QueryRow(ctx, `
WITH ins AS (
  INSERT INTO cases (ext_id, kind, reported_at, onset_at, address, area_id, geom, h3_r8, h3_r12)
  SELECT s.ext_id, s.kind, s.reported_at, s.onset_at, s.address, x.area_id, s.geom, s.h3_r8, s.h3_r12
  FROM gt_stage_cases s LEFT JOIN gt_stage_cases_area x ON x.key = s.ord
  WHERE s.ext_id IS NULL OR NOT EXISTS (SELECT 1 FROM cases c WHERE c.ext_id = s.ext_id)
  ORDER BY s.ord
  ON CONFLICT (ext_id) DO NOTHING
  RETURNING area_id, geom
)
SELECT count(*), count(*) FILTER (WHERE area_id IS NULL), `+bboxSQL("ST_Extent(geom)")+` FROM ins`).
		Scan(&rep.Inserted, &rep.Unassigned, &bbox)
	if err != nil {
		return dbError("import cases: insert", err)
	}
	rep.Skipped = int(ord) - rep.Inserted
	if rep.Inserted == 0 {
		return nil
	}
	return recordBulkChange(ctx, tx, "import", "cases", bbox, map[string]any{"inserted": rep.Inserted})
}

// validateCase checks one case; fields are named as in the native cases CSV,
// prefixed by the input position when the case has no line.
func validateCase(c *CaseInput, ord int64) []RowError {
	var errs []RowError
	at := func(field, reason string) {
		if c.Line == 0 {
			field = fmt.Sprintf("cases[%d].%s", ord, field)
		}
		errs = append(errs, RowError{Line: c.Line, Field: field, Reason: reason})
	}
	if err := geo.ValidLngLat(c.Location.Lon(), c.Location.Lat()); err != nil {
		ce := err.(*geo.CoordError)
		at(ce.Field, ce.Reason)
	}
	if !slices.Contains(caseKinds, c.Kind) {
		at("kind", fmt.Sprintf("%q is not one of confirmed, asymptomatic, suspected", c.Kind))
	}
	if c.ReportedAt.IsZero() {
		at("reported_at", "is required")
	}
	if c.OnsetAt != nil && c.OnsetAt.After(time.Now().Add(24*time.Hour)) {
		at("onset_at", "is in the future")
	}
	return errs
}
