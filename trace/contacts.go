package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/stay"
	"github.com/gridtrace/gridtrace/trace/track"
)

// RuleKind selects the co-presence rule of a search.
type RuleKind string

// The rules: close contact (within DistanceM metres) and spatiotemporal companion
// (the same H3 cell at CompanionRes).
const (
	CloseContact RuleKind = "close"
	Companion    RuleKind = "companion"
)

// ContactQuery asks for the contacts of one case. Zero values take the policy's
// defaults; errors name the JSON fields of POST /api/v1/trace/contacts.
type ContactQuery struct {
	// Case is the subject id of the case.
	Case int64
	// From and To bound the case's pings searched (inclusive); nil To is the case's
	// last ping, nil From is MaxWindow before To.
	From, To *time.Time
	// Rule is CloseContact (default) or Companion.
	Rule RuleKind
	// DistanceM, Tolerance and MinDuration override the close-contact rule; Res,
	// Tolerance and MinDuration the companion rule.
	DistanceM   float64
	Tolerance   *time.Duration
	MinDuration *time.Duration
	Res         *int
	// Degree is 1 (close contacts) or 2 (also their contacts); 0 is the policy's
	// Depth. The companion rule is searched to degree 1 only.
	Degree int
}

// Contact is a subject exposed to the case, with its evidence.
type Contact struct {
	// Rank orders the contacts: degree, then exposed minutes (most first), then
	// closeness (smallest distance first), then subject id.
	Rank    int
	Subject Subject
	Degree  int
	// Via is, for degree 2, the close contact through whom the subject was reached.
	Via          int64
	Minutes      int
	FirstAt      time.Time
	LastAt       time.Time
	MinDistanceM float64
	Encounters   []copresence.Encounter
}

// Result is one tracing search: the window, the rule and its parameters, the
// contacts ranked, and the case's stays (exposure places) in the window.
type Result struct {
	Case     Subject
	Window   Window
	Kind     RuleKind
	Degree   int
	Rule     string // copresence.Rule.String or CompanionRule.String
	Params   map[string]any
	Contacts []Contact
	Stays    []stay.Stay
	// StayRule is the stay rule the stays were detected with.
	StayRule string
	// CasePings is the number of the case's pings in the window, LoadedPings every
	// ping the search read from the database.
	CasePings, LoadedPings int
	// Load and Search split the time taken: reading candidates from PostGIS, and the
	// pure co-presence search over them.
	Load, Search time.Duration
}

// Run is a stored tracing search.
type Run struct {
	ID         int64
	ComputedAt time.Time
	Result
}

// search is a validated query: the rule, its H3 probe and the window.
type search struct {
	kind      RuleKind
	degree    int
	rule      copresence.Rule
	companion copresence.CompanionRule
	params    map[string]any
	res       int // probe resolution (never finer than the stored PingRes)
	k         int // probe the cells within k steps of the source ping's cell
	tol       time.Duration
	ruleText  string
}

// plan validates q against the policy.
func (s *Store) plan(q ContactQuery) (search, error) {
	pol := s.policy
	sr := search{kind: q.Rule, degree: q.Degree}
	if sr.kind == "" {
		sr.kind = CloseContact
	}
	if q.Tolerance != nil {
		pol.Tolerance = *q.Tolerance
	}
	if q.Tolerance != nil && (*q.Tolerance < 0 || *q.Tolerance > copresence.MaxTolerance) {
		return sr, grid.Errorf(grid.Invalid, "tolerance", "must be between 0 and %s", copresence.MaxTolerance)
	}
	if q.MinDuration != nil && *q.MinDuration < 0 {
		return sr, grid.Errorf(grid.Invalid, "min_duration", "must not be negative")
	}
	if sr.degree == 0 {
		sr.degree = pol.Depth
	}
	if sr.degree < 1 || sr.degree > 2 {
		return sr, grid.Errorf(grid.Invalid, "degree", "must be 1 (close contacts) or 2 (also their contacts), not %d", q.Degree)
	}
	sr.tol = pol.Tolerance
	switch sr.kind {
	case CloseContact:
		if q.Res != nil {
			return sr, grid.Errorf(grid.Invalid, "res", "applies to the companion rule only")
		}
		if q.DistanceM != 0 {
			pol.DistanceM = q.DistanceM
		}
		if q.MinDuration != nil {
			pol.MinDuration = *q.MinDuration
		}
		if !(pol.DistanceM > 0) || pol.DistanceM > copresence.MaxDistanceM {
			return sr, grid.Errorf(grid.Invalid, "distance_m", "must be more than 0 and at most %d metres", copresence.MaxDistanceM)
		}
		sr.rule = pol.ContactRule()
		// An empty index tells the resolution the search hashes at for this distance.
		ix, err := copresence.NewIndex(nil, sr.rule)
		if err != nil {
			return sr, grid.Errorf(grid.Invalid, "distance_m", "%v", err)
		}
		// The pure search probes the 7 cells around a ping at its resolution. At the
		// stored resolution the stored cell is that cell; at a coarser one the probe
		// reads stored cells by their hierarchical ancestor, which is the point's own
		// cell or a neighbour of it (H3 children do not nest exactly in their
		// parent: geo's TestAncestorNearCell), so the disk grows by one.
		sr.res, sr.k, sr.ruleText = min(ix.Resolution(), pol.PingRes), 1, sr.rule.String()
		if sr.res < pol.PingRes {
			sr.k = 2
		}
		sr.params = map[string]any{"distance_m": pol.DistanceM, "tolerance_s": pol.Tolerance.Seconds(), "min_duration_s": pol.MinDuration.Seconds()}
	case Companion:
		if q.DistanceM != 0 {
			return sr, grid.Errorf(grid.Invalid, "distance_m", "applies to the close-contact rule only")
		}
		if q.Res != nil {
			pol.CompanionRes = *q.Res
		}
		if q.MinDuration != nil {
			pol.CompanionMin = *q.MinDuration
		}
		if q.Degree == 2 {
			return sr, grid.Errorf(grid.Invalid, "degree", "the companion rule is searched to degree 1 only")
		}
		sr.degree = 1
		sr.companion = pol.CompanionRule()
		if err := sr.companion.Validate(); err != nil {
			return sr, grid.Errorf(grid.Invalid, "res", "%v", err)
		}
		// At the stored resolution the shared cell is the stored cell. Otherwise the
		// stored cells to read are those whose ancestor at CompanionRes is the cell
		// or a neighbour (see above), or, when the stored cells are coarser than the
		// shared one, the stored cell of the ping or a neighbour (a fine cell may
		// straddle coarse ones).
		sr.res, sr.ruleText = min(pol.CompanionRes, pol.PingRes), sr.companion.String()
		if pol.CompanionRes != pol.PingRes {
			sr.k = 1
		}
		sr.params = map[string]any{"res": pol.CompanionRes, "tolerance_s": pol.Tolerance.Seconds(), "min_duration_s": pol.CompanionMin.Seconds()}
	default:
		return sr, grid.Errorf(grid.Invalid, "rule", "%q: want close or companion", q.Rule)
	}
	sr.params["degree"] = sr.degree
	return sr, nil
}

// FindContacts runs the co-presence search for q.Case and stores nothing. It reads
// from PostGIS only what can matter: the case's pings in the window, then every
// other ping in the H3 cells around them (at the rule's resolution, as ranges of the
// stored cells) within the time tolerance; for degree 2, each close contact's pings
// from its first encounter to the end of the window and the pings around those. On
// these it runs trace/copresence, the reference implementation, so the answer is the
// pure search's over all pings (every co-located pair is among the candidates: a
// ping within the distance lies in a probed cell, see copresence's package comment).
//
// Errors: NotFound for an unknown case, or no pings of the case in the window (the
// message says when its pings are); Invalid naming the field for a bad parameter or
// a window longer than the policy's MaxWindow (field "from").
func (s *Store) FindContacts(ctx context.Context, c grid.Caller, q ContactQuery) (Result, error) {
	var res Result
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, err = s.findContacts(ctx, tx, c.User, q)
		if err != nil {
			return err
		}
		return auditSubjects(ctx, tx, c, "trace_contacts", q.Case, resultSubjects(res)...)
	})
	return res, err
}

func resultSubjects(res Result) []Subject {
	subs := []Subject{res.Case}
	for _, ct := range res.Contacts {
		subs = append(subs, ct.Subject)
	}
	return subs
}

func (s *Store) findContacts(ctx context.Context, tx pgx.Tx, u grid.User, q ContactQuery) (Result, error) {
	sr, err := s.plan(q)
	if err != nil {
		return Result{}, err
	}
	cs, err := subject(ctx, tx, u, q.Case)
	if err != nil {
		if grid.KindOf(err) == grid.NotFound {
			return Result{}, grid.Errorf(grid.NotFound, "case", "no trace subject %d", q.Case)
		}
		return Result{}, err
	}
	w, err := s.window(cs, q.From, q.To)
	if err != nil {
		if grid.KindOf(err) == grid.NotFound {
			return Result{}, grid.Errorf(grid.NotFound, "case", "case %d (%s) has no pings at all: load its trajectory first", cs.ID, cs.ExtID)
		}
		return Result{}, err
	}
	if w.To.Sub(w.From) > s.policy.MaxWindow {
		return Result{}, grid.Errorf(grid.Invalid, "from", "the window %s – %s is longer than %s, the longest look-back of the policy",
			w.From.Format(time.RFC3339), w.To.Format(time.RFC3339), s.policy.MaxWindow)
	}
	res := Result{Case: cs, Window: w, Kind: sr.kind, Degree: sr.degree, Rule: sr.ruleText, Params: sr.params,
		StayRule: s.policy.StayRule()}

	start := time.Now()
	casePings, err := subjectPings(ctx, tx, cs.ID, w.From, w.To, 0)
	if err != nil {
		return res, err
	}
	if len(casePings) == 0 {
		return res, grid.Errorf(grid.NotFound, "case", "case %d (%s) has no pings between %s and %s (its pings run from %s to %s)",
			cs.ID, cs.ExtID, w.From.Format(time.RFC3339), w.To.Format(time.RFC3339),
			cs.FirstAt.UTC().Format(time.RFC3339), cs.LastAt.UTC().Format(time.RFC3339))
	}
	res.CasePings = len(casePings)
	loaded := map[int64][]track.Ping{cs.ID: casePings}
	if err := s.loadAround(ctx, tx, sr, cs.ID, [][]track.Ping{casePings}, loaded); err != nil {
		return res, err
	}
	res.Load += time.Since(start)

	start = time.Now()
	contacts, err := sr.trace(loaded, cs.ID, w, 1)
	if err != nil {
		return res, err
	}
	res.Search += time.Since(start)

	if sr.degree == 2 && len(contacts) > 0 {
		// Each close contact's own pings from its first encounter to the end of the
		// window are the sources of degree 2: load them whole, then what is around.
		start = time.Now()
		var sources [][]track.Ping
		for _, ct := range contacts {
			id, _ := strconv.ParseInt(ct.Person, 10, 64)
			ps, err := subjectPings(ctx, tx, id, ct.Encounters[0].Start, w.To, 0)
			if err != nil {
				return res, err
			}
			loaded[id] = append(loaded[id], ps...)
			sources = append(sources, ps)
		}
		if err := s.loadAround(ctx, tx, sr, cs.ID, sources, loaded); err != nil {
			return res, err
		}
		res.Load += time.Since(start)
		start = time.Now()
		if contacts, err = sr.trace(loaded, cs.ID, w, 2); err != nil {
			return res, err
		}
		res.Search += time.Since(start)
	}
	for _, ps := range loaded {
		res.LoadedPings += len(ps)
	}
	res.Stays = stay.Detect(casePings, s.policy.StayRadiusM, s.policy.StayMin)
	res.Contacts, err = rankContacts(ctx, tx, u, contacts)
	return res, err
}

// trace builds the index over the loaded pings (deduplicated: the degree-2 loads
// overlap the first) and runs the pure search.
func (sr search) trace(loaded map[int64][]track.Ping, caseID int64, w Window, depth int) ([]copresence.Contact, error) {
	trajs := make([]track.Trajectory, 0, len(loaded))
	for id, ps := range loaded {
		slices.SortFunc(ps, func(a, b track.Ping) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Point[0], b.Point[0]), cmp.Compare(a.Point[1], b.Point[1]))
		})
		// Dropping an exact repeat (same time and place) changes no exposed minute
		// and no distance, so the answer stays the pure search's over all pings.
		ps = slices.Compact(ps)
		loaded[id] = ps
		trajs = append(trajs, track.Trajectory{Person: strconv.FormatInt(id, 10), Pings: ps})
	}
	var ix *copresence.Index
	var err error
	if sr.kind == Companion {
		ix, err = copresence.NewCompanionIndex(trajs, sr.companion)
	} else {
		ix, err = copresence.NewIndex(trajs, sr.rule)
	}
	if err != nil {
		return nil, fmt.Errorf("index pings: %w", err)
	}
	out, err := ix.Trace(copresence.Query{Case: strconv.FormatInt(caseID, 10), From: w.From, To: w.To, Depth: depth})
	if errors.Is(err, copresence.ErrNoPings) || errors.Is(err, copresence.ErrUnknownPerson) {
		return nil, grid.Errorf(grid.NotFound, "case", "case %d has no pings in the window", caseID)
	}
	if err != nil {
		return nil, fmt.Errorf("search contacts: %w", err)
	}
	return out, nil
}

// probe is one index range read: stored cells lo..hi within [t0, t1].
type probe struct {
	lo, hi geo.Cell
	t0, t1 time.Time
}

// probes lists the (cell range, time range) reads that cover every ping co-present
// with one of sources under sr: for each run of consecutive source pings in one cell
// at sr.res, the cells within sr.k steps of it, from the run's first ping −
// tolerance to its last + tolerance; each cell is read as the range of its stored
// descendants. Time ranges of a cell are merged, so the reads return each ping once.
func (sr search) probes(sources [][]track.Ping, pingRes int) ([]probe, error) {
	spans := map[geo.Cell][]Window{}
	add := func(c geo.Cell, from, to time.Time) error {
		cells, err := c.Disk(sr.k)
		if err != nil {
			return err
		}
		for _, x := range cells {
			spans[x] = append(spans[x], Window{from.Add(-sr.tol), to.Add(sr.tol)})
		}
		return nil
	}
	for _, ps := range sources {
		var cur geo.Cell
		var from, to time.Time
		for i, p := range ps {
			c, err := geo.CellOf(p.Point, sr.res)
			if err != nil {
				return nil, err
			}
			if i > 0 && c == cur {
				to = p.Time
				continue
			}
			if i > 0 {
				if err := add(cur, from, to); err != nil {
					return nil, err
				}
			}
			cur, from, to = c, p.Time, p.Time
		}
		if len(ps) > 0 {
			if err := add(cur, from, to); err != nil {
				return nil, err
			}
		}
	}
	var out []probe
	for c, ws := range spans {
		lo, hi, err := c.DescendantRange(pingRes)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(ws, func(a, b Window) int { return a.From.Compare(b.From) })
		cur := ws[0]
		for _, w := range ws[1:] {
			if !w.From.After(cur.To) {
				if w.To.After(cur.To) {
					cur.To = w.To
				}
				continue
			}
			out = append(out, probe{lo, hi, cur.From, cur.To})
			cur = w
		}
		out = append(out, probe{lo, hi, cur.From, cur.To})
	}
	// In cell order the reads walk the (h3, ts) index forward.
	slices.SortFunc(out, func(a, b probe) int { return cmp.Or(cmp.Compare(a.lo, b.lo), a.t0.Compare(b.t0)) })
	return out, nil
}

// loadAround reads every ping (but the case's) in the probes around sources and
// adds them to loaded, by subject.
func (s *Store) loadAround(ctx context.Context, tx pgx.Tx, sr search, caseID int64, sources [][]track.Ping, loaded map[int64][]track.Ping) error {
	ps, err := sr.probes(sources, s.policy.PingRes)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	lo, hi := make([]int64, len(ps)), make([]int64, len(ps))
	t0, t1 := make([]time.Time, len(ps)), make([]time.Time, len(ps))
	for i, p := range ps {
		lo[i], hi[i], t0[i], t1[i] = int64(p.lo), int64(p.hi), p.t0, p.t1
	}
	// One statement: each probe is an index range scan of (h3, ts) in the partitions
	// its time range touches (run-time partition pruning on the lateral parameters).
	rows, err := tx.Query(ctx, `
		SELECT p.subject_id, p.ts, ST_X(p.geom), ST_Y(p.geom)
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[]) AS q(lo, hi, t0, t1)
		CROSS JOIN LATERAL (
			SELECT subject_id, ts, geom FROM pings
			WHERE h3 BETWEEN q.lo AND q.hi AND ts BETWEEN q.t0 AND q.t1
		) p
		WHERE p.subject_id <> $5`, lo, hi, t0, t1, caseID)
	if err != nil {
		return dbErr("read candidate pings", err)
	}
	var id int64
	var p track.Ping
	_, err = pgx.ForEachRow(rows, []any{&id, &p.Time, &p.Point[0], &p.Point[1]}, func() error {
		p.Time = p.Time.UTC()
		loaded[id] = append(loaded[id], p)
		return nil
	})
	if err != nil {
		return dbErr("read candidate pings", err)
	}
	return nil
}

// rankContacts attaches the subjects to the pure search's contacts and ranks them.
func rankContacts(ctx context.Context, q querier, u grid.User, found []copresence.Contact) ([]Contact, error) {
	out := make([]Contact, 0, len(found))
	ids := make([]int64, 0, len(found))
	for _, f := range found {
		id, err := strconv.ParseInt(f.Person, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("contact id %q: %w", f.Person, err)
		}
		ct := Contact{Subject: Subject{ID: id}, Degree: f.Degree, Minutes: f.Minutes, Encounters: f.Encounters}
		if f.Via != "" {
			ct.Via, _ = strconv.ParseInt(f.Via, 10, 64)
		}
		ct.FirstAt, ct.LastAt = f.Encounters[0].Start, f.Encounters[len(f.Encounters)-1].End
		ct.MinDistanceM = f.Encounters[0].MinDistanceM
		for _, e := range f.Encounters {
			ct.MinDistanceM = min(ct.MinDistanceM, e.MinDistanceM)
		}
		out = append(out, ct)
		ids = append(ids, id)
	}
	subs, err := subjectsByID(ctx, q, u, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Subject = subs[out[i].Subject.ID]
	}
	slices.SortFunc(out, func(a, b Contact) int {
		return cmp.Or(cmp.Compare(a.Degree, b.Degree), cmp.Compare(b.Minutes, a.Minutes),
			cmp.Compare(a.MinDistanceM, b.MinDistanceM), cmp.Compare(a.Subject.ID, b.Subject.ID))
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out, nil
}

// TraceContacts runs FindContacts and stores the run: its parameters and rule, the
// ranked contacts with their encounters as evidence, and the case's stays in the
// window as numbered exposure places, all in one transaction. Errors as for
// FindContacts; nothing is written when the search fails.
func (s *Store) TraceContacts(ctx context.Context, c grid.Caller, q ContactQuery) (Run, error) {
	var run Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res, err := s.findContacts(ctx, tx, c.User, q)
		if err != nil {
			return err
		}
		run.Result = res
		err = tx.QueryRow(ctx, `
			INSERT INTO trace_runs (case_subject_id, rule_kind, window_from, window_to, degree, params, rule, rule_version,
				case_pings, loaded_pings, contacts, computed_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULLIF($12::bigint, 0))
			RETURNING id, computed_at`,
			res.Case.ID, string(res.Kind), res.Window.From, res.Window.To, res.Degree, res.Params, res.Rule, s.policy.Version,
			res.CasePings, res.LoadedPings, len(res.Contacts), c.User.ID).Scan(&run.ID, &run.ComputedAt)
		if err != nil {
			return dbErr("record run", err)
		}
		if len(res.Contacts) > 0 {
			_, err = tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"run_id", "case_subject_id", "contact_subject_id", "degree",
				"via_subject_id", "rank", "first_at", "last_at", "minutes", "min_distance_m", "evidence", "rule_version", "computed_at"},
				pgx.CopyFromSlice(len(res.Contacts), func(i int) ([]any, error) {
					ct := res.Contacts[i]
					var via *int64
					if ct.Via != 0 {
						via = &ct.Via
					}
					return []any{run.ID, res.Case.ID, ct.Subject.ID, int16(ct.Degree), via, ct.Rank, ct.FirstAt, ct.LastAt,
						ct.Minutes, ct.MinDistanceM, EncounterEvidence(ct.Encounters), s.policy.Version, run.ComputedAt}, nil
				}))
			if err != nil {
				return dbErr("store contacts", err)
			}
		}
		if len(res.Stays) > 0 {
			_, err = tx.CopyFrom(ctx, pgx.Identifier{"stays"}, []string{"run_id", "subject_id", "seq", "arrival", "departure", "geom",
				"pings", "rule", "rule_version", "computed_at"},
				pgx.CopyFromSlice(len(res.Stays), func(i int) ([]any, error) {
					st := res.Stays[i]
					return []any{run.ID, res.Case.ID, i + 1, st.Arrival, st.Departure, pointEWKB(st.Centroid),
						st.Pings, res.StayRule, s.policy.Version, run.ComputedAt}, nil
				}))
			if err != nil {
				return dbErr("store stays", err)
			}
		}
		return auditSubjects(ctx, tx, c, "trace_run", run.ID, resultSubjects(res)...)
	})
	return run, err
}

// EncounterJSON is one encounter as stored in contacts.evidence and answered by the
// API: times in UTC, the closest distance in metres and where ([lng, lat]).
type EncounterJSON struct {
	Start        time.Time  `json:"start"`
	End          time.Time  `json:"end"`
	Minutes      int        `json:"minutes"`
	MinDistanceM float64    `json:"min_distance_m"`
	Where        [2]float64 `json:"where"`
}

// EncounterEvidence turns encounters into their stored form.
func EncounterEvidence(es []copresence.Encounter) []EncounterJSON {
	out := make([]EncounterJSON, len(es))
	for i, e := range es {
		out[i] = EncounterJSON{Start: e.Start.UTC(), End: e.End.UTC(), Minutes: e.Minutes, MinDistanceM: e.MinDistanceM, Where: [2]float64{e.Where[0], e.Where[1]}}
	}
	return out
}

func pointEWKB(p orb.Point) []byte {
	var b [25]byte
	putEWKBPoint(&b, p)
	return b[:]
}
