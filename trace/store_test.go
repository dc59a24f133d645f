package trace_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/track"
)

// tracer is the caller of store methods in tests.
var tracer = grid.Caller{User: grid.User{Role: grid.Tracer}, Route: "test"}

func newStore(t *testing.T) (*trace.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.New(t)
	st, err := trace.NewStore(pool, trace.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	return st, pool
}

// counts reads the number of pings, subjects and batches: what a failed load must
// leave unchanged.
func counts(t *testing.T, pool *pgxpool.Pool) [3]int64 {
	t.Helper()
	var c [3]int64
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM pings), (SELECT count(*) FROM trace_subjects), (SELECT count(*) FROM ping_batches)`).Scan(&c[0], &c[1], &c[2]); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIngestGeoLife loads the GeoLife sample: every subject's stored pings equal its
// files' pings, one by one, and the summary counts agree.
func TestIngestGeoLife(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	trajs, committed := geolifetest.Trajectories(t)
	rep, err := st.IngestPings(ctx, tracer, "geolife", trajs)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, tr := range trajs {
		total += len(tr.Pings)
	}
	if rep.Pings != total || rep.NewSubjects != len(trajs) || rep.Days == 0 || rep.Created != rep.Days {
		t.Fatalf("report %+v", rep)
	}
	if committed && total != 107576 {
		t.Fatalf("%d pings", total)
	}
	subs, err := st.Subjects(ctx, tracer)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != len(trajs) {
		t.Fatalf("%d subjects", len(subs))
	}
	for i, sb := range subs {
		tr := trajs[i]
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pings WHERE subject_id = $1`, sb.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if sb.ExtID != tr.Person || n != int64(len(tr.Pings)) || sb.Pings != n {
			t.Errorf("subject %s: %d pings stored, summary %d, file %d", sb.ExtID, n, sb.Pings, len(tr.Pings))
		}
		if len(tr.Pings) == 0 {
			continue
		}
		if !sb.FirstAt.Equal(tr.Pings[0].Time) || !sb.LastAt.Equal(tr.Pings[len(tr.Pings)-1].Time) {
			t.Errorf("subject %s: range %v–%v", sb.ExtID, sb.FirstAt, sb.LastAt)
		}
		from, to := tr.Pings[0].Time, tr.Pings[len(tr.Pings)-1].Time
		_, _, got, err := st.Track(ctx, tracer, sb.ID, &from, &to)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tr.Pings) {
			t.Fatalf("subject %s: track of %d pings, want %d", sb.ExtID, len(got), len(tr.Pings))
		}
		// Equal times keep no order in SQL; compare as multisets per time.
		want := map[track.Ping]int{}
		for _, p := range tr.Pings {
			want[p]++
		}
		for _, p := range got {
			want[p]--
		}
		for p, k := range want {
			if k != 0 {
				t.Fatalf("subject %s: ping %+v differs by %d", sb.ExtID, p, k)
			}
		}
	}
	// The same content again is refused and changes nothing.
	before := counts(t, pool)
	if _, err := st.IngestPings(ctx, tracer, "again", trajs); grid.KindOf(err) != grid.Conflict {
		t.Fatalf("second load: %v", err)
	}
	if after := counts(t, pool); after != before {
		t.Fatalf("counts %v after a refused load, were %v", after, before)
	}
}

func asGridError(err error, target **grid.Error) bool { return errors.As(err, target) }
