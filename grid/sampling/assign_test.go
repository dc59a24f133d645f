package sampling

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// town is n households in 20 grids spread over about 3×3 km, some door to door,
// and 6 points each serving a few grids.
func town(seed uint64, n int) ([]Point, []Household) {
	r := rand.New(rand.NewPCG(seed, 1))
	var hs []Household
	for i := range n {
		g := int64(1 + i%20)
		cx := 121.40 + float64((g-1)%5)*0.006
		cy := 31.10 + float64((g-1)/5)*0.006
		h := Household{ID: int64(i + 1), GridID: g, Loc: orb.Point{cx + r.Float64()*0.005, cy + r.Float64()*0.005}, Persons: 1 + r.IntN(5)}
		switch r.IntN(40) {
		case 0:
			h.DoorToDoor = ReasonSealed
		case 1:
			h.DoorToDoor = ReasonImmobile
		}
		hs = append(hs, h)
	}
	var ps []Point
	for i := range 6 {
		p := Point{ID: int64(100 + i), Loc: orb.Point{121.403 + float64(i%3)*0.01, 31.103 + float64(i/3)*0.012},
			CapacityPerHour: 60 + 20*i, Opens: 8 * 60, Closes: 18 * 60}
		for g := int64(1 + i); g <= 20; g += 6 {
			p.GridIDs = append(p.GridIDs, g)
		}
		ps = append(ps, p)
	}
	return ps, hs
}

var params = Params{Start: 7 * 60, SlotMinutes: 30, WalkLimitM: 1000}

// slotLoads sums persons per point and slot.
func slotLoads(res Result) map[[2]int64]int {
	out := map[[2]int64]int{}
	for _, a := range res.Assignments {
		if a.PointID != 0 {
			out[[2]int64{a.PointID, int64(a.SlotStart)}] += a.Persons
		}
	}
	return out
}

func TestAssignCapacityNeverExceeded(t *testing.T) {
	for _, n := range []int{50, 800, 3000} { // 3000 households overflow the day
		ps, hs := town(7, n)
		res := Assign(ps, hs, params)
		caps := map[int64]Point{}
		for _, p := range ps {
			caps[p.ID] = p
		}
		for k, persons := range slotLoads(res) {
			p := caps[k[0]]
			if c := SlotCapacity(p, params.SlotMinutes); persons > c {
				t.Errorf("n=%d: point %d slot %d holds %d > %d", n, k[0], k[1], persons, c)
			}
			if int(k[1]) < p.Opens || int(k[1])+params.SlotMinutes > p.Closes || int(k[1]) < params.Start {
				t.Errorf("n=%d: point %d slot %d outside its hours", n, k[0], k[1])
			}
		}
		noCap := 0
		for i, a := range res.Assignments {
			if a.HouseholdID != hs[i].ID {
				t.Fatalf("assignment %d is household %d", i, a.HouseholdID)
			}
			switch {
			case a.DoorToDoor:
			case a.PointID != 0:
				if a.SlotEnd-a.SlotStart != params.SlotMinutes {
					t.Errorf("slot %d–%d", a.SlotStart, a.SlotEnd)
				}
			case a.Reason == ReasonNoCapacity:
				noCap++
			default:
				t.Errorf("household %d neither assigned nor door to door nor reported", a.HouseholdID)
			}
		}
		if n == 3000 && (noCap == 0 || len(res.Overloaded) == 0) {
			t.Errorf("n=3000 should overflow the day: %d without capacity, %d overloaded", noCap, len(res.Overloaded))
		}
		if n <= 800 && (noCap != 0 || len(res.Overloaded) != 0) {
			t.Errorf("n=%d fits: %d without capacity, overloaded %v", n, noCap, res.Overloaded)
		}
	}
}

func TestAssignGridCohesion(t *testing.T) {
	ps, hs := town(3, 800)
	res := Assign(ps, hs, params)
	// Every grid goes to one point, in consecutive slots not shared with another
	// grid except at its first and last slot.
	type span struct {
		point      int64
		first, end int
	}
	spans := map[int64]*span{}
	for _, a := range res.Assignments {
		if a.PointID == 0 {
			continue
		}
		s := spans[a.GridID]
		if s == nil {
			spans[a.GridID] = &span{a.PointID, a.SlotStart, a.SlotStart}
			continue
		}
		if s.point != a.PointID {
			t.Fatalf("grid %d split between points %d and %d", a.GridID, s.point, a.PointID)
		}
		s.first, s.end = min(s.first, a.SlotStart), max(s.end, a.SlotStart)
	}
	for g, s := range spans {
		for h, o := range spans {
			if g != h && o.point == s.point && o.first > s.first && o.first < s.end {
				t.Errorf("grid %d (%d–%d) and grid %d (%d–%d) interleave at point %d", g, s.first, s.end, h, o.first, o.end, s.point)
			}
		}
	}
	if len(spans) < 15 {
		t.Fatalf("only %d grids assigned", len(spans))
	}
}

func TestAssignDoorToDoorAndDeterminism(t *testing.T) {
	ps, hs := town(11, 600)
	a := Assign(ps, hs, params)
	b := Assign(ps, hs, params)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs differ")
	}
	d2d := 0
	for i, x := range a.Assignments {
		if hs[i].DoorToDoor != "" {
			d2d++
			if !x.DoorToDoor || x.Reason != hs[i].DoorToDoor || x.PointID != 0 || x.WalkM != 0 {
				t.Errorf("household %d (%s): %+v", hs[i].ID, hs[i].DoorToDoor, x)
			}
		} else if x.DoorToDoor {
			t.Errorf("household %d sent door to door", hs[i].ID)
		}
	}
	if d2d == 0 {
		t.Fatal("the town has no door-to-door household")
	}
	if a.WalkMedian <= 0 || a.WalkP95 < a.WalkMedian || a.WalkMax < a.WalkP95 {
		t.Fatalf("walks median %v p95 %v max %v", a.WalkMedian, a.WalkP95, a.WalkMax)
	}
}

func TestAssignFarAndSuggestions(t *testing.T) {
	ps, hs := town(5, 400)
	// A village 3 km east of every point.
	for i := range 30 {
		hs = append(hs, Household{ID: int64(10000 + i), GridID: 99, Loc: orb.Point{121.47 + float64(i%5)*0.0005, 31.11 + float64(i/5)*0.0005}, Persons: 2})
	}
	res := Assign(ps, hs, params)
	if res.Far < 30 {
		t.Fatalf("far %d, want at least the 30 village households", res.Far)
	}
	if len(res.Suggestions) == 0 {
		t.Fatal("no suggestion")
	}
	village := false
	for _, s := range res.Suggestions {
		if s.Covers >= 30 && geo.DistanceM(s.Loc, orb.Point{121.471, 31.1112}) < 1000 {
			village = true
		}
	}
	if !village {
		t.Fatalf("no suggestion covers the village: %+v", res.Suggestions)
	}
	for i := 1; i < len(res.Suggestions); i++ {
		if res.Suggestions[i].Covers > res.Suggestions[i-1].Covers {
			t.Fatalf("suggestions not greedy: %+v", res.Suggestions)
		}
	}
}

func TestAssignNoPoints(t *testing.T) {
	_, hs := town(1, 20)
	res := Assign(nil, hs, params)
	for _, a := range res.Assignments {
		if !a.DoorToDoor && a.Reason != ReasonNoCapacity {
			t.Fatalf("%+v", a)
		}
	}
}

func TestSlots(t *testing.T) {
	for _, tc := range []struct {
		opens, closes, start, slot int
		want                       string
	}{
		{480, 600, 420, 30, "[480 510 540 570]"},
		{490, 600, 420, 30, "[510 540 570]"},
		{400, 500, 420, 60, "[420]"},
		{480, 500, 420, 30, "[]"},
	} {
		got := fmt.Sprint(Slots(Point{Opens: tc.opens, Closes: tc.closes}, tc.start, tc.slot))
		if got != tc.want && !(tc.want == "[]" && got == "[]") {
			t.Errorf("%+v: %s, want %s", tc, got, tc.want)
		}
	}
}

func BenchmarkAssignDistrict(b *testing.B) {
	ps, hs := town(1, 20000)
	var more []Point
	for i := range 60 {
		more = append(more, Point{ID: int64(1000 + i), Loc: orb.Point{121.40 + float64(i%10)*0.003, 31.10 + float64(i/10)*0.004},
			CapacityPerHour: 200, Opens: 7 * 60, Closes: 21 * 60})
	}
	ps = append(ps, more...)
	for b.Loop() {
		Assign(ps, hs, params)
	}
}
