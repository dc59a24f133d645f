package track_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/track"
)

const pltHeader = "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"

func TestReadPLT(t *testing.T) {
	in := pltHeader +
		"39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\r\n" +
		"\n" +
		"39.984683,116.31845,0,492,39744.1202546296,2008-10-23,02:53:10\n" +
		"39.984683,116.31845,0,-777,39744.1202546296,2008-10-23,02:53:10\n"
	ps, err := track.ReadPLT(strings.NewReader(in), "a.plt")
	if err != nil {
		t.Fatal(err)
	}
	want := []track.Ping{
		{Time: time.Date(2008, 10, 23, 2, 53, 4, 0, time.UTC), Point: orb.Point{116.318417, 39.984702}},
		{Time: time.Date(2008, 10, 23, 2, 53, 10, 0, time.UTC), Point: orb.Point{116.31845, 39.984683}},
		{Time: time.Date(2008, 10, 23, 2, 53, 10, 0, time.UTC), Point: orb.Point{116.31845, 39.984683}},
	}
	if len(ps) != len(want) {
		t.Fatalf("%d pings, want %d", len(ps), len(want))
	}
	for i := range want {
		if !ps[i].Time.Equal(want[i].Time) || ps[i].Point != want[i].Point || ps[i].Time.Location() != time.UTC {
			t.Errorf("ping %d = %+v, want %+v", i, ps[i], want[i])
		}
	}
	// A header alone is an empty trajectory, not an error.
	if ps, err := track.ReadPLT(strings.NewReader(pltHeader), "empty.plt"); err != nil || len(ps) != 0 {
		t.Errorf("header only: %v, %v", ps, err)
	}
}

// TestReadPLTBadInput: each bad line is reported with the file, the line number and
// the field, and nothing after it is read.
func TestReadPLTBadInput(t *testing.T) {
	good := "39.9847,116.3184,0,492,39744.12,2008-10-23,02:53:04\n"
	tests := []struct {
		name string
		body string
		want string // the whole error message
	}{
		{"unparsable time", good + "39.9847,116.3184,0,492,39744.12,2008-10-23,25:61:00\n",
			`x.plt:8: time: "2008-10-23,25:61:00" is not a date and time YYYY-MM-DD,HH:MM:SS`},
		{"unparsable date", good + "39.9847,116.3184,0,492,39744.12,23/10/2008,02:53:05\n",
			`x.plt:8: time: "23/10/2008,02:53:05" is not a date and time YYYY-MM-DD,HH:MM:SS`},
		{"latitude out of range", "91.5,116.3184,0,492,39744.12,2008-10-23,02:53:04\n",
			`x.plt:7: lat: 91.5 is outside [-90, 90]`},
		{"longitude out of range", "39.9847,400.1,0,492,39744.12,2008-10-23,02:53:04\n",
			`x.plt:7: lng: 400.1 is outside [-180, 180]`},
		{"not a number", "39.9847,east,0,492,39744.12,2008-10-23,02:53:04\n",
			`x.plt:7: lng: "east" is not a number`},
		{"NaN", "NaN,116.3,0,492,39744.12,2008-10-23,02:53:04\n",
			`x.plt:7: lat: is not a finite number`},
		{"missing columns", "39.9847,116.3184,0,492,2008-10-23,02:53:04\n",
			`x.plt:7: want 7 comma-separated columns lat,lng,0,alt,days,date,time; got 6`},
		{"time going backwards", good + "39.9847,116.3184,0,492,39744.12,2008-10-23,02:53:05\n" + "39.9847,116.3184,0,492,39744.12,2008-10-23,02:52:59\n",
			`x.plt:9: time: 2008-10-23 02:52:59 goes back in time from 2008-10-23 02:53:05 on line 8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := track.ReadPLT(strings.NewReader(pltHeader+tc.body), "x.plt")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant      %s", err, tc.want)
			}
			var pe *track.ParseError
			if !errors.As(err, &pe) || pe.File != "x.plt" {
				t.Fatalf("not a *ParseError naming the file: %#v", err)
			}
		})
	}
	t.Run("truncated header", func(t *testing.T) {
		_, err := track.ReadPLT(strings.NewReader("Geolife trajectory\nWGS 84\n"), "x.plt")
		if err == nil || !strings.Contains(err.Error(), "x.plt") || !strings.Contains(err.Error(), "header") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("binary", func(t *testing.T) {
		_, err := track.ReadPLT(strings.NewReader(pltHeader+strings.Repeat("x", 100<<10)), "x.plt")
		if err == nil || !strings.Contains(err.Error(), "x.plt:7") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestPLTStreams: the sequence can be stopped early and yields pings as it reads.
func TestPLTStreams(t *testing.T) {
	body := pltHeader + strings.Repeat("39.9847,116.3184,0,492,39744.12,2008-10-23,02:53:04\n", 10) + "garbage\n"
	n := 0
	for _, err := range track.PLT(strings.NewReader(body), "x.plt") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("read %d", n)
	}
}

func TestReadGeoLifeFolder(t *testing.T) {
	line := func(hms string) string { return "39.9847,116.3184,0,492,39744.12,2008-10-23," + hms + "\n" }
	fsys := fstest.MapFS{
		// Files of one person whose times interleave: merged by time.
		"010/Trajectory/20081023020000.plt": {Data: []byte(pltHeader + line("02:00:00") + line("04:00:00"))},
		"010/Trajectory/20081023030000.PLT": {Data: []byte(pltHeader + line("03:00:00"))},
		"010/labels.txt":                    {Data: []byte("Start Time\tEnd Time\tTransportation Mode\n")},
		"011/Trajectory/notes.txt":          {Data: []byte("ignored")},
		"README.txt":                        {Data: []byte("ignored")},
		"tools/x.py":                        {Data: []byte("ignored: no Trajectory folder")},
	}
	trajs, err := track.ReadGeoLife(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(trajs) != 2 || trajs[0].Person != "010" || trajs[1].Person != "011" {
		t.Fatalf("persons %+v", trajs)
	}
	var got []string
	for _, p := range trajs[0].Pings {
		got = append(got, p.Time.Format("15:04"))
	}
	if strings.Join(got, " ") != "02:00 03:00 04:00" {
		t.Errorf("merged times %v", got)
	}
	if trajs[1].Pings == nil || len(trajs[1].Pings) != 0 {
		t.Errorf("a known person without files: %+v", trajs[1])
	}

	fsys["012/Trajectory/bad.plt"] = &fstest.MapFile{Data: []byte(pltHeader + line("02:00:00") + line("01:00:00"))}
	if _, err := track.ReadGeoLife(fsys); err == nil || !strings.HasPrefix(err.Error(), "012/Trajectory/bad.plt:8: time:") {
		t.Errorf("error %v", err)
	}
	if _, err := track.ReadGeoLife(fstest.MapFS{"x.txt": {}}); err == nil || !strings.Contains(err.Error(), "no person folders") {
		t.Errorf("error %v", err)
	}
}

// TestReadGeoLifeSample reads the committed sample: 8 users, 107,576 points, each
// trajectory in time order.
func TestReadGeoLifeSample(t *testing.T) {
	trajs, committed := geolifetest.Trajectories(t)
	total := 0
	for _, tr := range trajs {
		total += len(tr.Pings)
		if err := track.CheckOrder(tr.Pings); err != nil {
			t.Errorf("%s: %v", tr.Person, err)
		}
	}
	if committed && (len(trajs) != 8 || total != 107576) {
		t.Errorf("%d users, %d points; want 8 and 107,576", len(trajs), total)
	}
	if committed {
		first := trajs[0].Pings[0]
		if first.Time != time.Date(2008, 10, 23, 2, 53, 4, 0, time.UTC) || first.Point != (orb.Point{116.318417, 39.984702}) {
			t.Errorf("first ping of 000: %+v", first)
		}
	}
}

func TestReadCSV(t *testing.T) {
	in := "\ufefflat,lng,person,time,note\n" +
		"39.98,116.31,b,2008-10-23T10:53:04+08:00,x\n" +
		"39.97,116.30,a,2008-10-23T02:00:00Z,\n" +
		"39.99,116.32,b,2008-10-23T02:00:00.5Z,\n"
	trajs, err := track.ReadCSV(strings.NewReader(in), "p.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(trajs) != 2 || trajs[0].Person != "a" || trajs[1].Person != "b" || len(trajs[1].Pings) != 2 {
		t.Fatalf("trajectories %+v", trajs)
	}
	b := trajs[1].Pings
	if b[0].Time != time.Date(2008, 10, 23, 2, 0, 0, 5e8, time.UTC) || b[1].Time != time.Date(2008, 10, 23, 2, 53, 4, 0, time.UTC) || b[1].Point != (orb.Point{116.31, 39.98}) {
		t.Errorf("b's pings %+v (sorted by time, in UTC)", b)
	}
}

func TestReadCSVBadInput(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "p.csv:1: header: empty file; want the header person,time,lat,lng"},
		{"no time column", "person,lat,lng\n", `p.csv:1: header: no "time" column; want the header person,time,lat,lng`},
		{"time without zone", "person,time,lat,lng\na,2008-10-23 02:53:04,39.9,116.3\n", `p.csv:2: time: "2008-10-23 02:53:04" is not RFC 3339 with a zone (2008-10-23T02:53:04Z)`},
		{"latitude out of range", "person,time,lat,lng\na,2008-10-23T02:53:04Z,-95,116.3\n", `p.csv:2: lat: -95 is outside [-90, 90]`},
		{"bad number", "person,time,lat,lng\na,2008-10-23T02:53:04Z,39.9,\n", `p.csv:2: lng: "" is not a number`},
		{"empty person", "person,time,lat,lng\n,2008-10-23T02:53:04Z,39.9,116.3\n", `p.csv:2: person: is empty`},
		{"csv syntax", "person,time,lat,lng\na,\"2008,39.9,116.3\n", `p.csv:2: csv:`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := track.ReadCSV(strings.NewReader(tc.body), "p.csv")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant      %s", err, tc.want)
			}
		})
	}
}

func TestBetween(t *testing.T) {
	var ps []track.Ping
	for i := 0; i < 10; i++ {
		ps = append(ps, track.Ping{Time: time.Unix(int64(i)*60, 0)})
	}
	tests := []struct {
		from, to time.Time
		lo, n    int
	}{
		{time.Time{}, time.Time{}, 0, 10},
		{time.Unix(120, 0), time.Unix(300, 0), 2, 4},
		{time.Unix(121, 0), time.Unix(299, 0), 3, 2},
		{time.Unix(1000, 0), time.Time{}, 10, 0},
		{time.Time{}, time.Unix(-1, 0), 0, 0},
		{time.Unix(300, 0), time.Unix(120, 0), 5, 0},
	}
	for _, tc := range tests {
		got := track.Between(ps, tc.from, tc.to)
		if len(got) != tc.n || (tc.n > 0 && got[0] != ps[tc.lo]) {
			t.Errorf("Between(%v, %v) = %d pings", tc.from, tc.to, len(got))
		}
	}
}
