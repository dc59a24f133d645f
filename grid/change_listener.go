package grid

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangesChannel is the NOTIFY channel of the changes trigger (migrations/001).
const ChangesChannel = "gridtrace_changes"

// Why the Listener does not simply read "id > last".
//
// A change id is drawn from a sequence when the row is inserted, not when its
// transaction commits. Transaction A may draw 101, transaction B 102, and B commit
// first: a reader then sees 102 without 101. Moving on to "last = 102" would lose 101
// for good, for this server's clients and for every client that remembers 102 as its
// position. So the Listener publishes strictly in id order and stops at a gap until
// the gap is resolved, i.e. the missing id has committed (it shows up) or provably
// never will (its transaction rolled back, or the id was skipped, as after a crash).
//
// The proof uses transaction ids. AppendChange assigns its transaction an xid before
// it draws the change id, so whoever holds a missing id g had an xid when g was
// drawn, and g was drawn before the bigger id the reader saw committed. When the
// reader first meets a gap it takes a fence: an xid of its own, X =
// pg_current_xact_id(), drawn after its snapshot, so the holder's xid is below X;
// and cover = the largest id its snapshot sees. Every id up to cover was drawn by a
// transaction with an xid below X. Once a later snapshot has pg_snapshot_xmin >= X,
// every transaction below X has ended, so every id up to cover is final in that
// snapshot: an id still missing there is dead and is skipped. Costs: one xid per gap
// met (not per read), and a rolled-back id holds the feed back until the
// transactions that were running when it was met have ended.
//
// That last part is bounded: an unrelated write transaction running for minutes (a
// large import) would hold the fence. A gap waiting longer than GapWait is skipped
// with a warning; its ids are then re-read for LateWindow and published late (out of
// order) if they commit after all, so live clients still get them. Only a client
// that reconnects with a later id in between misses such a straggler.
//
// At start the Listener has no history: it takes as its position the largest id
// below which the last startWindow ids show no gap, and resolves any gap there as
// above, so a transaction in flight across a restart is not lost either.

// ListenerConfig configures a Listener; zero values take the defaults.
type ListenerConfig struct {
	// Publish receives changes in increasing id order (late stragglers excepted, see
	// above) and the listener's position after them: every id up to upTo is
	// published or dead. It is called from one goroutine at a time and must not block.
	// The first call, once the starting position is known, has no changes.
	Publish func(upTo int64, cs []Change)
	Log     *slog.Logger
	// PollEvery is how often the outbox is read without a notification (default 2 s):
	// the fallback when a notification is lost with its connection.
	PollEvery time.Duration
	// GapWait is how long a gap may hold the feed back (default 10 s).
	GapWait time.Duration
	// LateWindow is how long skipped ids are looked for (default 10 minutes).
	LateWindow time.Duration
	// Health, when set, is told when reading the outbox starts failing (false) and
	// when it works again (true), so live clients can be told the database is away.
	Health func(ok bool)
}

// Defaults of ListenerConfig.
const (
	DefaultPollEvery  = 2 * time.Second
	DefaultGapWait    = 10 * time.Second
	DefaultLateWindow = 10 * time.Minute
)

// listenerBatch is how many rows one read takes; a burst is read in several.
const listenerBatch = 1000

// startWindow is how many ids below the largest one are checked for gaps at start.
const startWindow = 10000

// Listener follows the change feed for one server: a dedicated connection LISTENs
// for the changes trigger's NOTIFY (reconnecting with backoff when the database goes
// away), and the outbox is read through the store's pool after each notification
// and every PollEvery. Create it with NewListener, then Run it.
type Listener struct {
	store *Store
	cfg   ListenerConfig
	wake  chan struct{}
	last  atomic.Int64

	mu         sync.Mutex // serialises Poll; guards the fields below
	positioned bool
	pos        int64     // every id up to pos is published or dead
	fence      uint64    // 0: none; see above
	fenceCover int64     // ids up to this are final once xmin >= fence
	final      int64     // every id up to final is committed or dead
	gapID      int64     // the first id of the gap being waited on, 0 for none
	gapSince   time.Time // when gapID was first met
	late       []lateRange
	lateSent   map[int64]bool
	failing    bool // the last Poll failed (log the failure once, then the recovery)
}

// lateRange is a skipped gap, still looked for until expires.
type lateRange struct {
	lo, hi  int64
	expires time.Time
}

// NewListener returns a listener on s's database; cfg.Publish is required.
func NewListener(s *Store, cfg ListenerConfig) *Listener {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	if cfg.GapWait <= 0 {
		cfg.GapWait = DefaultGapWait
	}
	if cfg.LateWindow <= 0 {
		cfg.LateWindow = DefaultLateWindow
	}
	if cfg.Publish == nil {
		cfg.Publish = func(int64, []Change) {}
	}
	return &Listener{store: s, cfg: cfg, wake: make(chan struct{}, 1), lateSent: map[int64]bool{}}
}

// Last is the listener's position: every change id up to it has been published (or
// never will commit). 0 before the first successful Poll.
func (l *Listener) Last() int64 { return l.last.Load() }

// Run listens and reads until ctx ends, then returns nil. Database failures are
// logged and retried; they never end Run.
func (l *Listener) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.listen(ctx)
	}()
	defer wg.Wait()
	tick := time.NewTicker(l.cfg.PollEvery)
	defer tick.Stop()
	for {
		err := l.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		l.noteResult(err)
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-tick.C:
		}
	}
}

// noteResult logs the first failure of a series and the recovery, not every retry.
func (l *Listener) noteResult(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && !l.failing:
		l.failing = true
		l.cfg.Log.Warn("change feed: read failed; retrying", "err", err, "every", l.cfg.PollEvery)
		if l.cfg.Health != nil {
			l.cfg.Health(false)
		}
	case err != nil:
		l.cfg.Log.Debug("change feed: read failed", "err", err)
	case l.failing:
		l.failing = false
		l.cfg.Log.Info("change feed: reading again", "position", l.pos)
		if l.cfg.Health != nil {
			l.cfg.Health(true)
		}
	}
}

func (l *Listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default: // a read is already due: notifications coalesce
	}
}

// listen keeps a dedicated LISTEN connection until ctx ends, reconnecting with
// backoff. The connection is its own (pgx.ConnectConfig), never one of the pool's:
// a pooled connection would carry the LISTEN to whoever borrows it next.
func (l *Listener) listen(ctx context.Context) {
	const minDelay, maxDelay = 250 * time.Millisecond, 10 * time.Second
	delay := minDelay
	for ctx.Err() == nil {
		start := time.Now()
		err := l.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > maxDelay {
			delay = minDelay // it was up for a while: this is a new outage
		}
		l.cfg.Log.Warn("change feed: LISTEN connection lost; reconnecting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxDelay)
	}
}

func (l *Listener) listenOnce(ctx context.Context) error {
	cfg := l.store.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "gridtrace change listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Whatever committed while there was no connection is read now.
	l.signal()
	for {
		// A quiet connection is checked every half minute: a database that vanished
		// without closing the socket would otherwise leave us waiting for ever.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := conn.WaitForNotification(wctx)
		idle := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			l.signal()
		case ctx.Err() != nil:
			return ctx.Err()
		case idle:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// Poll reads the outbox once (in batches until it is drained or a gap stops it) and
// publishes what it may. Run calls it; tests call it to step the listener.
func (l *Listener) Poll(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.positioned {
		if err := l.start(ctx); err != nil {
			return err
		}
		l.positioned = true
		l.last.Store(l.pos)
		l.cfg.Publish(l.pos, nil)
	}
	for {
		more, err := l.step(ctx)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	return l.recheckLate(ctx)
}

// start finds the starting position: the largest id below which the last
// startWindow ids show no gap (a gap there gets a fence, as in step).
func (l *Listener) start(ctx context.Context) error {
	tx, err := l.store.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return dbError("change feed: begin", err)
	}
	defer tx.Rollback(ctx)
	var maxID int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM changes`).Scan(&maxID); err != nil {
		return dbError("change feed: last id", err)
	}
	from := max(maxID-startWindow, 0)
	rows, err := tx.Query(ctx, `SELECT id FROM changes WHERE id > $1 ORDER BY id`, from)
	if err != nil {
		return dbError("change feed: recent ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return dbError("change feed: recent ids", err)
	}
	pos := maxID
	expect := from + 1
	for _, id := range ids {
		if id != expect {
			pos = expect - 1
			break
		}
		expect = id + 1
	}
	var fence uint64
	if pos < maxID {
		if fence, _, err = takeFence(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError("change feed: commit", err)
	}
	l.pos, l.fence, l.fenceCover = pos, fence, maxID
	return nil
}

// takeFence gives the reading transaction an xid, the fence, and returns it with the
// largest id of the transaction's snapshot, the fence's cover.
func takeFence(ctx context.Context, tx pgx.Tx) (uint64, int64, error) {
	var xid string
	var cover int64
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text, COALESCE(max(id), 0) FROM changes`).Scan(&xid, &cover); err != nil {
		return 0, 0, dbError("change feed: fence", err)
	}
	fence, err := strconv.ParseUint(xid, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("change feed: fence %q: %w", xid, err)
	}
	return fence, cover, nil
}

// step reads one batch after pos in one REPEATABLE READ snapshot, publishes the
// contiguous run (and whatever the fence or GapWait resolved), and reports whether
// more rows may follow at once.
func (l *Listener) step(ctx context.Context) (bool, error) {
	tx, err := l.store.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return false, dbError("change feed: begin", err)
	}
	defer tx.Rollback(ctx)
	// The first statement takes the snapshot every later one sees.
	var xminText string
	if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xminText); err != nil {
		return false, dbError("change feed: snapshot", err)
	}
	xmin, err := strconv.ParseUint(xminText, 10, 64)
	if err != nil {
		return false, fmt.Errorf("change feed: snapshot xmin %q: %w", xminText, err)
	}
	fence, cover, final := l.fence, l.fenceCover, l.final
	if fence != 0 && xmin >= fence {
		final = max(final, cover)
		fence = 0
	}
	resolved := max(l.pos, final)
	rows, err := changesAfter(ctx, tx, l.pos, listenerBatch)
	if err != nil {
		return false, err
	}

	now := time.Now()
	next := l.pos
	var out []Change
	var late []lateRange
	gapAt := int64(0)
	for _, c := range rows {
		if c.ID <= resolved {
			out = append(out, c)
			next = c.ID
			continue
		}
		next = max(next, resolved) // the ids missing up to resolved are dead
		if c.ID == next+1 {
			out = append(out, c)
			next = c.ID
			continue
		}
		if next+1 == l.gapID && now.Sub(l.gapSince) > l.cfg.GapWait {
			// Waited long enough: skip the gap, but keep looking for it.
			l.cfg.Log.Warn("change feed: skipping ids not committed in time; they will be published late if they commit",
				"from", next+1, "to", c.ID-1, "waited", now.Sub(l.gapSince).Round(time.Millisecond))
			late = append(late, lateRange{lo: next + 1, hi: c.ID - 1, expires: now.Add(l.cfg.LateWindow)})
			out = append(out, c)
			next = c.ID
			continue
		}
		gapAt = next + 1
		break
	}
	full := len(rows) == listenerBatch
	if gapAt != 0 || !full {
		next = max(next, resolved)
	}
	if gapAt != 0 && (fence == 0 || cover < gapAt) {
		// A new gap, or one above what the pending fence covers (which is then of
		// no more use): fence it.
		if fence, cover, err = takeFence(ctx, tx); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, dbError("change feed: commit", err)
	}

	l.fence, l.fenceCover, l.final = fence, cover, final
	if gapAt == 0 {
		l.gapID = 0
	} else if gapAt != l.gapID {
		l.gapID, l.gapSince = gapAt, now
	}
	l.late = append(l.late, late...)
	if next != l.pos || len(out) > 0 {
		l.pos = next
		l.last.Store(next)
		l.cfg.Publish(next, out)
	}
	return gapAt == 0 && full, nil
}

// recheckLate publishes skipped ids that committed after all, until their window
// ends.
func (l *Listener) recheckLate(ctx context.Context) error {
	if len(l.late) == 0 {
		return nil
	}
	now := time.Now()
	keep := l.late[:0]
	var lo, hi []int64
	for _, r := range l.late {
		if now.Before(r.expires) {
			keep = append(keep, r)
			lo, hi = append(lo, r.lo), append(hi, r.hi)
		}
	}
	l.late = keep
	if len(keep) == 0 {
		clear(l.lateSent)
		return nil
	}
	rows, err := l.store.pool.Query(ctx, changesSelect+`
		WHERE EXISTS (SELECT 1 FROM unnest($1::bigint[], $2::bigint[]) r(lo, hi) WHERE c.id BETWEEN r.lo AND r.hi)
		ORDER BY c.id`, lo, hi)
	if err != nil {
		return dbError("change feed: late ids", err)
	}
	cs, err := scanChanges(rows)
	if err != nil {
		return err
	}
	var out []Change
	for _, c := range cs {
		if !l.lateSent[c.ID] {
			l.lateSent[c.ID] = true
			out = append(out, c)
		}
	}
	if len(out) > 0 {
		l.cfg.Log.Warn("change feed: publishing late changes", "count", len(out), "first", out[0].ID)
		l.cfg.Publish(l.pos, out)
	}
	return nil
}
