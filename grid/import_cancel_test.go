package grid_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// killedSource yields two full batches from make, then cancels the import's context
// and waits for it to end before offering a third: the cancellation lands while the
// second batch is being copied (or right after), as a killed `gridtrace import` or a
// dropped client would.
func killedSource[T any](cancel context.CancelFunc, ctx context.Context, gen func(i int) T) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		for b := 0; ; b++ {
			if b == 2 {
				cancel()
				<-ctx.Done()
			}
			batch := makeBatch(b, gen)
			if !yield(batch, nil) {
				return
			}
		}
	}
}

// makeBatch is batch b of DefaultBatch inputs from gen.
func makeBatch[T any](b int, gen func(i int) T) []T {
	out := make([]T, 0, grid.DefaultBatch)
	for i := range grid.DefaultBatch {
		out = append(out, gen(b*grid.DefaultBatch+i))
	}
	return out
}

// TestKilledImportLeavesNothing cancels household and case imports part-way through
// their COPY stream: the load fails and no household, person, case or change row
// of it remains, and the pool still works.
func TestKilledImportLeavesNothing(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	bg := context.Background()
	count := func(q string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(bg, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	ctx, cancel := context.WithCancel(bg)
	rep, err := s.LoadHouseholds(ctx, killedSource(cancel, ctx, func(i int) grid.HouseholdInput {
		return grid.HouseholdInput{ExtID: fmt.Sprint("killed-", i), Address: "x", Location: orb.Point{121.4 + float64(i%1000)/10000, 31.2},
			Persons: []grid.PersonInput{{Name: fmt.Sprint("p", i)}}}
	}))
	if err == nil || !errors.Is(err, context.Canceled) && grid.KindOf(err) != grid.Unavailable {
		t.Fatalf("cancelled household load: %+v %v", rep, err)
	}
	ctx, cancel = context.WithCancel(bg)
	day := time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC)
	rep, err = s.LoadCases(ctx, killedSource(cancel, ctx, func(i int) grid.CaseInput {
		return grid.CaseInput{ExtID: fmt.Sprint("killed-", i), Kind: grid.Confirmed, ReportedAt: day, Location: orb.Point{121.4, 31.2}}
	}))
	if err == nil || !errors.Is(err, context.Canceled) && grid.KindOf(err) != grid.Unavailable {
		t.Fatalf("cancelled case load: %+v %v", rep, err)
	}
	for _, q := range []string{
		`SELECT count(*) FROM households`, `SELECT count(*) FROM persons`,
		`SELECT count(*) FROM cases`, `SELECT count(*) FROM changes`,
	} {
		if n := count(q); n != 0 {
			t.Errorf("%s = %d after killed imports, want 0", q, n)
		}
	}
}
