package synth

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var asOf = time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC)

// popStats summarises a synthetic population.
type popStats struct {
	households, persons int
	bySize              [6]int
	under15, aged60     int
	female              int
	flags               map[string]int
}

func stats(hs [][]Person) popStats {
	s := popStats{flags: map[string]int{}}
	for _, h := range hs {
		s.households++
		s.bySize[min(len(h), 5)]++
		for _, p := range h {
			s.persons++
			if p.Age < 15 {
				s.under15++
			}
			if p.Age >= 60 {
				s.aged60++
			}
			if p.Sex == "F" {
				s.female++
			}
			for _, f := range p.Vulnerability {
				s.flags[f]++
			}
		}
	}
	return s
}

func drawHouseholds(seed uint64, n int) [][]Person {
	g := NewResidents(seed, asOf)
	out := make([][]Person, n)
	for i := range out {
		out[i] = g.Household()
	}
	return out
}

func TestResidentsDistribution(t *testing.T) {
	const n = 50_000
	s := stats(drawHouseholds(1, n))
	share := func(k, of int) float64 { return float64(k) / float64(of) }
	t.Logf("households %d persons %d mean %.3f sizes %v under15 %.3f aged60+ %.3f female %.3f flags %v",
		s.households, s.persons, share(s.persons, s.households), s.bySize[1:],
		share(s.under15, s.persons), share(s.aged60, s.persons), share(s.female, s.persons), s.flags)

	checks := []struct {
		name     string
		got      float64
		lo, high float64
	}{
		{"mean household size (Shanghai 2.32)", share(s.persons, s.households), 2.25, 2.40},
		{"share aged 60+ (Shanghai 23.4%)", share(s.aged60, s.persons), 0.21, 0.26},
		{"share under 15 (Shanghai 9.8%)", share(s.under15, s.persons), 0.085, 0.115},
		{"share female", share(s.female, s.persons), 0.47, 0.53},
		{"share disabled (~1.5%)", share(s.flags[Disabled], s.persons), 0.012, 0.019},
		{"share elderly alone", share(s.flags[ElderlyAlone], s.persons), 0.01, 0.03},
		{"share left-behind children", share(s.flags[LeftBehindChild], s.persons), 0.002, 0.01},
		{"share vulnerable in all", share(s.flags[Disabled]+s.flags[ElderlyAlone]+s.flags[LeftBehindChild], s.persons), 0.025, 0.06},
	}
	for i, want := range householdSizeShare {
		checks = append(checks, struct {
			name     string
			got      float64
			lo, high float64
		}{"share of size " + string(rune('1'+i)), share(s.bySize[i+1], s.households), want - 0.01, want + 0.01})
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got < c.lo || c.got > c.high {
				t.Errorf("%s = %.4f, want in [%.4f, %.4f]", c.name, c.got, c.lo, c.high)
			}
		})
	}
	if s.bySize[0] != 0 {
		t.Errorf("%d empty households", s.bySize[0])
	}
}

var phoneRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

func TestResidentsFields(t *testing.T) {
	hs := drawHouseholds(7, 20_000)
	ids := map[string]bool{}
	phones := map[string]bool{}
	for hi, h := range hs {
		if len(h) < 1 || len(h) > 5 {
			t.Fatalf("household %d has %d residents", hi, len(h))
		}
		if h[0].Relation != Head {
			t.Fatalf("household %d: first resident is %s, not the head", hi, h[0].Relation)
		}
		adults, old := 0, 0
		for _, p := range h {
			if p.Age >= AdultAge {
				adults++
				if p.Age >= GrandparentMinAge {
					old++
				}
			}
		}
		for _, p := range h {
			if p.Age < 0 || p.Age > MaxAge {
				t.Fatalf("age %d", p.Age)
			}
			if got := AgeOn(p.BirthDate, asOf); got != p.Age {
				t.Fatalf("%s born %s is %d on %s, not %d", p.Name, p.BirthDate.Format(time.DateOnly), got, asOf.Format(time.DateOnly), p.Age)
			}
			if n := len([]rune(p.Name)); n < 2 || n > 4 {
				t.Fatalf("name %q", p.Name)
			}
			if p.Sex != "M" && p.Sex != "F" {
				t.Fatalf("sex %q", p.Sex)
			}
			id := p.IDNumber
			if !ValidIDNumber(id) || !strings.HasPrefix(id, "310") {
				t.Fatalf("ID number %q invalid or not from Shanghai", id)
			}
			if id[6:14] != p.BirthDate.Format("20060102") {
				t.Fatalf("ID number %q does not hold birth date %s", id, p.BirthDate.Format("20060102"))
			}
			if male := (id[16]-'0')%2 == 1; male != (p.Sex == "M") {
				t.Fatalf("ID number %q: sex digit disagrees with %s", id, p.Sex)
			}
			if ids[id] {
				t.Fatalf("ID number %q drawn twice", id)
			}
			ids[id] = true
			if p.Phone != "" {
				if !phoneRE.MatchString(p.Phone) {
					t.Fatalf("phone %q", p.Phone)
				}
				if phones[p.Phone] {
					t.Fatalf("phone %q drawn twice", p.Phone)
				}
				phones[p.Phone] = true
			} else if p.Age >= 12 && p.Age < 80 && len(phones) == 0 {
				t.Fatalf("no phone at all")
			}
			// The flags follow the household's make-up exactly.
			alone := len(h) == 1 && p.Age >= ElderlyAloneAge
			if alone != slices.Contains(p.Vulnerability, ElderlyAlone) {
				t.Fatalf("household %d (%d residents): %s aged %d flags %v", hi, len(h), p.Name, p.Age, p.Vulnerability)
			}
			left := p.Age < AdultAge && adults > 0 && adults == old
			if left != slices.Contains(p.Vulnerability, LeftBehindChild) {
				t.Fatalf("household %d: %s aged %d flags %v, household ages %v", hi, p.Name, p.Age, p.Vulnerability, ages(h))
			}
		}
	}
}

func ages(h []Person) []int {
	var a []int
	for _, p := range h {
		a = append(a, p.Age)
	}
	return a
}

func TestResidentsDeterministic(t *testing.T) {
	a := drawHouseholds(42, 2000)
	b := drawHouseholds(42, 2000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different households")
	}
	c := drawHouseholds(43, 2000)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same households")
	}
	// A shorter run is a prefix of a longer one.
	if short := drawHouseholds(42, 500); !reflect.DeepEqual(short, a[:500]) {
		t.Fatal("the first 500 households depend on how many are drawn")
	}
}

func TestIDCheckDigit(t *testing.T) {
	// Valid numbers: the example of GB 11643-1999 and others published as valid.
	for _, id := range []string{"11010519491231002X", "440524188001010014", "110101199003074477", "310101199001011234"} {
		t.Run(id, func(t *testing.T) {
			c, err := IDCheckDigit(id[:17])
			if err != nil {
				t.Fatal(err)
			}
			if c != id[17] {
				t.Fatalf("check digit %c, want %c", c, id[17])
			}
			if !ValidIDNumber(id) {
				t.Fatal("ValidIDNumber says no")
			}
		})
	}
	for _, bad := range []string{"110105194912310021", "11010519491231002", "11010519491231002XX", "11010519491331002X", "a1010519491231002X"} {
		if ValidIDNumber(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := IDCheckDigit("1101051949123100a"); err == nil {
		t.Error("a letter in the body accepted")
	}
}

func TestIDNumber(t *testing.T) {
	birth := time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		region string
		seq    int
		sex    string
		want   string
	}{
		{"110105", 2, "F", "11010519491231002X"},
		{"110105", 3, "F", "11010519491231002X"}, // parity forced to even for a woman
		{"110105", 2, "M", "110105194912310038"},
		{"110105", 1002, "F", "11010519491231002X"}, // taken mod 1000
	}
	for _, tc := range tests {
		got, err := IDNumber(tc.region, birth, tc.seq, tc.sex)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("IDNumber(%s, %d, %s) = %s, want %s", tc.region, tc.seq, tc.sex, got, tc.want)
		}
		if !ValidIDNumber(got) {
			t.Errorf("%s not valid", got)
		}
	}
	if _, err := IDNumber("3101", birth, 1, "M"); err == nil {
		t.Error("short region accepted")
	}
}

func TestSetVulnerability(t *testing.T) {
	p := func(age int) Person { return Person{Age: age} }
	tests := []struct {
		name string
		h    []Person
		want [][]string
	}{
		{"alone at 70", []Person{p(70)}, [][]string{{ElderlyAlone}}},
		{"alone at 69", []Person{p(69)}, [][]string{nil}},
		{"old couple", []Person{p(80), p(78)}, [][]string{nil, nil}},
		{"grandparents and a child", []Person{p(66), p(64), p(8)}, [][]string{nil, nil, {LeftBehindChild}}},
		{"grandmother at 59 and a child", []Person{p(59), p(8)}, [][]string{nil, nil}},
		{"parents, child, grandparent", []Person{p(35), p(33), p(5), p(62)}, [][]string{nil, nil, nil, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			SetVulnerability(tc.h)
			for i, want := range tc.want {
				if !reflect.DeepEqual(tc.h[i].Vulnerability, want) {
					t.Errorf("resident %d: %v, want %v", i, tc.h[i].Vulnerability, want)
				}
			}
		})
	}
}

func TestAgeOn(t *testing.T) {
	day := time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		birth string
		want  int
	}{{"2000-04-04", 22}, {"2000-04-05", 21}, {"2000-04-03", 22}, {"1952-02-29", 70}} {
		b, _ := time.Parse(time.DateOnly, tc.birth)
		if got := AgeOn(b, day); got != tc.want {
			t.Errorf("AgeOn(%s) = %d, want %d", tc.birth, got, tc.want)
		}
	}
}
