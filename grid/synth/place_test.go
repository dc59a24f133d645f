package synth

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/gridtrace/gridtrace/geo"
)

func rect(minLng, minLat, maxLng, maxLat float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{
		{minLng, minLat}, {maxLng, minLat}, {maxLng, maxLat}, {minLng, maxLat}, {minLng, minLat},
	}}}
}

// testStreets: a central street of two grids and an outer one of the same size.
func testStreets() []Street {
	return []Street{
		{District: "黄浦区", Name: "外滩街道", AreaKm2: 1, Parts: []orb.MultiPolygon{
			rect(121.480, 31.230, 121.485, 31.239), rect(121.485, 31.230, 121.490, 31.239),
		}},
		{District: "崇明区", Name: "城桥镇", AreaKm2: 1, Parts: []orb.MultiPolygon{
			rect(121.390, 31.620, 121.400, 31.629),
		}},
	}
}

func TestHouseholdsPlacement(t *testing.T) {
	streets := testStreets()
	const n = 20_000
	hs, err := Households(Config{Seed: 1, AsOf: asOf}, streets, n)
	if err != nil {
		t.Fatal(err)
	}
	perStreet := make([]int, len(streets))
	addresses := map[string]bool{}
	buildings := map[string][]orb.Point{}
	for i, h := range hs {
		if h.Seq != i {
			t.Fatalf("household %d has Seq %d", i, h.Seq)
		}
		perStreet[h.Street]++
		part := streets[h.Street].Parts[h.Part]
		if !planar.MultiPolygonContains(part, h.Location) {
			t.Fatalf("household %d at %v is outside its part %d of %s", i, h.Location, h.Part, streets[h.Street].Name)
		}
		if len(h.Persons) < 1 || len(h.Persons) > 5 {
			t.Fatalf("household %d has %d residents", i, len(h.Persons))
		}
		if addresses[h.Address] {
			t.Fatalf("address %q twice", h.Address)
		}
		addresses[h.Address] = true
		if h.Address != "上海市"+streets[h.Street].District+h.Building+h.Unit {
			t.Fatalf("address %q is not district + building %q + unit %q", h.Address, h.Building, h.Unit)
		}
		if !strings.Contains(h.Building, "弄") || !strings.HasSuffix(h.Building, "号") || !strings.HasSuffix(h.Unit, "室") {
			t.Fatalf("building %q unit %q", h.Building, h.Unit)
		}
		buildings[h.Building] = append(buildings[h.Building], h.Location)
	}
	// Density: 黄浦区 holds ~65 times more residents per km² than 崇明区.
	if share := float64(perStreet[0]) / n; share < 0.95 {
		t.Errorf("central street holds %.3f of households, want ≥ 0.95 (%v)", share, perStreet)
	}
	if perStreet[1] == 0 {
		t.Errorf("outer street got no household")
	}
	// The households of a building stand within the jitter of one point.
	for b, pts := range buildings {
		for _, p := range pts[1:] {
			if d := geo.DistanceM(pts[0], p); d > 2*JitterM+0.01 {
				t.Fatalf("building %s spreads over %.1f m", b, d)
			}
		}
	}
	// Compounds hold CompoundMin–CompoundMax households.
	compounds := map[string]int{}
	for _, h := range hs[:n/2] { // the last compound may be cut short
		compounds[h.Building[:strings.Index(h.Building, "弄")]]++
	}
	for c, k := range compounds {
		if k > CompoundMax {
			t.Fatalf("compound %s holds %d households", c, k)
		}
	}
}

func TestHouseholdsDeterministic(t *testing.T) {
	cfg := Config{Seed: 9, AsOf: asOf}
	a, err := Households(cfg, testStreets(), 3000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Households(cfg, testStreets(), 3000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different households")
	}
	short, _ := Households(cfg, testStreets(), 1234)
	if !reflect.DeepEqual(short, a[:1234]) {
		t.Fatal("the first households depend on how many are drawn")
	}
	other, _ := Households(Config{Seed: 10, AsOf: asOf}, testStreets(), 3000)
	if reflect.DeepEqual(a, other) {
		t.Fatal("different seeds, same households")
	}
}

func TestHouseholdsSliverAndErrors(t *testing.T) {
	// A street too thin for the margin still receives households, inside it.
	thin := []Street{{District: "静安区", Name: "细长", AreaKm2: 0.01, Parts: []orb.MultiPolygon{
		rect(121.44, 31.23, 121.46, 31.23005),
	}}}
	hs, err := Households(Config{Seed: 1, AsOf: asOf}, thin, 300)
	if err != nil {
		t.Fatal(err)
	}
	inside := 0
	for _, h := range hs {
		if planar.MultiPolygonContains(thin[0].Parts[0], h.Location) {
			inside++
		}
	}
	if inside == 0 {
		t.Fatal("no household inside the thin street")
	}
	if _, err := NewGenerator(Config{Seed: 1}, testStreets()); err == nil {
		t.Error("zero AsOf accepted")
	}
	if _, err := NewGenerator(Config{Seed: 1, AsOf: asOf}, []Street{{District: "黄浦区", AreaKm2: 1}}); err == nil {
		t.Error("a street without parts accepted")
	}
}

func TestDistrictDensity(t *testing.T) {
	central := []string{"黄浦区", "静安区", "徐汇区", "长宁区", "普陀区", "虹口区", "杨浦区"}
	outer := []string{"崇明区", "金山区", "奉贤区", "青浦区", "松江区"}
	for _, c := range central {
		for _, o := range outer {
			if DistrictDensity(c) < 5*DistrictDensity(o) {
				t.Errorf("%s (%.0f/km²) not much denser than %s (%.0f/km²)", c, DistrictDensity(c), o, DistrictDensity(o))
			}
		}
	}
	if DistrictDensity("不存在区") != DefaultDensity {
		t.Error("unknown district")
	}
}

// TestCompoundsFollowDensity: every district receives its share of compounds even in
// a small demo, whatever the seed.
func TestCompoundsFollowDensity(t *testing.T) {
	var streets []Street
	total := 0.0
	for i, d := range slices.Sorted(maps.Keys(districtDensity)) {
		x := 121.0 + float64(i)*0.02
		streets = append(streets, Street{District: d, Name: d, AreaKm2: 1, Parts: []orb.MultiPolygon{rect(x, 31, x+0.01, 31.01)}})
		total += districtDensity[d]
	}
	for seed := uint64(1); seed <= 3; seed++ {
		hs, err := Households(Config{Seed: seed, AsOf: asOf}, streets, 20_000)
		if err != nil {
			t.Fatal(err)
		}
		compounds := map[string]map[string]bool{}
		all := map[string]bool{}
		for _, h := range hs {
			d := streets[h.Street].District
			if compounds[d] == nil {
				compounds[d] = map[string]bool{}
			}
			c := h.Building[:strings.Index(h.Building, "弄")]
			compounds[d][c] = true
			all[c] = true
		}
		for d, density := range districtDensity {
			want := float64(len(all)) * density / total
			if got := float64(len(compounds[d])); got < want-2 || got > want+2 {
				t.Errorf("seed %d: %s has %.0f of %d compounds, want %.1f ± 2", seed, d, got, len(all), want)
			}
		}
	}
}
