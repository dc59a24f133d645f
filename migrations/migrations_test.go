package migrations_test

import (
	"context"
	"encoding/csv"
	"os"
	"strconv"
	"testing"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/migrations"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

func TestSchemaIsCurrent(t *testing.T) {
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	cur, err := migrations.Current(ctx, conn.Conn())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := migrations.Latest()
	if cur != want || want < 1 {
		t.Fatalf("schema version %d, want %d", cur, want)
	}
	// Applying again is a no-op, not an error.
	if err := migrations.Apply(ctx, conn.Conn()); err != nil {
		t.Fatal(err)
	}
	var postgis string
	if err := conn.QueryRow(ctx, `SELECT postgis_lib_version()`).Scan(&postgis); err != nil {
		t.Fatalf("postgis: %v", err)
	}
}

// TestH3ParentSQLMatchesGo checks the SQL bit arithmetic of h3_parent against h3-go
// on the real case points of Shanghai, at every coarser resolution.
func TestH3ParentSQLMatchesGo(t *testing.T) {
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	f, err := os.Open("../geo/testdata/shanghai-points.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range rows[1:] {
		lng, _ := strconv.ParseFloat(r[0], 64)
		lat, _ := strconv.ParseFloat(r[1], 64)
		c12, err := geo.CellOf(orb.Point{lng, lat}, 12)
		if err != nil {
			t.Fatal(err)
		}
		for res := 0; res <= 12; res++ {
			want, _ := c12.Parent(res)
			var got int64
			if err := pool.QueryRow(ctx, `SELECT h3_parent($1, $2)`, int64(c12), res).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if geo.Cell(got) != want {
				t.Fatalf("h3_parent(%s, %d) = %s, want %s", c12, res, geo.Cell(got), want)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d checks", checked)
	}
}
