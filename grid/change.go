package grid

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// The change feed. Every write appends a row to the changes table (the outbox) in its
// own transaction, with AppendChange; a statement-level trigger sends a payload-less
// NOTIFY gridtrace_changes, which PostgreSQL delivers only on commit. Each server runs
// a Listener that reads the outbox by id after a notification (and every PollEvery
// anyway, so a lost notification loses nothing) and publishes the changes, in id
// order and without gaps, to the live hub. Clients remember the last id they saw
// and, on reconnecting, read what they missed with ChangesSince.

// Change is one row of the change feed as its readers see it.
type Change struct {
	ID       int64  // increasing; the position in the feed
	Kind     string // what happened: "upsert", "delete", "import", "reassign", ...
	Entity   string // what it happened to: "household", "case", "zone", "areas", ...
	EntityID int64  // 0 for a change to many (a bulk load)
	AreaID   int64  // the finest area the change lies in; 0 for none
	// Ancestors are the ids from the district down to AreaID, plus those of the area
	// the entity left when it moved (payload "prev_area_id"): everyone whose
	// jurisdiction overlaps them hears of the change (see VisibleTo). Empty when the
	// change has no area.
	Ancestors []int64
	// BBox is where on the map the change lies (both places, for a move), so a map
	// knows which tiles to refresh; nil when unknown.
	BBox      *orb.Bound
	Payload   json.RawMessage // a JSON object; never personal data
	CreatedAt time.Time       // when the writing transaction started
}

// VisibleTo applies the jurisdiction rule of access.go to a change: admin hears of
// every change; anyone else of a change whose area (or former area) lies in or below
// one of their areas. A change with no area at all (a bulk load, a household outside
// every area) is for admin only, like the households outside every area themselves.
func (c Change) VisibleTo(u User) bool {
	if seesAll(u) {
		return true
	}
	for _, a := range u.AreaIDs {
		if slices.Contains(c.Ancestors, a) {
			return true
		}
	}
	return false
}

// ChangeInput is a change as a writer appends it.
type ChangeInput struct {
	Kind     string // required, e.g. "upsert"
	Entity   string // required, e.g. "household"
	EntityID int64  // 0: a change to many
	AreaID   int64  // the finest area of the entity after the change; 0: none
	// PrevAreaID is the entity's area before the change when it moved (0: it did not,
	// or it had none). It is stored in the payload as "prev_area_id", so the
	// jurisdiction the entity left hears that it left.
	PrevAreaID int64
	BBox       *orb.Bound // where the change lies; nil: unknown
	// Payload is marshalled to a JSON object (nil: {}). It reaches every client whose
	// jurisdiction covers the change, whatever their role: no personal data here,
	// only what a map needs to refresh (a version, counts, ids).
	Payload map[string]any
}

// AppendChange appends c to the change feed inside tx, the transaction of the write it
// describes, and returns its id. The NOTIFY goes out on commit; a rollback takes the
// row with it. Errors: Invalid for a missing kind or entity or a non-finite box.
//
// The statement assigns the transaction its id (pg_current_xact_id) before the
// change id is drawn from the sequence; the Listener relies on that to tell an id
// still held by a running transaction from one that never will commit.
func AppendChange(ctx context.Context, tx pgx.Tx, c ChangeInput) (int64, error) {
	if c.Kind == "" || c.Entity == "" {
		return 0, Errorf(Invalid, "", "a change needs a kind and an entity")
	}
	var bbox []float64
	if c.BBox != nil {
		bbox = []float64{c.BBox.Min[0], c.BBox.Min[1], c.BBox.Max[0], c.BBox.Max[1]}
		for _, v := range bbox {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, Errorf(Invalid, "bbox", "must be finite")
			}
		}
	}
	payload := c.Payload
	if c.PrevAreaID != 0 && c.PrevAreaID != c.AreaID {
		payload = make(map[string]any, len(c.Payload)+1)
		for k, v := range c.Payload {
			payload[k] = v
		}
		payload["prev_area_id"] = c.PrevAreaID
	}
	if payload == nil {
		payload = map[string]any{}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("change payload: %w", err)
	}
	// The MATERIALIZED CTE runs before the INSERT's projection draws nextval.
	var id int64
	err = tx.QueryRow(ctx, `
		WITH xact AS MATERIALIZED (SELECT pg_current_xact_id())
		INSERT INTO changes (kind, entity, entity_id, area_id, bbox, payload)
		SELECT $1, $2, NULLIF($3::bigint, 0), NULLIF($4::bigint, 0), $5::float8[], $6::jsonb FROM xact
		RETURNING id`,
		c.Kind, c.Entity, c.EntityID, c.AreaID, bbox, string(body)).Scan(&id)
	if err != nil {
		return 0, dbError("append change", err)
	}
	return id, nil
}

// MaxChangesPage caps one ChangesSince read.
const MaxChangesPage = 10000

// ChangesSince returns up to limit changes with ids above afterID, in id order, as
// committed now. It is the replay read of a reconnecting client. On its own it may
// skip an id whose transaction commits later (ids are drawn before commit, so a
// smaller one can commit after a bigger one is read): a live reader follows a
// Listener instead and replays only up to the Listener's position, below which
// nothing is in flight. Errors: Invalid for a limit outside 1..MaxChangesPage.
func (s *Store) ChangesSince(ctx context.Context, afterID int64, limit int) ([]Change, error) {
	if limit < 1 || limit > MaxChangesPage {
		return nil, Errorf(Invalid, "limit", "must be between 1 and %d", MaxChangesPage)
	}
	return changesAfter(ctx, s.pool, afterID, limit)
}

// LastChangeID is the largest change id committed, 0 for an empty feed.
func (s *Store) LastChangeID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM changes`).Scan(&id); err != nil {
		return 0, dbError("last change id", err)
	}
	return id, nil
}

// querier is what changesAfter needs of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// changesSelect reads changes with their area's ancestors and those of the area the
// entity left (payload "prev_area_id", written by AppendChange only as a number).
const changesSelect = `
	SELECT c.id, c.kind, c.entity, COALESCE(c.entity_id, 0), COALESCE(c.area_id, 0),
	       COALESCE(a.ancestors, '{}') || COALESCE(p.ancestors, '{}'), c.bbox, c.payload::text, c.created_at
	FROM changes c
	LEFT JOIN areas a ON a.id = c.area_id
	LEFT JOIN areas p ON p.id = CASE WHEN jsonb_typeof(c.payload->'prev_area_id') = 'number'
	                                 THEN (c.payload->>'prev_area_id')::numeric::bigint END`

func changesAfter(ctx context.Context, q querier, afterID int64, limit int) ([]Change, error) {
	rows, err := q.Query(ctx, changesSelect+` WHERE c.id > $1 ORDER BY c.id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, dbError("read changes", err)
	}
	return scanChanges(rows)
}

func scanChanges(rows pgx.Rows) ([]Change, error) {
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		var c Change
		var bbox []float64
		var payload string
		if err := rows.Scan(&c.ID, &c.Kind, &c.Entity, &c.EntityID, &c.AreaID, &c.Ancestors, &bbox, &payload, &c.CreatedAt); err != nil {
			return nil, dbError("scan change", err)
		}
		if len(bbox) == 4 {
			c.BBox = &orb.Bound{Min: orb.Point{bbox[0], bbox[1]}, Max: orb.Point{bbox[2], bbox[3]}}
		}
		c.Payload = json.RawMessage(payload)
		slices.Sort(c.Ancestors)
		c.Ancestors = slices.Compact(c.Ancestors)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("read changes", err)
	}
	return out, nil
}
