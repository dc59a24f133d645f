package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/gridtrace/gridtrace/geo"
)

// Street is where households may live: a street or town of a district, with the
// polygons its compounds may stand in (its grids, or the street itself when it has
// none).
type Street struct {
	District string  // e.g. "黄浦区": chooses the density and the address prefix
	Name     string  // e.g. "外滩街道"
	AreaKm2  float64 // land the residents share; with the density, the street's weight
	Parts    []orb.MultiPolygon
}

// Household is a synthetic household at a point in a compound of a street.
type Household struct {
	Seq      int // 0-based position in the stream of its seed
	Street   int // index into the streets given to NewGenerator
	Part     int // index into the street's Parts holding the compound's centre
	Location orb.Point
	Address  string // "上海市<district><road><n>弄<b>号<u>室"
	Building string // "<road><n>弄<b>号"
	Unit     string // "<floor><room>室"
	Persons  []Person
}

// Config fixes what a synthetic population depends on besides the streets.
type Config struct {
	Seed uint64
	// AsOf is the day on which the residents' ages hold (birth dates follow from it).
	AsOf time.Time
}

// Compound layout. A compound (小区 or 弄) holds CompoundMin–CompoundMax households
// in blocks (号) laid out on a small grid; households of one block sit within
// JitterM of the block's point, so a building and its units are one place on the
// map. A compound's centre is kept MarginSlackM beyond its own radius from the edge
// of the part it stands in, so all its households fall in the same grid.
const (
	CompoundMin  = 20
	CompoundMax  = 200
	JitterM      = 3.0
	BlockDXM     = 25.0 // east–west spacing of blocks
	BlockDYM     = 30.0 // north–south spacing of blocks
	MarginSlackM = 5.0
)

// maxTries bounds the rejection sampling of a compound's centre before the margin
// is dropped, and then before falling back to a vertex of the largest part.
const maxTries = 2000

// blockStyle is a kind of residential building: floors × flats per floor.
type blockStyle struct {
	floors, perFloor int
	weight           float64
}

// blockStyles are Shanghai's usual housing: six-storey walk-ups of the 1980s–90s
// (老公房), mid-rises and high-rises.
var blockStyles = []blockStyle{{6, 2, 0.45}, {11, 4, 0.25}, {18, 4, 0.30}}

// Generator yields synthetic households one by one: each compound is put in a
// street chosen in proportion to area × district density and filled with
// households whose residents come from Residents. The n-th household of a seed is
// the same however many are drawn, so a longer run only adds to a shorter one.
type Generator struct {
	r       *rand.Rand
	people  *Residents
	streets []street
	cum     []float64 // cumulative street weights
	lanes   map[string]struct{}
	seq     int
	pending []slot
	degPerM float64
	phase   float64 // position of the last compound on the street weights, in [0, 1)
}

// goldenFrac is the golden ratio's fractional part, the step of the most evenly
// spread additive sequence modulo 1.
const goldenFrac = 0.6180339887498949

type street struct {
	Street
	bounds []orb.Bound
	all    orb.Bound
	area   []float64 // planar area of each part, to pick the fallback
}

// slot is a household's place, decided when its compound is laid out.
type slot struct {
	street, part   int
	at             orb.Point
	building, unit string
	district       string
}

// NewGenerator checks the streets and returns a generator. It fails when no street
// has a positive area and a part with positive area, or AsOf is zero.
func NewGenerator(cfg Config, streets []Street) (*Generator, error) {
	if cfg.AsOf.IsZero() {
		return nil, errors.New("synth: Config.AsOf is required (ages are reckoned on it)")
	}
	g := &Generator{
		r:       rand.New(rand.NewPCG(cfg.Seed, 0x706c616365)), // stream "place"
		people:  NewResidents(cfg.Seed, cfg.AsOf),
		lanes:   map[string]struct{}{},
		degPerM: 180 / (math.Pi * geo.EarthRadiusM),
	}
	g.phase = g.r.Float64()
	total := 0.0
	for _, s := range streets {
		st := street{Street: s}
		partArea := 0.0
		for i, p := range s.Parts {
			b := p.Bound()
			st.bounds = append(st.bounds, b)
			if i == 0 {
				st.all = b
			} else {
				st.all = st.all.Union(b)
			}
			a := planar.Area(p)
			st.area = append(st.area, a)
			partArea += a
		}
		w := 0.0
		if partArea > 0 && s.AreaKm2 > 0 {
			w = s.AreaKm2 * DistrictDensity(s.District)
		}
		total += w
		g.streets = append(g.streets, st)
		g.cum = append(g.cum, total)
	}
	if total <= 0 {
		return nil, errors.New("synth: no street with a positive area to place households in")
	}
	return g, nil
}

// Households draws the first n households of the stream for cfg.
func Households(cfg Config, streets []Street, n int) ([]Household, error) {
	g, err := NewGenerator(cfg, streets)
	if err != nil {
		return nil, err
	}
	out := make([]Household, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out, nil
}

// Next draws the next household.
func (g *Generator) Next() Household {
	if len(g.pending) == 0 {
		g.layCompound()
	}
	s := g.pending[0]
	g.pending = g.pending[1:]
	h := Household{
		Seq:      g.seq,
		Street:   s.street,
		Part:     s.part,
		Location: s.at,
		Address:  "上海市" + s.district + s.building + s.unit,
		Building: s.building,
		Unit:     s.unit,
		Persons:  g.people.Household(),
	}
	g.seq++
	return h
}

// layCompound chooses the next compound's street, size, blocks and place, and
// queues its households.
func (g *Generator) layCompound() {
	r := g.r
	// The street is the one at x on the cumulative weights, never one of zero
	// weight. x follows the golden-ratio sequence frac(x0 + k·0.618…) rather than
	// independent draws: every prefix of it spreads evenly over [0, 1), so even a
	// few hundred compounds give each district close to its share of residents
	// (independent draws left central districts at half their share in a 20,000-
	// household demo), and the n-th compound still does not depend on the total.
	g.phase = math.Mod(g.phase+goldenFrac, 1)
	x := g.phase * g.cum[len(g.cum)-1]
	si := min(sort.Search(len(g.cum), func(i int) bool { return g.cum[i] > x }), len(g.cum)-1)
	st := &g.streets[si]

	// Sizes are log-uniform: many small lanes, fewer large estates (mean ≈ 78).
	size := int(math.Round(CompoundMin * math.Pow(CompoundMax/CompoundMin, r.Float64())))
	size = min(max(size, CompoundMin), CompoundMax)
	style := blockStyles[len(blockStyles)-1]
	u := r.Float64()
	for _, bs := range blockStyles {
		if u < bs.weight {
			style = bs
			break
		}
		u -= bs.weight
	}
	perBlock := style.floors * style.perFloor
	blocks := (size + perBlock - 1) / perBlock
	cols := int(math.Ceil(math.Sqrt(float64(blocks))))
	rows := (blocks + cols - 1) / cols
	radius := math.Hypot(float64(cols-1)*BlockDXM/2, float64(rows-1)*BlockDYM/2) + JitterM

	centre, part := g.site(st, radius+MarginSlackM)
	lane := g.lane()
	cosLat := math.Cos(centre.Lat() * math.Pi / 180)
	for b := 0; b < blocks; b++ {
		// Spread the households evenly over the blocks, each block's flats chosen
		// at random among its floors.
		n := size / blocks
		if b < size%blocks {
			n++
		}
		dx := (float64(b%cols) - float64(cols-1)/2) * BlockDXM
		dy := (float64(rows-1)/2 - float64(b/cols)) * BlockDYM
		flats := r.Perm(perBlock)[:n]
		sort.Ints(flats)
		building := fmt.Sprintf("%s%d号", lane, b+1)
		for _, f := range flats {
			jr := JitterM * math.Sqrt(r.Float64())
			ja := 2 * math.Pi * r.Float64()
			x := dx + jr*math.Cos(ja)
			y := dy + jr*math.Sin(ja)
			at := orb.Point{centre.Lon() + x*g.degPerM/cosLat, centre.Lat() + y*g.degPerM}
			g.pending = append(g.pending, slot{
				street: si, part: part, at: at, district: st.District,
				building: building,
				unit:     fmt.Sprintf("%d%02d室", f/style.perFloor+1, f%style.perFloor+1),
			})
		}
	}
}

// lane names the compound: a road and a lane number (弄) not used before.
func (g *Generator) lane() string {
	r := g.r
	road := roadNames[r.IntN(len(roadNames))] + roadSuffixes[r.IntN(len(roadSuffixes))]
	n := 1 + r.IntN(1500)
	for {
		l := fmt.Sprintf("%s%d弄", road, n)
		if _, used := g.lanes[l]; !used {
			g.lanes[l] = struct{}{}
			return l
		}
		n++
	}
}

// site draws a point inside one of the street's parts, at least marginM metres from
// that part's edge when it can; it returns the point and the part's index.
func (g *Generator) site(st *street, marginM float64) (orb.Point, int) {
	for _, m := range []float64{marginM, 0} {
		for try := 0; try < maxTries; try++ {
			p := orb.Point{
				st.all.Min.Lon() + g.r.Float64()*(st.all.Max.Lon()-st.all.Min.Lon()),
				st.all.Min.Lat() + g.r.Float64()*(st.all.Max.Lat()-st.all.Min.Lat()),
			}
			for i, part := range st.Parts {
				if !st.bounds[i].Contains(p) || !planar.MultiPolygonContains(part, p) {
					continue
				}
				if m == 0 || farFromEdge(part, p, m) {
					return p, i
				}
				break // parts do not overlap: p is too close to this one's edge
			}
		}
	}
	// A shape the sampler cannot hit (a sliver): use a vertex of the largest part.
	best := 0
	for i, a := range st.area {
		if a > st.area[best] {
			best = i
		}
	}
	return st.Parts[best][0][0][0], best
}

// farFromEdge reports whether p is at least m metres from every ring of mp, in a
// local equirectangular projection (exact enough at these distances).
func farFromEdge(mp orb.MultiPolygon, p orb.Point, m float64) bool {
	kx := math.Cos(p.Lat()*math.Pi/180) * math.Pi * geo.EarthRadiusM / 180
	ky := math.Pi * geo.EarthRadiusM / 180
	m2 := m * m
	for _, poly := range mp {
		for _, ring := range poly {
			for i := 1; i < len(ring); i++ {
				ax, ay := (ring[i-1][0]-p[0])*kx, (ring[i-1][1]-p[1])*ky
				bx, by := (ring[i][0]-p[0])*kx, (ring[i][1]-p[1])*ky
				if segDist2(ax, ay, bx, by) < m2 {
					return false
				}
			}
		}
	}
	return true
}

// segDist2 is the squared distance from the origin to segment a–b.
func segDist2(ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = min(max(-(ax*dx+ay*dy)/l2, 0), 1)
	}
	x, y := ax+t*dx, ay+t*dy
	return x*x + y*y
}
