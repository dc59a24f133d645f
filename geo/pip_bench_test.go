package geo

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Benchmarks for issue 2: H3 indexing rate and point-in-polygon over the Shanghai
// streets, each reporting a per-second rate beside ns/op. Run with
//
//	go test -run '^$' -bench . ./geo/
//
// The PostGIS side of "assigning households to areas" is in grid/assign_bench_test.go
// (geo must not import pgx).

// benchStreets returns all 214 streets when the shared data is present, else the
// committed sample, and says which in the benchmark log.
func benchStreets(b *testing.B) []street {
	b.Helper()
	path := fullStreetsPath
	if _, err := os.Stat(path); err != nil {
		path = sampleStreetsPath
	}
	s := loadStreets(b, path)
	b.Logf("streets: %s (%d)", path, len(s))
	return s
}

// perSecond reports n operations per second of the benchmark's measured time.
func perSecond(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

// shanghaiPoints are n points uniform in the box of central Shanghai, fixed seed.
func shanghaiPoints(n int, seed uint64) []orb.Point {
	rng := rand.New(rand.NewPCG(seed, 8))
	pts := make([]orb.Point, n)
	for i := range pts {
		pts[i] = orb.Point{121.2 + rng.Float64()*0.6, 31.0 + rng.Float64()*0.4}
	}
	return pts
}

func BenchmarkCellOf(b *testing.B) {
	pts := shanghaiPoints(4096, 1)
	for _, res := range []int{8, 12} {
		b.Run(fmt.Sprintf("res=%d", res), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := CellOf(pts[i&4095], res); err != nil {
					b.Fatal(err)
				}
				i++
			}
			perSecond(b, b.N, "cells/s")
		})
	}
}

// pipPoints returns n points in the streets' bound: "households" are drawn until n
// fall inside a street (where a household would be), "uniform" are all kept (many
// fall outside the city's streets, in the sea or beyond the boundary).
func pipPoints(ix *PolygonIndex, bound orb.Bound, n int, inside bool) []orb.Point {
	rng := rand.New(rand.NewPCG(4, 4))
	pts := make([]orb.Point, 0, n)
	for len(pts) < n {
		p := orb.Point{
			bound.Min[0] + rng.Float64()*(bound.Max[0]-bound.Min[0]),
			bound.Min[1] + rng.Float64()*(bound.Max[1]-bound.Min[1]),
		}
		if _, ok := ix.Find(p); ok || !inside {
			pts = append(pts, p)
		}
	}
	return pts
}

// BenchmarkPIP assigns a point to its street: orb's planar test over every street
// (what one writes first), the same behind precomputed bounding boxes, and
// PolygonIndex; sequential and, for the index, on all cores.
func BenchmarkPIP(b *testing.B) {
	streets := benchStreets(b)
	items := indexItems(streets)
	ix := NewPolygonIndex(items)
	bounds := make([]orb.Bound, len(items))
	for i, it := range items {
		bounds[i] = it.Geom.Bound()
	}
	b.Logf("index: %d parts, %d edges, grid %d×%d, %d covered (cell, part) pairs",
		len(ix.parts), ix.edgeCount, ix.nx, ix.ny, ix.coveredCells)
	for _, kind := range []string{"households", "uniform"} {
		pts := pipPoints(ix, streetsBound(streets), 1<<14, kind == "households")
		const mask = 1<<14 - 1
		b.Run(kind+"/orb-planar", func(b *testing.B) {
			i := 0
			for b.Loop() {
				p := pts[i&mask]
				for _, it := range items {
					if planar.MultiPolygonContains(it.Geom, p) {
						break
					}
				}
				i++
			}
			perSecond(b, b.N, "points/s")
		})
		b.Run(kind+"/orb-planar-bbox", func(b *testing.B) {
			i := 0
			for b.Loop() {
				orbFind(items, bounds, pts[i&mask])
				i++
			}
			perSecond(b, b.N, "points/s")
		})
		b.Run(kind+"/index", func(b *testing.B) {
			i := 0
			for b.Loop() {
				ix.Find(pts[i&mask])
				i++
			}
			perSecond(b, b.N, "points/s")
		})
		b.Run(kind+"/index-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					ix.Find(pts[i&mask])
					i++
				}
			})
			perSecond(b, b.N, "points/s")
		})
	}
}

// BenchmarkPIPLargestStreet is the claim of ARCHITECTURE.md in isolation: one
// 3,500-vertex street (闵行区/浦江镇), points in its bounding box.
func BenchmarkPIPLargestStreet(b *testing.B) {
	var big street
	for _, s := range loadStreets(b, sampleStreetsPath) {
		if s.Name == "闵行区/浦江镇" {
			big = s
		}
	}
	if big.Geom == nil {
		b.Fatal("浦江镇 missing from the sample")
	}
	ix := NewPolygonIndex([]IndexedPolygon{{ID: 1, Geom: big.Geom}})
	pts := pipPoints(ix, big.Geom.Bound(), 1<<12, false)
	const mask = 1<<12 - 1
	b.Run("orb-planar", func(b *testing.B) {
		i := 0
		for b.Loop() {
			planar.MultiPolygonContains(big.Geom, pts[i&mask])
			i++
		}
		perSecond(b, b.N, "points/s")
	})
	b.Run("index", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ix.Find(pts[i&mask])
			i++
		}
		perSecond(b, b.N, "points/s")
	})
}

func BenchmarkNewPolygonIndex(b *testing.B) {
	items := indexItems(benchStreets(b))
	for b.Loop() {
		NewPolygonIndex(items)
	}
}

func BenchmarkValidatePolygon(b *testing.B) {
	streets := benchStreets(b)
	vertices := 0
	for _, s := range streets {
		for _, p := range s.Geom {
			for _, r := range p {
				vertices += len(r)
			}
		}
	}
	for b.Loop() {
		for _, s := range streets {
			ValidatePolygon(s.Geom)
		}
	}
	perSecond(b, b.N*vertices, "vertices/s")
}
