package trace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/stay"
)

// AuditExportContacts is the audit action of a contact list exported (CSV for the
// transfer teams): personal data leaving the system as a file, logged whether or
// not a linked resident is in it.
const AuditExportContacts = "export_contacts"

// GetRun reads a stored run with its contacts and stays; subjects (labels, linked
// residents) are read as they are now, masked for c.User, and a read showing a
// resident in clear is audited. Errors: NotFound (field "run").
func (s *Store) GetRun(ctx context.Context, c grid.Caller, id int64) (Run, error) {
	var run Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if run, err = getRun(ctx, tx, c.User, id); err != nil {
			return err
		}
		return auditSubjects(ctx, tx, c, "trace_run", id, resultSubjects(run.Result)...)
	})
	return run, err
}

// LatestRun reads the newest stored run of a case, as GetRun. Errors: NotFound
// (field "case") when the case was never traced.
func (s *Store) LatestRun(ctx context.Context, c grid.Caller, caseID int64) (Run, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM trace_runs WHERE case_subject_id = $1 ORDER BY computed_at DESC, id DESC LIMIT 1`, caseID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, grid.Errorf(grid.NotFound, "case", "no tracing run for case %d", caseID)
	}
	if err != nil {
		return Run{}, dbErr("find run", err)
	}
	return s.GetRun(ctx, c, id)
}

// ExportRun reads a run as GetRun does for an export, and always appends an
// AuditExportContacts row naming the run, the contacts and the linked residents
// shown in clear.
func (s *Store) ExportRun(ctx context.Context, c grid.Caller, id int64) (Run, error) {
	var run Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if run, err = getRun(ctx, tx, c.User, id); err != nil {
			return err
		}
		sids := []int64{}
		for _, ct := range run.Contacts {
			sids = append(sids, ct.Subject.ID)
		}
		return appendAudit(ctx, tx, c, AuditExportContacts, "trace_run", id, map[string]any{
			"case_subject_id": run.Case.ID, "subject_ids": sids, "person_ids": shownPersons(resultSubjects(run.Result)...),
			"fields": grid.Unmasked(c.User.Role).ShownFields(),
		})
	})
	return run, err
}

func getRun(ctx context.Context, tx pgx.Tx, u grid.User, id int64) (Run, error) {
	var run Run
	var caseID int64
	var kind string
	var params []byte
	err := tx.QueryRow(ctx, `SELECT case_subject_id, rule_kind, window_from, window_to, degree, params, rule, case_pings, loaded_pings, computed_at
		FROM trace_runs WHERE id = $1`, id).Scan(&caseID, &kind, &run.Window.From, &run.Window.To, &run.Degree, &params, &run.Rule,
		&run.CasePings, &run.LoadedPings, &run.ComputedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return run, grid.Errorf(grid.NotFound, "run", "no tracing run %d", id)
	}
	if err != nil {
		return run, dbErr("read run", err)
	}
	run.ID, run.Kind = id, RuleKind(kind)
	run.Window.From, run.Window.To = run.Window.From.UTC(), run.Window.To.UTC()
	if err := json.Unmarshal(params, &run.Params); err != nil {
		return run, fmt.Errorf("run %d params: %w", id, err)
	}
	rows, err := tx.Query(ctx, `SELECT contact_subject_id, degree, COALESCE(via_subject_id, 0), rank, first_at, last_at, minutes, min_distance_m, evidence
		FROM contacts WHERE run_id = $1 ORDER BY rank`, id)
	if err != nil {
		return run, dbErr("read contacts", err)
	}
	var ct Contact
	var evidence []EncounterJSON
	ids := []int64{caseID}
	_, err = pgx.ForEachRow(rows, []any{&ct.Subject.ID, &ct.Degree, &ct.Via, &ct.Rank, &ct.FirstAt, &ct.LastAt, &ct.Minutes, &ct.MinDistanceM, &evidence}, func() error {
		c := ct
		c.FirstAt, c.LastAt = c.FirstAt.UTC(), c.LastAt.UTC()
		c.Encounters = make([]copresence.Encounter, len(evidence))
		for i, e := range evidence {
			c.Encounters[i] = copresence.Encounter{Start: e.Start.UTC(), End: e.End.UTC(), Minutes: e.Minutes, MinDistanceM: e.MinDistanceM, Where: orb.Point(e.Where)}
		}
		run.Contacts = append(run.Contacts, c)
		ids = append(ids, c.Subject.ID)
		return nil
	})
	if err != nil {
		return run, dbErr("read contacts", err)
	}
	rows, err = tx.Query(ctx, `SELECT arrival, departure, ST_X(geom), ST_Y(geom), pings, rule FROM stays WHERE run_id = $1 ORDER BY seq`, id)
	if err != nil {
		return run, dbErr("read stays", err)
	}
	var st stay.Stay
	var rule string
	_, err = pgx.ForEachRow(rows, []any{&st.Arrival, &st.Departure, &st.Centroid[0], &st.Centroid[1], &st.Pings, &rule}, func() error {
		st.Arrival, st.Departure = st.Arrival.UTC(), st.Departure.UTC()
		run.Stays = append(run.Stays, st)
		run.StayRule = rule
		return nil
	})
	if err != nil {
		return run, dbErr("read stays", err)
	}
	subs, err := subjectsByID(ctx, tx, u, ids)
	if err != nil {
		return run, err
	}
	run.Case = subs[caseID]
	for i := range run.Contacts {
		run.Contacts[i].Subject = subs[run.Contacts[i].Subject.ID]
	}
	return run, nil
}
