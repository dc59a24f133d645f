package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Relation is a resident's place in the household, relative to its head.
type Relation string

// The relations a synthetic household uses.
const (
	Head       Relation = "head"
	Spouse     Relation = "spouse"
	Child      Relation = "child"
	Parent     Relation = "parent"
	Grandchild Relation = "grandchild"
)

// The vulnerability flags synth sets; the names are those of the persons table.
const (
	ElderlyAlone    = "elderly_alone"
	Disabled        = "disabled"
	LeftBehindChild = "left_behind_child"
)

// Vulnerability thresholds. ElderlyAloneAge follows DOMAIN.md (home isolation allowed
// from 70); a left-behind child lives with grandparents only, all aged
// GrandparentMinAge or more; AdultAge separates children from adults.
const (
	ElderlyAloneAge   = 70
	GrandparentMinAge = 60
	AdultAge          = 18
)

// Person is a synthetic resident.
type Person struct {
	Name          string
	Sex           string // "M" or "F"
	BirthDate     time.Time
	Age           int // completed years at the generator's AsOf date
	IDNumber      string
	Phone         string // empty for children under 12 and some of the very old
	Relation      Relation
	Vulnerability []string // ElderlyAlone, Disabled, LeftBehindChild
}

// householdSizeShare is the share of households with 1–5 residents, chosen to give
// Shanghai's 2020 census average of 2.32 residents per household with its many one-
// and two-person households; households of six or more are folded into five.
// Mean 2.33.
var householdSizeShare = [5]float64{0.28, 0.33, 0.23, 0.10, 0.06}

// ageBandShare is the percentage of residents in each five-year age band from 0–4
// to 95–99, shaped like Shanghai's 2020 census pyramid and summing to its totals:
// 9.8% under 15 and 23.4% aged 60 or more (the bands themselves are rounded
// estimates). Ages inside a household are drawn from it restricted to what the
// household's make-up allows, so members stay plausible relative to each other.
var ageBandShare = [20]float64{
	3.1, 3.6, 3.1, // 0–14
	3.0, 5.5, 8.0, 10.6, 9.4, 7.9, 7.4, 7.2, 7.9, // 15–59
	7.8, 7.0, 4.2, 2.0, 1.3, 0.8, 0.25, 0.05, // 60–99
}

// MaxAge is the oldest age generated.
const MaxAge = 99

// disabledRate is the chance a resident is registered disabled, by age: about 1.5%
// of residents overall, as issue 2 asks, and three times likelier from 60.
const (
	disabledRateUnder60 = 0.010
	disabledRate60Plus  = 0.033
)

// Residents generates the members of households one household at a time. Its
// output depends only on the seed, the AsOf date and how many households were drawn
// before: the n-th household is the same whatever is drawn after it. ID and phone
// numbers are unique across everything one Residents generates.
type Residents struct {
	r      *rand.Rand
	asOf   time.Time
	ageCum [MaxAge + 2]float64 // ageCum[a] is the weight of ages below a
	ids    map[string]struct{}
	phones map[string]struct{}
	surCum []int
}

// NewResidents returns a generator seeded with seed whose ages hold on asOf.
func NewResidents(seed uint64, asOf time.Time) *Residents {
	g := &Residents{
		r:      rand.New(rand.NewPCG(seed, 0x70656f706c65)), // stream "people"
		asOf:   time.Date(asOf.Year(), asOf.Month(), asOf.Day(), 0, 0, 0, 0, time.UTC),
		ids:    map[string]struct{}{},
		phones: map[string]struct{}{},
	}
	for a := 0; a <= MaxAge; a++ {
		g.ageCum[a+1] = g.ageCum[a] + ageBandShare[a/5]/5
	}
	total := 0
	for _, s := range surnames {
		total += s.weight
		g.surCum = append(g.surCum, total)
	}
	return g
}

// member is a resident before names and numbers are drawn.
type member struct {
	age int
	sex string
	rel Relation
}

// Household draws the next household's residents, head first.
func (g *Residents) Household() []Person {
	ms := g.makeup()
	return g.finish(ms)
}

// makeup draws the household's size and then one of the usual family make-ups for
// that size. The make-up weights were tuned so the residents' ages match
// ageBandShare's shares of children and of people aged 60+ (see the tests).
func (g *Residents) makeup() []member {
	r := g.r
	u := r.Float64()
	size := 5
	for i, s := range householdSizeShare {
		if u < s {
			size = i + 1
			break
		}
		u -= s
	}
	switch size {
	case 1:
		if r.Float64() < 0.27 {
			return []member{{g.age(60, MaxAge), g.sexWithFemale(0.62), Head}}
		}
		return []member{{g.age(20, 59), g.sex(), Head}}
	case 2:
		switch g.pick(0.18, 0.63, 0.05, 0.10, 0.015) {
		case 0: // elderly couple
			return g.couple(60, 95)
		case 1: // younger couple
			return g.couple(22, 59)
		case 2: // one parent and a child
			c := g.age(0, 17)
			return []member{{g.age(c+22, min(c+42, 59)), g.sexWithFemale(0.8), Head}, {c, g.sex(), Child}}
		case 3: // an old parent and a grown child
			p := g.age(62, 95)
			return []member{{g.age(max(20, p-42), p-22), g.sex(), Head}, {p, g.sexWithFemale(0.65), Parent}}
		default: // a grandparent and a grandchild left behind
			return g.leftBehind(1, 1)
		}
	case 3:
		switch g.pick(0.32, 0.47, 0.10, 0.05, 0.015) {
		case 0: // couple and a minor child
			c := g.age(0, 17)
			return append(g.couple(c+22, min(c+42, 59)), member{c, g.sex(), Child})
		case 1: // couple and a grown child
			c := g.age(18, 35)
			return append(g.couple(c+22, c+36), member{c, g.sex(), Child})
		case 2: // couple and an old parent
			ms := g.couple(30, 59)
			return append(ms, member{g.age(max(60, ms[0].age+22), min(ms[0].age+40, MaxAge)), g.sexWithFemale(0.65), Parent})
		case 3: // an old couple and a grown child living with them
			ms := g.couple(60, 85)
			return append(ms, member{g.age(max(20, ms[0].age-40), ms[0].age-22), g.sex(), Child})
		default:
			return g.leftBehind(2, 1)
		}
	case 4:
		switch g.pick(0.26, 0.46, 0.26, 0.02) {
		case 0: // couple and two minor children
			c1 := g.age(0, 17)
			c2 := g.sibling(c1)
			ms := g.couple(max(c1, c2)+22, min(max(c1, c2)+42, 59))
			return append(ms, member{c1, g.sex(), Child}, member{c2, g.sex(), Child})
		case 1: // couple, a minor child and a grandparent
			c := g.age(0, 17)
			ms := g.couple(c+22, min(c+42, 59))
			return append(ms, member{c, g.sex(), Child}, member{g.age(ms[0].age+22, min(ms[0].age+40, MaxAge)), g.sexWithFemale(0.65), Parent})
		case 2: // couple, a grown child and a grandparent
			c := g.age(18, 30)
			ms := g.couple(c+22, c+38)
			return append(ms, member{c, g.sex(), Child}, member{g.age(ms[0].age+22, min(ms[0].age+40, MaxAge)), g.sexWithFemale(0.65), Parent})
		default:
			return g.leftBehind(2, 2)
		}
	default:
		switch g.pick(0.72, 0.22, 0.06) {
		case 0: // three generations: grandparents, couple, a child
			c := g.age(0, 17)
			ms := g.couple(c+22, min(c+42, 59))
			gp := g.couple(ms[0].age+22, min(ms[0].age+38, 95))
			for i := range gp {
				gp[i].rel = Parent
			}
			return append(append(ms, member{c, g.sex(), Child}), gp...)
		case 1: // couple, two children and a grandparent
			c1 := g.age(0, 17)
			c2 := g.sibling(c1)
			ms := g.couple(max(c1, c2)+22, min(max(c1, c2)+42, 59))
			return append(ms, member{c1, g.sex(), Child}, member{c2, g.sex(), Child},
				member{g.age(ms[0].age+22, min(ms[0].age+40, MaxAge)), g.sexWithFemale(0.65), Parent})
		default: // couple and three children
			c1 := g.age(0, 17)
			c2, c3 := g.sibling(c1), g.sibling(c1)
			ms := g.couple(max(c1, c2, c3)+22, min(max(c1, c2, c3)+42, 59))
			return append(ms, member{c1, g.sex(), Child}, member{c2, g.sex(), Child}, member{c3, g.sex(), Child})
		}
	}
}

// leftBehind is a household of grandparents (all GrandparentMinAge or older) and
// grandchildren aged 1–15 whose parents work elsewhere.
func (g *Residents) leftBehind(grandparents, children int) []member {
	var ms []member
	oldest := 0
	var kids []member
	for i := 0; i < children; i++ {
		c := g.age(1, 15)
		oldest = max(oldest, c)
		kids = append(kids, member{c, g.sex(), Grandchild})
	}
	lo := max(GrandparentMinAge, oldest+45)
	if grandparents == 1 {
		ms = append(ms, member{g.age(lo, 82), g.sexWithFemale(0.6), Head})
	} else {
		ms = g.couple(lo, 82)
		for i := range ms {
			ms[i].age = max(ms[i].age, GrandparentMinAge)
		}
	}
	return append(ms, kids...)
}

// couple is a head aged lo–hi and a spouse of the other sex, the husband usually a
// little older.
func (g *Residents) couple(lo, hi int) []member {
	if hi < lo {
		hi = lo
	}
	a := g.age(lo, hi)
	hs := g.sex()
	gap := int(math.Round(g.r.NormFloat64()*3)) + 2 // husbands are ~2 years older
	if hs == "M" {
		gap = -gap
	}
	b := min(max(a+gap, lo-3, 20), MaxAge)
	return []member{{a, hs, Head}, {b, other(hs), Spouse}}
}

// sibling is a brother's or sister's age, 1–8 years from c, within 0–17.
func (g *Residents) sibling(c int) int {
	d := 1 + g.r.IntN(8)
	if g.r.IntN(2) == 0 && c-d >= 0 || c+d > 17 {
		return max(c-d, 0)
	}
	return c + d
}

// age draws an age in [lo, hi] from ageBandShare restricted to that range.
func (g *Residents) age(lo, hi int) int {
	lo, hi = max(lo, 0), min(hi, MaxAge)
	if hi <= lo {
		return max(lo, 0)
	}
	a, b := g.ageCum[lo], g.ageCum[hi+1]
	x := a + g.r.Float64()*(b-a)
	i, _ := slices.BinarySearch(g.ageCum[:], x)
	return min(max(i-1, lo), hi)
}

func (g *Residents) sex() string { return g.sexWithFemale(0.5) }

func (g *Residents) sexWithFemale(p float64) string {
	if g.r.Float64() < p {
		return "F"
	}
	return "M"
}

func other(sex string) string {
	if sex == "M" {
		return "F"
	}
	return "M"
}

// pick returns i with probability w[i] / Σw.
func (g *Residents) pick(w ...float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	u := g.r.Float64() * total
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}

// finish draws names, birth dates, ID and phone numbers, and sets the vulnerability
// flags from the household's make-up.
func (g *Residents) finish(ms []member) []Person {
	family := g.surname() // the father's line: children and grandchildren carry it
	out := make([]Person, len(ms))
	for i, m := range ms {
		sur := family
		if m.sex == "F" && (m.rel == Head || m.rel == Spouse || m.rel == Parent) && len(ms) > 1 {
			sur = g.surname() // married women keep their own surname
		}
		birth := g.birth(m.age)
		p := Person{
			Name:      sur + g.given(m.sex, birth.Year()),
			Sex:       m.sex,
			BirthDate: birth,
			Age:       m.age,
			Relation:  m.rel,
		}
		p.IDNumber = g.idNumber(birth, m.sex)
		if m.age >= 12 && (m.age < 80 && g.r.Float64() < 0.97 || m.age >= 80 && g.r.Float64() < 0.7) {
			p.Phone = g.phone()
		}
		rate := disabledRateUnder60
		if m.age >= 60 {
			rate = disabledRate60Plus
		}
		if g.r.Float64() < rate {
			p.Vulnerability = append(p.Vulnerability, Disabled)
		}
		out[i] = p
	}
	SetVulnerability(out)
	return out
}

// SetVulnerability adds the flags that follow from a household's make-up: a person
// living alone aged ElderlyAloneAge or more is ElderlyAlone; a child under AdultAge
// whose household's adults are all GrandparentMinAge or older is LeftBehindChild.
func SetVulnerability(ps []Person) {
	if len(ps) == 1 && ps[0].Age >= ElderlyAloneAge {
		ps[0].Vulnerability = addFlag(ps[0].Vulnerability, ElderlyAlone)
	}
	adults, oldAdults := 0, 0
	for _, p := range ps {
		if p.Age >= AdultAge {
			adults++
			if p.Age >= GrandparentMinAge {
				oldAdults++
			}
		}
	}
	if adults == 0 || adults != oldAdults {
		return
	}
	for i := range ps {
		if ps[i].Age < AdultAge {
			ps[i].Vulnerability = addFlag(ps[i].Vulnerability, LeftBehindChild)
		}
	}
}

func addFlag(flags []string, f string) []string {
	if slices.Contains(flags, f) {
		return flags
	}
	return append(flags, f)
}

// birth is a birth date at which a person is age on asOf.
func (g *Residents) birth(age int) time.Time {
	// Between one year and a day before the age-th birthday-on-asOf and that day.
	return g.asOf.AddDate(-age, 0, -g.r.IntN(365))
}

// AgeOn is the completed years at day of someone born on birth.
func AgeOn(birth, day time.Time) int {
	age := day.Year() - birth.Year()
	if day.Month() < birth.Month() || day.Month() == birth.Month() && day.Day() < birth.Day() {
		age--
	}
	return age
}

func (g *Residents) surname() string {
	x := g.r.IntN(g.surCum[len(g.surCum)-1])
	i, _ := slices.BinarySearch(g.surCum, x+1)
	return surnames[i].name
}

// given is a given name in the fashion of the birth year: names after the times
// before 1965, one or two characters from a modern list after.
func (g *Residents) given(sex string, year int) string {
	r := g.r
	if year < 1965 && r.Float64() < 0.8 {
		if sex == "M" {
			return oldMaleNames[r.IntN(len(oldMaleNames))]
		}
		return oldFemaleNames[r.IntN(len(oldFemaleNames))]
	}
	chars := maleChars
	if sex == "F" {
		chars = femaleChars
	}
	var b strings.Builder
	b.WriteString(chars[r.IntN(len(chars))])
	if r.Float64() < 0.75 {
		b.WriteString(chars[r.IntN(len(chars))])
	}
	return b.String()
}

// idNumber draws a resident ID number not drawn before by this generator.
func (g *Residents) idNumber(birth time.Time, sex string) string {
	region := regionCodes[g.r.IntN(len(regionCodes))]
	seq := g.r.IntN(1000)
	for i := 0; ; i++ {
		if i > 0 && i%500 == 0 {
			region = regionCodes[g.r.IntN(len(regionCodes))]
		}
		// IDNumber fails only on a malformed region, and ours are all six digits.
		id, _ := IDNumber(region, birth, seq+2*i, sex)
		if _, dup := g.ids[id]; !dup {
			g.ids[id] = struct{}{}
			return id
		}
	}
}

// phone draws an 11-digit mobile number not drawn before by this generator.
func (g *Residents) phone() string {
	for {
		p := phonePrefixes[g.r.IntN(len(phonePrefixes))] + pad8(g.r.IntN(100_000_000))
		if _, dup := g.phones[p]; !dup {
			g.phones[p] = struct{}{}
			return p
		}
	}
}

func pad8(n int) string {
	const digits = "0123456789"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[n%10]
		n /= 10
	}
	return string(b[:])
}
