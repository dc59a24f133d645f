package synth

// districtDensity is residents per km² of Shanghai's districts: approximately the
// 2020 (seventh) census resident population divided by the district's land area,
// rounded to the hundred. The seven central districts hold 18,000–32,000 per km², the outer ones
// 500–8,000.
var districtDensity = map[string]float64{
	"黄浦区":  32400,
	"虹口区":  32300,
	"静安区":  26500,
	"普陀区":  22600,
	"杨浦区":  20500,
	"徐汇区":  20300,
	"长宁区":  18100,
	"宝山区":  8200,
	"闵行区":  7200,
	"浦东新区": 4700,
	"嘉定区":  4000,
	"松江区":  3200,
	"青浦区":  1900,
	"奉贤区":  1700,
	"金山区":  1400,
	"崇明区":  500,
}

// DefaultDensity is the residents per km² assumed for a district not in the table:
// about the outer districts' median.
const DefaultDensity = 2000

// DistrictDensity is the residents per km² of a Shanghai district named as in the
// streets file (e.g. "黄浦区"), DefaultDensity for any other name.
func DistrictDensity(district string) float64 {
	if d, ok := districtDensity[district]; ok {
		return d
	}
	return DefaultDensity
}
