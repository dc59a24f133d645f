package trace

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace/track"
)

// Format is a file format of pings.
type Format string

// The ping formats: GeoLife .plt (one person per file), CSV (person,time,lat,lng),
// GPX (one person per file) and GeoJSON (LineString, MultiLineString, MultiPoint or
// Point features with times; see track.ReadGeoJSON).
const (
	PLT     Format = "plt"
	CSV     Format = "csv"
	GPX     Format = "gpx"
	GeoJSON Format = "geojson"
)

// Formats lists the ping formats.
var Formats = []Format{PLT, CSV, GPX, GeoJSON}

// ParseFormat checks a format name (case-insensitive; "json" means GeoJSON).
// Errors: Invalid, field "format".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case PLT, CSV, GPX, GeoJSON:
		return f, nil
	case "json":
		return GeoJSON, nil
	}
	return "", grid.Errorf(grid.Invalid, "format", "%q is not a ping format (plt, csv, gpx, geojson)", s)
}

// FormatOf guesses the format from a file name's extension (.gz ignored).
func FormatOf(name string) (Format, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch path.Ext(name) {
	case ".plt":
		return PLT, true
	case ".csv":
		return CSV, true
	case ".gpx":
		return GPX, true
	case ".geojson", ".json":
		return GeoJSON, true
	}
	return "", false
}

// ReadPings reads one file of pings in format f. name names the input in errors;
// person is the subject of a .plt or GPX file, and of GeoJSON features without
// properties.person. Errors: Invalid with the reader's message (file, line or
// JSON path, field) and Field set to the column or check at fault, wrapping the
// *track.ParseError; Invalid (field "person") when a single-person format has no
// person.
func ReadPings(r io.Reader, f Format, name, person string) ([]track.Trajectory, error) {
	var trajs []track.Trajectory
	var err error
	switch f {
	case PLT:
		if person == "" {
			return nil, grid.Errorf(grid.Invalid, "person", "a .plt file holds one person's pings: name the person")
		}
		var pings []track.Ping
		pings, err = track.ReadPLT(r, name)
		trajs = []track.Trajectory{{Person: person, Pings: pings}}
	case CSV:
		trajs, err = track.ReadCSV(r, name)
	case GPX:
		if person == "" {
			return nil, grid.Errorf(grid.Invalid, "person", "a GPX file holds one person's track: name the person")
		}
		var tr track.Trajectory
		tr, err = track.ReadGPX(r, name, person)
		trajs = []track.Trajectory{tr}
	case GeoJSON:
		trajs, err = track.ReadGeoJSON(r, name, person)
	default:
		return nil, grid.Errorf(grid.Invalid, "format", "%q is not a ping format (plt, csv, gpx, geojson)", f)
	}
	if err != nil {
		return nil, parseErr(err)
	}
	return trajs, nil
}

// parseErr turns a reader's ParseError into an Invalid domain error whose message
// names the file, line (or JSON path) and field.
func parseErr(err error) error {
	var pe *track.ParseError
	if errors.As(err, &pe) {
		return &grid.Error{Kind: grid.Invalid, Field: pe.Field, Message: pe.Error(), Err: err}
	}
	return err
}

// gpsEpoch is the earliest ping time accepted: GPS time starts on 1980-01-06, so an
// earlier fix is a clock error (often the Unix epoch of an unset phone clock).
var gpsEpoch = time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC)

// futureSlack is how far ahead of the server clock a ping may be: clocks drift, but a
// fix from tomorrow is a wrong clock.
const futureSlack = 24 * time.Hour

// MaxIngestPings bounds one IngestPings call (one file or request): it is held in
// memory and loaded in one transaction.
const MaxIngestPings = 20_000_000

// IngestReport says what one IngestPings call loaded.
type IngestReport struct {
	// Batch is the id of the ping_batches row recording the load.
	Batch int64
	// Pings is the number of pings loaded; Subjects lists them per subject, in the
	// order given.
	Pings    int
	Subjects []IngestedSubject
	// NewSubjects counts the subjects created by this load.
	NewSubjects int
	// Days is the number of UTC days the pings fall on, Created the day partitions
	// this load had to create.
	Days, Created int
	// First and Last bound the pings' times.
	First, Last time.Time
}

// IngestedSubject is one subject's share of a load.
type IngestedSubject struct {
	ID    int64
	ExtID string
	Pings int
	New   bool
}

// IngestPings loads the trajectories of one file or request: each trajectory's
// person id becomes (or finds) a trace subject by ext_id, and its pings are copied
// with their H3 cell at the policy's PingRes, sorted by time across subjects (so the
// BRIN index on ts stays selective). Everything is checked before anything is
// written, and the pings load in one transaction, so a bad input changes nothing.
// The day partitions the pings need are created first, in their own short
// transaction under an advisory lock (an empty partition left by a failed load is
// harmless and reused).
//
// Errors (Invalid unless said): no pings; an empty or over-long person id, or one
// given twice; a trajectory out of time order; a coordinate out of range; a time
// before the GPS epoch (1980-01-06) or more than a day ahead of the server clock;
// more than MaxIngestPings pings; Conflict when the same pings (same persons, times
// and positions, whatever the format or source) were loaded before, which a retried
// upload would otherwise double.
func (s *Store) IngestPings(ctx context.Context, c grid.Caller, source string, trajs []track.Trajectory) (IngestReport, error) {
	rep, days, digest, err := s.checkPings(source, trajs)
	if err != nil {
		return rep, err
	}
	if rep.Created, err = s.ensurePartitions(ctx, days); err != nil {
		return rep, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var prior int64
		var at time.Time
		err := tx.QueryRow(ctx, `SELECT id, created_at FROM ping_batches WHERE digest = $1`, digest).Scan(&prior, &at)
		if err == nil {
			return grid.Errorf(grid.Conflict, "", "these pings were already loaded (batch %d, %s)", prior, at.UTC().Format(time.RFC3339))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return dbErr("check batch", err)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO ping_batches (source, digest, subjects, pings, first_at, last_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7::bigint, 0)) RETURNING id`,
			source, digest, len(trajs), rep.Pings, rep.First, rep.Last, c.User.ID).Scan(&rep.Batch); err != nil {
			return dbErr("record batch", err)
		}
		ids, err := upsertSubjects(ctx, tx, &rep)
		if err != nil {
			return err
		}
		src := newPingSource(trajs, ids, source, s.policy.PingRes)
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"pings"}, []string{"subject_id", "ts", "geom", "h3", "source"}, src)
		if err != nil {
			return dbErr("copy pings", err)
		}
		if int(n) != rep.Pings {
			return fmt.Errorf("copy pings: %d rows written, %d expected", n, rep.Pings)
		}
		return updateSummaries(ctx, tx, trajs, ids)
	})
	if err != nil {
		return IngestReport{}, err
	}
	return rep, nil
}

// checkPings validates a load and prepares its report, its UTC days (Unix days) and
// the digest of its content.
func (s *Store) checkPings(source string, trajs []track.Trajectory) (IngestReport, []int64, []byte, error) {
	var rep IngestReport
	if utf8.RuneCountInString(source) > 200 || !utf8.ValidString(source) {
		return rep, nil, nil, grid.Errorf(grid.Invalid, "source", "must be valid text of at most 200 characters")
	}
	latest := s.now().Add(futureSlack)
	seen := map[string]bool{}
	daySet := map[int64]bool{}
	for i, tr := range trajs {
		field := fmt.Sprintf("trajectories[%d]", i)
		switch {
		case tr.Person == "":
			return rep, nil, nil, grid.Errorf(grid.Invalid, field+".person", "is empty")
		case utf8.RuneCountInString(tr.Person) > 200 || !utf8.ValidString(tr.Person):
			return rep, nil, nil, grid.Errorf(grid.Invalid, field+".person", "%.40q…: must be valid text of at most 200 characters", tr.Person)
		case seen[tr.Person]:
			return rep, nil, nil, grid.Errorf(grid.Invalid, field+".person", "%q appears twice in one load", tr.Person)
		}
		seen[tr.Person] = true
		if err := track.CheckOrder(tr.Pings); err != nil {
			return rep, nil, nil, grid.Errorf(grid.Invalid, field+".pings", "person %q: %v", tr.Person, err)
		}
		lastDay := int64(math.MinInt64)
		for j, p := range tr.Pings {
			if err := geo.ValidLngLat(p.Point[0], p.Point[1]); err != nil {
				var ce *geo.CoordError
				reason := err.Error()
				if errors.As(err, &ce) {
					reason = ce.Field + " " + ce.Reason
				}
				return rep, nil, nil, grid.Errorf(grid.Invalid, fmt.Sprintf("%s.pings[%d]", field, j), "person %q at %s: %s", tr.Person, p.Time.UTC().Format(time.RFC3339), reason)
			}
			if p.Time.Before(gpsEpoch) || p.Time.After(latest) {
				return rep, nil, nil, grid.Errorf(grid.Invalid, fmt.Sprintf("%s.pings[%d]", field, j), "person %q: time %s is before the GPS epoch (1980-01-06) or more than a day ahead of the server clock", tr.Person, p.Time.UTC().Format(time.RFC3339))
			}
			if day := unixDay(p.Time); day != lastDay {
				daySet[day], lastDay = true, day
			}
		}
		rep.Pings += len(tr.Pings)
		rep.Subjects = append(rep.Subjects, IngestedSubject{ExtID: tr.Person, Pings: len(tr.Pings)})
		if n := len(tr.Pings); n > 0 {
			if rep.First.IsZero() || tr.Pings[0].Time.Before(rep.First) {
				rep.First = tr.Pings[0].Time.UTC()
			}
			if tr.Pings[n-1].Time.After(rep.Last) {
				rep.Last = tr.Pings[n-1].Time.UTC()
			}
		}
	}
	if rep.Pings == 0 {
		return rep, nil, nil, grid.Errorf(grid.Invalid, "pings", "nothing to load: no pings")
	}
	if rep.Pings > MaxIngestPings {
		return rep, nil, nil, grid.Errorf(grid.Invalid, "pings", "%d pings in one load: at most %d (split the file)", rep.Pings, MaxIngestPings)
	}
	days := make([]int64, 0, len(daySet))
	for d := range daySet {
		days = append(days, d)
	}
	slices.Sort(days)
	rep.Days = len(days)
	return rep, days, digestOf(trajs), nil
}

// digestOf hashes the content of a load independently of the order of persons: each
// person id with its pings' times (ns) and coordinates (IEEE bits).
func digestOf(trajs []track.Trajectory) []byte {
	order := make([]int, len(trajs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(trajs[a].Person, trajs[b].Person) })
	h := sha256.New()
	var buf [24]byte
	for _, i := range order {
		tr := trajs[i]
		binary.LittleEndian.PutUint64(buf[:8], uint64(len(tr.Person)))
		h.Write(buf[:8])
		h.Write([]byte(tr.Person))
		binary.LittleEndian.PutUint64(buf[:8], uint64(len(tr.Pings)))
		h.Write(buf[:8])
		for _, p := range tr.Pings {
			binary.LittleEndian.PutUint64(buf[0:], uint64(p.Time.UnixNano()))
			binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(p.Point[0]))
			binary.LittleEndian.PutUint64(buf[16:], math.Float64bits(p.Point[1]))
			h.Write(buf[:])
		}
	}
	return h.Sum(nil)
}

// unixDay is the UTC day of t, counted from 1970-01-01.
func unixDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// partitionLockKey is the advisory lock serialising partition creation (a hash of
// "gridtrace.pings.partitions", fixed so every server instance uses the same one).
func partitionLockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("gridtrace.pings.partitions"))
	return int64(h.Sum64())
}

// ensurePartitions creates the missing day partitions of pings for the given Unix
// days and returns how many it created. It runs in its own short transaction under
// an advisory lock, so concurrent loads never race to create the same day. A
// partition is created as a plain table and then attached: ATTACH PARTITION needs
// only a SHARE UPDATE EXCLUSIVE lock on pings, so reads and other loads go on, where
// CREATE TABLE … PARTITION OF would take an ACCESS EXCLUSIVE lock and queue every
// reader behind a running load.
func (s *Store) ensurePartitions(ctx context.Context, days []int64) (int, error) {
	created := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLockKey()); err != nil {
			return dbErr("lock partitions", err)
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'pings'::regclass`)
		if err != nil {
			return dbErr("list partitions", err)
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr("list partitions", err)
		}
		for _, d := range days {
			name := PartitionName(d)
			if slices.Contains(have, name) {
				continue
			}
			from := time.Unix(d*86400, 0).UTC()
			to := from.AddDate(0, 0, 1)
			id := pgx.Identifier{name}.Sanitize()
			if _, err := tx.Exec(ctx, `CREATE TABLE `+id+` (LIKE pings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`); err != nil {
				return dbErr("create partition "+name, err)
			}
			// Timestamps are written with their zone so the bounds are UTC midnights
			// whatever the session's TimeZone.
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE pings ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
				id, from.Format(time.RFC3339), to.Format(time.RFC3339))); err != nil {
				return dbErr("attach partition "+name, err)
			}
			created++
		}
		return nil
	})
	return created, err
}

// PartitionName is the name of the pings partition of a Unix day: pings_YYYYMMDD.
func PartitionName(unixDay int64) string {
	return "pings_" + time.Unix(unixDay*86400, 0).UTC().Format("20060102")
}

// upsertSubjects finds or creates the subjects of a load by ext_id and fills the
// report's ids; it returns the id of each trajectory, in order.
func upsertSubjects(ctx context.Context, tx pgx.Tx, rep *IngestReport) ([]int64, error) {
	ext := make([]string, len(rep.Subjects))
	for i, sb := range rep.Subjects {
		ext[i] = sb.ExtID
	}
	rows, err := tx.Query(ctx, `INSERT INTO trace_subjects (ext_id) SELECT unnest($1::text[])
		ON CONFLICT (ext_id) DO NOTHING RETURNING ext_id`, ext)
	if err != nil {
		return nil, dbErr("create subjects", err)
	}
	created, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbErr("create subjects", err)
	}
	isNew := map[string]bool{}
	for _, e := range created {
		isNew[e] = true
	}
	rows, err = tx.Query(ctx, `SELECT ext_id, id FROM trace_subjects WHERE ext_id = ANY($1::text[])`, ext)
	if err != nil {
		return nil, dbErr("read subjects", err)
	}
	byExt := map[string]int64{}
	var e string
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&e, &id}, func() error { byExt[e] = id; return nil }); err != nil {
		return nil, dbErr("read subjects", err)
	}
	ids := make([]int64, len(ext))
	for i := range rep.Subjects {
		sb := &rep.Subjects[i]
		sb.ID, sb.New = byExt[sb.ExtID], isNew[sb.ExtID]
		if sb.New {
			rep.NewSubjects++
		}
		ids[i] = sb.ID
	}
	return ids, nil
}

// updateSummaries adds the load to each subject's ping count and time range.
func updateSummaries(ctx context.Context, tx pgx.Tx, trajs []track.Trajectory, ids []int64) error {
	var sid, n []int64
	var first, last []time.Time
	for i, tr := range trajs {
		if len(tr.Pings) == 0 {
			continue
		}
		sid = append(sid, ids[i])
		n = append(n, int64(len(tr.Pings)))
		first = append(first, tr.Pings[0].Time)
		last = append(last, tr.Pings[len(tr.Pings)-1].Time)
	}
	_, err := tx.Exec(ctx, `
		UPDATE trace_subjects s SET pings = s.pings + u.n,
			first_at = LEAST(s.first_at, u.first_at), last_at = GREATEST(s.last_at, u.last_at)
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[]) AS u(id, n, first_at, last_at)
		WHERE s.id = u.id`, sid, n, first, last)
	if err != nil {
		return dbErr("update subject summaries", err)
	}
	return nil
}

// pingSource streams a load to COPY in time order across subjects (a k-way merge of
// the time-ordered trajectories), computing each ping's cell and EWKB on the way.
type pingSource struct {
	trajs  []track.Trajectory
	ids    []int64
	source string
	res    int
	h      cursorHeap
	cur    cursor
	ewkb   [25]byte
	err    error
}

type cursor struct{ traj, i int }

type cursorHeap struct {
	trajs []track.Trajectory
	cs    []cursor
}

func (h *cursorHeap) Len() int { return len(h.cs) }
func (h *cursorHeap) Less(a, b int) bool {
	ca, cb := h.cs[a], h.cs[b]
	if c := h.trajs[ca.traj].Pings[ca.i].Time.Compare(h.trajs[cb.traj].Pings[cb.i].Time); c != 0 {
		return c < 0
	}
	return ca.traj < cb.traj
}
func (h *cursorHeap) Swap(a, b int) { h.cs[a], h.cs[b] = h.cs[b], h.cs[a] }
func (h *cursorHeap) Push(x any)    { h.cs = append(h.cs, x.(cursor)) }
func (h *cursorHeap) Pop() any {
	x := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return x
}

func newPingSource(trajs []track.Trajectory, ids []int64, source string, res int) *pingSource {
	ps := &pingSource{trajs: trajs, ids: ids, source: source, res: res, h: cursorHeap{trajs: trajs}}
	for i, tr := range trajs {
		if len(tr.Pings) > 0 {
			ps.h.cs = append(ps.h.cs, cursor{traj: i})
		}
	}
	heap.Init(&ps.h)
	return ps
}

// putEWKBPoint writes p as the EWKB of a point with SRID 4326, little-endian: byte
// order, type with the SRID flag, SRID, x, y. PostGIS's binary input for geometry
// reads it directly, so COPY needs no ST_ function per row.
func putEWKBPoint(b *[25]byte, p orb.Point) {
	b[0] = 1
	binary.LittleEndian.PutUint32(b[1:], 1|0x20000000)
	binary.LittleEndian.PutUint32(b[5:], 4326)
	binary.LittleEndian.PutUint64(b[9:], math.Float64bits(p[0]))
	binary.LittleEndian.PutUint64(b[17:], math.Float64bits(p[1]))
}

// Next advances to the next ping in time order.
func (ps *pingSource) Next() bool {
	if ps.err != nil || len(ps.h.cs) == 0 {
		return false
	}
	ps.cur = ps.h.cs[0]
	if next := ps.cur.i + 1; next < len(ps.trajs[ps.cur.traj].Pings) {
		ps.h.cs[0].i = next
		heap.Fix(&ps.h, 0)
	} else {
		heap.Pop(&ps.h)
	}
	return true
}

// Values is the current row. COPY encodes it before asking for the next one, so
// the EWKB buffer is reused.
func (ps *pingSource) Values() ([]any, error) {
	p := ps.trajs[ps.cur.traj].Pings[ps.cur.i]
	cell, err := geo.CellOf(p.Point, ps.res)
	if err != nil {
		ps.err = err
		return nil, err
	}
	putEWKBPoint(&ps.ewkb, p.Point)
	return []any{ps.ids[ps.cur.traj], p.Time, ps.ewkb[:], int64(cell), ps.source}, nil
}

// Err is the error that stopped the stream, if any.
func (ps *pingSource) Err() error { return ps.err }
