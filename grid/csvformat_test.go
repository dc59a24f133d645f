package grid_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
)

// readHouseholds drains a households CSV into memory, batches of 2 to exercise the
// batching, collecting the rows it reports.
func readHouseholds(t *testing.T, csv string) ([]grid.HouseholdInput, []string) {
	t.Helper()
	r, err := grid.NewHouseholdCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var hs []grid.HouseholdInput
	var bad []string
	for batch, err := range r.Batches(2) {
		if err != nil {
			var re grid.RowError
			if !errors.As(err, &re) {
				t.Fatalf("fatal error %v", err)
			}
			bad = append(bad, re.Error())
			continue
		}
		hs = append(hs, batch...)
	}
	return hs, bad
}

func date(s string) *time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &d
}

func TestHouseholdCSVGroupsRows(t *testing.T) {
	in := "\ufeff" + grid.HouseholdCSVHeader + `
H1,121.47,31.23,人民大道200号,3,2,张三,310101195001011234,13800000000,1950-01-01,男,normal,elderly_alone;disabled
H1,,,,,,李四,,,2015-06-01,F,,left_behind_child
H2,121.50,31.20,"浦东大道1号, 东楼",,,,,,,,,
H3,121.48,31.22,南京路1号,,,王五,,,,,home_isolation,
H3,121.48,31.22,南京路1号,,,赵六,,,,m,,
`
	hs, bad := readHouseholds(t, in)
	if len(bad) > 0 {
		t.Fatalf("bad rows: %v", bad)
	}
	want := []grid.HouseholdInput{
		{ExtID: "H1", Address: "人民大道200号", Building: "3", Unit: "2", Location: orb.Point{121.47, 31.23}, Line: 2, Persons: []grid.PersonInput{
			{Name: "张三", IDNumber: "310101195001011234", Phone: "13800000000", BirthDate: date("1950-01-01"), Sex: "M", Status: "normal",
				Vulnerability: []grid.Vulnerability{grid.ElderlyAlone, grid.Disabled}, Line: 2},
			{Name: "李四", BirthDate: date("2015-06-01"), Sex: "F", Vulnerability: []grid.Vulnerability{grid.LeftBehindChild}, Line: 3},
		}},
		{ExtID: "H2", Address: "浦东大道1号, 东楼", Location: orb.Point{121.50, 31.20}, Line: 4},
		{ExtID: "H3", Address: "南京路1号", Location: orb.Point{121.48, 31.22}, Line: 5, Persons: []grid.PersonInput{
			{Name: "王五", Status: "home_isolation", Line: 5},
			{Name: "赵六", Sex: "M", Line: 6},
		}},
	}
	if !reflect.DeepEqual(hs, want) {
		t.Fatalf("got  %+v\nwant %+v", hs, want)
	}
}

func TestHouseholdCSVReportsBadRows(t *testing.T) {
	tests := []struct {
		name string
		rows string
		want []string
	}{
		{"bad number", "H1,abc,31.2,addr,,,,,,,,,", []string{`line 2: lng: "abc" is not a number`}},
		{"missing lat", "H1,121.4,,addr,,,,,,,,,", []string{`line 2: lat: is required`}},
		{"missing key", ",121.4,31.2,addr,,,,,,,,,", []string{`line 2: household: is required`}},
		{"bad date", "H1,121.4,31.2,addr,,,张三,,,1950-13-01,,,", []string{`line 2: birth_date: "1950-13-01" is not a date YYYY-MM-DD`}},
		{"conflicting rows", "H1,121.4,31.2,addr,,,张三,,,,,,\nH1,121.4,31.3,addr,,,李四,,,,,,\nH1,,,other,,,王五,,,,,,", []string{
			`line 3: lat: "31.3" differs from "31.2" on line 2 (the rows of household "H1" must agree, or leave it empty)`,
			`line 4: address: "other" differs from "addr" on line 2 (the rows of household "H1" must agree, or leave it empty)`,
		}},
		{"field count", "H1,121.4,31.2,addr", []string{`line 2: has 4 fields; the header has 13`}},
		{"bare quote", "H1,121.4,31.2,a\"ddr,,,,,,,,,\nH2,121.4,31.2,addr,,,,,,,,,", []string{`line 2: bare " in non-quoted-field`}},
		{"not utf-8", "H1,121.4,31.2,\xc8\xcb\xc3\xf1,,,,,,,,,", []string{`line 2: address: is not UTF-8 text (save the file as CSV UTF-8)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, bad := readHouseholds(t, grid.HouseholdCSVHeader+"\n"+tc.rows+"\n")
			if !reflect.DeepEqual(bad, tc.want) {
				t.Fatalf("bad rows\n got  %q\n want %q", bad, tc.want)
			}
		})
	}
}

func TestHouseholdCSVHeader(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"", "the households file is empty"},
		{"household,lng,lat", `column "address" is required`},
		{"household,lng,lat,address,floor", `unknown column "floor"`},
		{"household,lng,lat,address,lat", `column "lat" appears twice`},
	} {
		_, err := grid.NewHouseholdCSV(strings.NewReader(tc.header))
		var ge *grid.Error
		if !errors.As(err, &ge) || ge.Kind != grid.Invalid || ge.Field != "header" || !strings.Contains(ge.Message, tc.want) {
			t.Errorf("header %q: %v, want %q", tc.header, err, tc.want)
		}
	}
	// Columns may come in any order, optional ones may be left out.
	hs, bad := readHouseholds(t, "address,lat,lng,household\naddr,31.2,121.4,H9\n")
	if len(bad) > 0 || len(hs) != 1 || hs[0].Location != (orb.Point{121.4, 31.2}) || hs[0].Address != "addr" {
		t.Fatalf("reordered header: %+v %v", hs, bad)
	}
}

func readCases(t *testing.T, csv string, opt grid.CaseCSVOptions) ([]grid.CaseInput, []string, []grid.RowError) {
	t.Helper()
	r, err := grid.NewCaseCSV(strings.NewReader(csv), opt)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var cs []grid.CaseInput
	var bad []string
	for batch, err := range r.Batches(2) {
		if err != nil {
			var re grid.RowError
			if !errors.As(err, &re) {
				t.Fatalf("fatal error %v", err)
			}
			bad = append(bad, re.Error())
			continue
		}
		cs = append(cs, batch...)
	}
	return cs, bad, r.Skipped()
}

func TestCaseCSVGeocoded(t *testing.T) {
	day, _ := grid.ParseTime("2022-04-04", nil)
	opt := grid.CaseCSVOptions{ReportedAt: day, Source: "shanghai-2022-04-04"}
	in := `,f_location,latitude,longitude,location
0,"Bazao Village, Pudong, Shanghai, China, 201299",31.15621,121.71751,八灶村郭家宅
93,,,,储店村西乔家宅
1928,"Shanghai, China",31.230416,121.473701,
`
	cs, bad, skipped := readCases(t, in, opt)
	if len(bad) > 0 {
		t.Fatalf("bad rows %v", bad)
	}
	want := []grid.CaseInput{
		{ExtID: "shanghai-2022-04-04/0", Kind: grid.Confirmed, ReportedAt: day, Address: "八灶村郭家宅", Location: orb.Point{121.71751, 31.15621}, Line: 2},
		{ExtID: "shanghai-2022-04-04/1928", Kind: grid.Confirmed, ReportedAt: day, Address: "Shanghai, China", Location: orb.Point{121.473701, 31.230416}, Line: 4},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("got  %+v\nwant %+v", cs, want)
	}
	if len(skipped) != 1 || skipped[0].Line != 3 || skipped[0].Field != "latitude" {
		t.Fatalf("skipped %v", skipped)
	}
	if got := day.UTC().Format(time.RFC3339); got != "2022-04-03T16:00:00Z" {
		t.Fatalf("2022-04-04 in China is %s UTC", got)
	}

	_, bad, _ = readCases(t, ",f_location,latitude,longitude,location\n7,x,abc,121.4,y\n8,x,31.2,200,y\n,x,31.2,121.4,y\n", opt)
	wantBad := []string{`line 2: latitude: "abc" is not a number`, `line 3: longitude: 200 is outside [-180, 180]`, `line 4: id: is required (the first, unnamed column)`}
	if !reflect.DeepEqual(bad, wantBad) {
		t.Fatalf("bad rows\n got  %q\n want %q", bad, wantBad)
	}

	if _, err := grid.NewCaseCSV(strings.NewReader(in), grid.CaseCSVOptions{Source: "x"}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("geocoded format without a date: %v", err)
	}
}

func TestCaseCSVNative(t *testing.T) {
	in := `ext_id,lng,lat,address,kind,reported_at,onset_at
c1,121.4,31.2,某路1号,asymptomatic,2022-04-05,2022-04-01
c2,121.5,31.3,,,2022-04-05T08:00:00+08:00,
c3,121.5,31.3,,,,
c4,121.5,31.3,,,yesterday,
`
	cs, bad, _ := readCases(t, in, grid.CaseCSVOptions{})
	wantBad := []string{
		`line 4: reported_at: is required (or give a default date)`,
		`line 5: reported_at: "yesterday" is not a date YYYY-MM-DD, a local time YYYY-MM-DD HH:MM or an RFC 3339 time`,
	}
	if !reflect.DeepEqual(bad, wantBad) {
		t.Fatalf("bad rows\n got  %q\n want %q", bad, wantBad)
	}
	if len(cs) != 2 || cs[0].Kind != grid.Asymptomatic || cs[1].Kind != grid.Confirmed || cs[0].OnsetAt == nil ||
		!cs[1].ReportedAt.Equal(time.Date(2022, 4, 5, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("cases %+v", cs)
	}
	if _, err := grid.NewCaseCSV(strings.NewReader("id,x,y\n"), grid.CaseCSVOptions{}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("unknown header: %v", err)
	}
}
