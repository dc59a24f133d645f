package grid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
)

// appendIn appends one change in a transaction of its own, committed.
func appendIn(t *testing.T, pool *pgxpool.Pool, c grid.ChangeInput) int64 {
	t.Helper()
	tx := beginChange(t, pool, c)
	if err := tx.tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tx.id
}

type openChange struct {
	tx pgx.Tx
	id int64
}

// beginChange appends a change in a transaction left open: the caller commits or
// rolls it back.
func beginChange(t *testing.T, pool *pgxpool.Pool, c grid.ChangeInput) openChange {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	id, err := grid.AppendChange(ctx, tx, c)
	if err != nil {
		t.Fatal(err)
	}
	return openChange{tx: tx, id: id}
}

func zoneChange(id int64) grid.ChangeInput {
	return grid.ChangeInput{Kind: "upsert", Entity: "zone", EntityID: id, AreaID: 3}
}

func TestChangesSince(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	box := orb.Bound{Min: orb.Point{121.41, 31.11}, Max: orb.Point{121.42, 31.12}}
	id1 := appendIn(t, pool, grid.ChangeInput{Kind: "upsert", Entity: "household", EntityID: 1, AreaID: 3, BBox: &box,
		Payload: map[string]any{"version": 2}})
	id2 := appendIn(t, pool, grid.ChangeInput{Kind: "upsert", Entity: "household", EntityID: 2, AreaID: 4, PrevAreaID: 3})
	id3 := appendIn(t, pool, grid.ChangeInput{Kind: "import", Entity: "households", Payload: map[string]any{"inserted": 3}})
	if !(id1 < id2 && id2 < id3) {
		t.Fatalf("ids not increasing: %d %d %d", id1, id2, id3)
	}

	page, err := store.ChangesSince(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != id1 || page[1].ID != id2 {
		t.Fatalf("first page %+v", page)
	}
	c1, c2 := page[0], page[1]
	if c1.Kind != "upsert" || c1.Entity != "household" || c1.EntityID != 1 || c1.AreaID != 3 ||
		fmt.Sprint(c1.Ancestors) != "[1 2 3]" || c1.BBox == nil || *c1.BBox != box || c1.CreatedAt.IsZero() {
		t.Fatalf("change 1 %+v", c1)
	}
	var p1 map[string]any
	if err := json.Unmarshal(c1.Payload, &p1); err != nil || p1["version"] != 2.0 {
		t.Fatalf("payload 1 %s %v", c1.Payload, err)
	}
	// A move is heard where the household went and where it came from.
	if fmt.Sprint(c2.Ancestors) != "[1 2 3 4]" || c2.BBox != nil || string(c2.Payload) != `{"prev_area_id": 3}` {
		t.Fatalf("change 2 %+v payload %s", c2, c2.Payload)
	}
	rest, err := store.ChangesSince(ctx, id2, 10)
	if err != nil || len(rest) != 1 || rest[0].ID != id3 || rest[0].AreaID != 0 || len(rest[0].Ancestors) != 0 {
		t.Fatalf("second page %+v %v", rest, err)
	}
	if none, err := store.ChangesSince(ctx, id3, 10); err != nil || len(none) != 0 {
		t.Fatalf("past the end %+v %v", none, err)
	}
	if last, err := store.LastChangeID(ctx); err != nil || last != id3 {
		t.Fatalf("last %d %v", last, err)
	}
	if _, err := store.ChangesSince(ctx, 0, 0); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("limit 0: %v", err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := grid.AppendChange(ctx, tx, grid.ChangeInput{Entity: "zone"}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("no kind: %v", err)
	}

	// Jurisdiction: the move is news in communities 3 and 4 and above; the bulk load
	// without an area is admin's only.
	for _, tc := range []struct {
		user grid.User
		want []int64
	}{
		{grid.User{Role: grid.Admin}, []int64{id1, id2, id3}},
		{grid.User{Role: grid.Viewer, AreaIDs: []int64{1}}, []int64{id1, id2}},
		{grid.User{Role: grid.GridWorker, AreaIDs: []int64{3}}, []int64{id1, id2}},
		{grid.User{Role: grid.GridWorker, AreaIDs: []int64{4}}, []int64{id2}},
		{grid.User{Role: grid.GridWorker, AreaIDs: []int64{6}}, nil},
		{grid.User{Role: grid.Commander}, nil},
	} {
		var got []int64
		for _, c := range append(page, rest...) {
			if c.VisibleTo(tc.user) {
				got = append(got, c.ID)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %v sees %v, want %v", tc.user.Role, tc.user.AreaIDs, got, tc.want)
		}
	}
}

// collector records what a Listener publishes.
type collector struct {
	mu    sync.Mutex
	calls int
	upTo  int64
	ids   []int64
	kick  chan struct{}
}

func newCollector() *collector { return &collector{kick: make(chan struct{}, 1)} }

func (c *collector) publish(upTo int64, cs []grid.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.upTo = upTo
	for _, ch := range cs {
		c.ids = append(c.ids, ch.ID)
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *collector) state() (int64, []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upTo, slices.Clone(c.ids)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestListener(store *grid.Store, cfg grid.ListenerConfig) (*grid.Listener, *collector) {
	col := newCollector()
	cfg.Publish = col.publish
	cfg.Log = quietLog()
	return grid.NewListener(store, cfg), col
}

func poll(t *testing.T, l *grid.Listener) {
	t.Helper()
	if err := l.Poll(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
}

// pollUntil polls until cond holds. Resolving a rolled-back id waits for the
// transactions running at the time to end, and other tests share the cluster, so
// this only bounds the wait generously; it asserts no timing.
func pollUntil(t *testing.T, l *grid.Listener, what string, cond func() bool) {
	t.Helper()
	// Skipping a dead gap waits for the cluster-wide snapshot xmin to pass the fence,
	// and the test cluster is shared with other packages' tests (the demo load holds
	// one transaction for a minute or more on a busy machine): wait long enough for
	// them, since only a listener that never gets there is a failure.
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("listener never got to: %s", what)
		}
		poll(t, l)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerOutOfOrderCommit: a transaction holding a smaller change id commits
// after one holding a bigger id; the listener publishes neither until both are in,
// then both in id order.
func TestListenerOutOfOrderCommit(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	l, col := newTestListener(store, grid.ListenerConfig{GapWait: time.Hour})
	poll(t, l)
	if upTo, ids := col.state(); upTo != 0 || len(ids) != 0 {
		t.Fatalf("empty feed: %d %v", upTo, ids)
	}

	a := beginChange(t, pool, zoneChange(1))
	b := beginChange(t, pool, zoneChange(2))
	if a.id >= b.id {
		t.Fatalf("ids %d %d", a.id, b.id)
	}
	if err := b.tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A plain read sees b without a: why the listener must not just take "id > last".
	if cs, err := store.ChangesSince(ctx, 0, 10); err != nil || len(cs) != 1 || cs[0].ID != b.id {
		t.Fatalf("plain read %+v %v", cs, err)
	}
	for range 3 {
		poll(t, l)
	}
	if upTo, ids := col.state(); upTo != 0 || len(ids) != 0 || l.Last() != 0 {
		t.Fatalf("published past an id still in flight: upTo %d ids %v", upTo, ids)
	}
	if err := a.tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, l)
	if upTo, ids := col.state(); upTo != b.id || !slices.Equal(ids, []int64{a.id, b.id}) || l.Last() != b.id {
		t.Fatalf("after both commits: upTo %d ids %v, want %d %d", upTo, ids, a.id, b.id)
	}
}

// TestListenerRolledBackGap: an id whose transaction rolls back is skipped once
// every transaction running when the gap was met has ended.
func TestListenerRolledBackGap(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	l, col := newTestListener(store, grid.ListenerConfig{GapWait: time.Hour})
	first := appendIn(t, pool, zoneChange(1))
	poll(t, l)
	if upTo, ids := col.state(); upTo != first || len(ids) != 0 {
		// The starting position is the end of the feed: history is for replay.
		t.Fatalf("start: %d %v", upTo, ids)
	}
	a := beginChange(t, pool, zoneChange(2))
	b := beginChange(t, pool, zoneChange(3))
	if err := b.tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, l)
	if upTo, ids := col.state(); upTo != first || len(ids) != 0 {
		t.Fatalf("published past an id in flight: %d %v", upTo, ids)
	}
	if err := a.tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, l, "skip the rolled-back id", func() bool { upTo, _ := col.state(); return upTo == b.id })
	if _, ids := col.state(); !slices.Equal(ids, []int64{b.id}) {
		t.Fatalf("published %v, want only %d", ids, b.id)
	}
	// And it goes on from there.
	c := appendIn(t, pool, zoneChange(4))
	poll(t, l)
	if upTo, ids := col.state(); upTo != c || !slices.Equal(ids, []int64{b.id, c}) {
		t.Fatalf("after: %d %v", upTo, ids)
	}
}

// TestListenerStartsBelowInFlight: a listener starting while a transaction holds an
// id below a committed one starts below it, so the late commit is not lost.
func TestListenerStartsBelowInFlight(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	before := appendIn(t, pool, zoneChange(1))
	a := beginChange(t, pool, zoneChange(2))
	b := appendIn(t, pool, zoneChange(3))
	l, col := newTestListener(store, grid.ListenerConfig{GapWait: time.Hour})
	poll(t, l)
	if upTo, ids := col.state(); upTo != before || len(ids) != 0 {
		t.Fatalf("start: upTo %d %v, want %d", upTo, ids, before)
	}
	if err := a.tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, l)
	if upTo, ids := col.state(); upTo != b || !slices.Equal(ids, []int64{a.id, b}) {
		t.Fatalf("after the commit: upTo %d %v", upTo, ids)
	}
}

// TestListenerGapWait: a gap held longer than GapWait is skipped, and the id is
// still published (late) when its transaction commits after all.
func TestListenerGapWait(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	l, col := newTestListener(store, grid.ListenerConfig{GapWait: time.Nanosecond})
	poll(t, l)
	a := beginChange(t, pool, zoneChange(1))
	b := appendIn(t, pool, zoneChange(2))
	poll(t, l) // meets the gap
	if _, ids := col.state(); len(ids) != 0 {
		t.Fatalf("published at once: %v", ids)
	}
	time.Sleep(time.Millisecond)
	poll(t, l) // the gap has waited longer than GapWait: skipped
	if upTo, ids := col.state(); upTo != b || !slices.Equal(ids, []int64{b}) {
		t.Fatalf("after GapWait: upTo %d %v", upTo, ids)
	}
	if err := a.tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, l)
	poll(t, l) // published once only
	if upTo, ids := col.state(); upTo != b || !slices.Equal(ids, []int64{b, a.id}) {
		t.Fatalf("late: upTo %d %v", upTo, ids)
	}
}

// TestListenerRun: notifications drive the listener (polling is set to an hour), and
// it reconnects when its LISTEN connection is killed.
func TestListenerRun(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx, cancel := context.WithCancel(context.Background())
	l, col := newTestListener(store, grid.ListenerConfig{PollEvery: time.Hour})
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	wait := func(what string, id int64) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			if _, ids := col.state(); slices.Contains(ids, id) {
				return
			}
			select {
			case <-col.kick:
			case <-deadline:
				_, ids := col.state()
				t.Fatalf("%s: change %d never published (got %v)", what, id, ids)
			}
		}
	}
	// Changes written before the listener found its position are history (replay),
	// not news: start writing once it has one.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		// Skipping a dead gap waits for the cluster-wide snapshot xmin to pass the fence,
		// and the test cluster is shared with other packages' tests (the demo load holds
		// one transaction for a minute or more on a busy machine): wait long enough for
		// them, since only a listener that never gets there is a failure.
		deadline := time.Now().Add(5 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the starting position", func() bool { col.mu.Lock(); defer col.mu.Unlock(); return col.calls > 0 })
	// The first change may commit before LISTEN is in place; the read that follows
	// LISTEN catches it.
	wait("first", appendIn(t, pool, zoneChange(1)))
	wait("second", appendIn(t, pool, zoneChange(2)))

	listeners := func() int {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'gridtrace change listener' AND datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor("the LISTEN connection", func() bool { return listeners() == 1 })
	var killed int
	if err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'gridtrace change listener' AND datname = current_database()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the LISTEN connection: %d %v", killed, err)
	}
	wait("after reconnect", appendIn(t, pool, zoneChange(3)))
}
