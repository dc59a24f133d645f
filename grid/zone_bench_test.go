package grid_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/grid/zoning"
)

// shanghaiZoningCases reads the real cases of 2022-04-04 (the demo's embedded copy
// of shared/data/shanghai/cases-2022-04-04.csv) as the proposal sees them: the
// published address is the key of the epidemic point, the source is unknown.
func shanghaiZoningCases(tb testing.TB) []zoning.Case {
	tb.Helper()
	if _, err := os.Stat(casesPath); err != nil {
		tb.Fatalf("the Shanghai cases are needed: %v", err)
	}
	r, err := grid.NewCaseCSV(bytes.NewReader(gunzipFile(tb, casesPath)), grid.CaseCSVOptions{
		ReportedAt: time.Date(2022, 4, 4, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)), Source: "shanghai-2022-04-04"})
	if err != nil {
		tb.Fatal(err)
	}
	var out []zoning.Case
	for batch, err := range r.Batches(0) {
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range batch {
			out = append(out, zoning.Case{ID: int64(len(out) + 1), Point: c.Location, At: c.ReportedAt, Key: c.Address})
		}
	}
	if len(out) != 3658 {
		tb.Fatalf("%d located cases, want 3658", len(out))
	}
	return out
}

// BenchmarkProposeShanghai proposes the zones of all 3,658 located cases of
// 2022-04-04 (3,690 published, 32 without coordinates) under the default policy.
func BenchmarkProposeShanghai(b *testing.B) {
	cases := shanghaiZoningCases(b)
	pol := grid.DefaultZonePolicy().Zoning()
	b.ResetTimer()
	var res *zoning.Result
	for b.Loop() {
		var err error
		if res, err = zoning.Propose(zoning.Input{Cases: cases}, pol); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := map[zoning.Kind]int{}
	for _, z := range res.Zones {
		n[z.Kind]++
	}
	b.ReportMetric(float64(res.CellCount()), "cells")
	b.ReportMetric(float64(n[zoning.Sealed]), "sealed")
	b.ReportMetric(float64(n[zoning.Control]), "control")
	b.ReportMetric(float64(n[zoning.Precaution]), "precaution")
}

// BenchmarkProposeZonesStore is the end-to-end proposal of ProposeZones on the real
// data: the 214 Shanghai streets and the 3,658 located cases of 2022-04-04 in
// PostGIS, read, computed under the default policy and saved as proposed zones (with
// versions and change-feed rows) by admin. Each iteration saves a new proposal.
func BenchmarkProposeZonesStore(b *testing.B) {
	s, _ := importStreets(b)
	ctx := context.Background()
	r, err := grid.NewCaseCSV(bytes.NewReader(gunzipFile(b, casesPath)), grid.CaseCSVOptions{
		ReportedAt: time.Date(2022, 4, 4, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)), Source: "shanghai-2022-04-04"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.LoadCases(ctx, r.Batches(0)); err != nil {
		b.Fatal(err)
	}
	admin := grid.Caller{User: grid.User{Role: grid.Admin}, Route: "bench"}
	shanghai := orb.Bound{Min: orb.Point{120.8, 30.6}, Max: orb.Point{122.2, 31.9}}
	b.ResetTimer()
	var p grid.ZoneProposal
	for b.Loop() {
		if p, err = s.ProposeZones(ctx, admin, grid.ZoneSelection{BBox: &shanghai}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.Cases), "cases")
	b.ReportMetric(float64(len(p.Zones)), "zones")
}
