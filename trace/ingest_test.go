package trace_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/track"
)

const pltHead = "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"

// TestReadPingsFormats reads the same two pings from every format.
func TestReadPingsFormats(t *testing.T) {
	inputs := map[trace.Format]string{
		trace.PLT: pltHead + "39.9847,116.3184,0,492,39744.12,2008-10-23,02:53:04\n39.9848,116.3185,0,492,39744.12,2008-10-23,02:54:04\n",
		trace.CSV: "person,time,lat,lng\nu1,2008-10-23T02:54:04Z,39.9848,116.3185\nu1,2008-10-23T10:53:04+08:00,39.9847,116.3184\n",
		trace.GPX: `<gpx><trk><trkseg><trkpt lat="39.9847" lon="116.3184"><time>2008-10-23T02:53:04Z</time></trkpt>` +
			`<trkpt lat="39.9848" lon="116.3185"><time>2008-10-23T02:54:04Z</time></trkpt></trkseg></trk></gpx>`,
		trace.GeoJSON: `{"type":"Feature","properties":{"coordTimes":["2008-10-23T02:53:04Z","2008-10-23T02:54:04Z"]},` +
			`"geometry":{"type":"LineString","coordinates":[[116.3184,39.9847],[116.3185,39.9848]]}}`,
	}
	for f, in := range inputs {
		trajs, err := trace.ReadPings(strings.NewReader(in), f, "in", "u1")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(trajs) != 1 || trajs[0].Person != "u1" || len(trajs[0].Pings) != 2 ||
			trajs[0].Pings[0] != (track.Ping{Time: time.Date(2008, 10, 23, 2, 53, 4, 0, time.UTC), Point: orb.Point{116.3184, 39.9847}}) {
			t.Errorf("%s: %+v", f, trajs)
		}
	}
	for _, name := range []string{"a.plt", "B.CSV", "x.csv.gz", "t.gpx", "f.geojson", "f.json"} {
		if _, ok := trace.FormatOf(name); !ok {
			t.Errorf("FormatOf(%q)", name)
		}
	}
	if _, err := trace.ParseFormat("kml"); grid.KindOf(err) != grid.Invalid {
		t.Errorf("ParseFormat(kml): %v", err)
	}
	if _, err := trace.ReadPings(strings.NewReader(inputs[trace.PLT]), trace.PLT, "in", ""); grid.KindOf(err) != grid.Invalid {
		t.Errorf("plt without person: %v", err)
	}
}

// TestIngestBadInput: every bad input is refused with an answer naming the place
// and the field, and leaves pings, subjects, batches and partitions as they were.
func TestIngestBadInput(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	good := []track.Trajectory{{Person: "ok", Pings: []track.Ping{{Time: time.Date(2022, 4, 1, 8, 0, 0, 0, time.UTC), Point: orb.Point{116.4, 39.9}}}}}
	if _, err := st.IngestPings(ctx, tracer, "good", good); err != nil {
		t.Fatal(err)
	}
	partitions := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'pings'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, parts := counts(t, pool), partitions()
	at := func(h int) time.Time { return time.Date(2008, 10, 23, h, 0, 0, 0, time.UTC) }
	files := []struct {
		name, format, body, field, msg string
	}{
		{"unparsable time", "csv", "person,time,lat,lng\na,2008-10-23T02:00:00Z,39.9,116.3\na,23/10/2008 02:01,39.9,116.3\n",
			"time", `f:3: time: "23/10/2008 02:01" is not RFC 3339`},
		{"latitude out of range", "csv", "person,time,lat,lng\na,2008-10-23T02:00:00Z,99.5,116.3\n", "lat", "f:2: lat: 99.5 is outside [-90, 90]"},
		{"time going backwards", "plt", pltHead + "39.9,116.3,0,0,0,2008-10-23,02:00:00\n39.9,116.3,0,0,0,2008-10-23,01:59:59\n",
			"time", "f:8: time: 2008-10-23 01:59:59 goes back in time from 2008-10-23 02:00:00 on line 7"},
		{"gpx longitude", "gpx", `<gpx><trk><trkseg><trkpt lat="39" lon="190"><time>2008-10-23T02:00:00Z</time></trkpt></trkseg></trk></gpx>`,
			"lon", "f:1: lon: 190 is outside [-180, 180]"},
		{"geojson time", "geojson", `{"type":"Feature","properties":{"person":"a","times":["soon"]},"geometry":{"type":"LineString","coordinates":[[116,39]]}}`,
			"feature.properties.times[0]", `f: feature.properties.times[0]: "soon" is not RFC 3339`},
	}
	for _, tc := range files {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := trace.ParseFormat(tc.format)
			_, err := trace.ReadPings(strings.NewReader(tc.body), f, "f", "p")
			var ge *grid.Error
			if !asGridError(err, &ge) || ge.Kind != grid.Invalid || ge.Field != tc.field || !strings.HasPrefix(ge.Message, tc.msg) {
				t.Fatalf("error %#v, want field %q message %q", err, tc.field, tc.msg)
			}
		})
	}
	loads := []struct {
		name  string
		trajs []track.Trajectory
		field string
	}{
		{"no pings", []track.Trajectory{{Person: "a"}}, "pings"},
		{"out of range", []track.Trajectory{{Person: "a", Pings: []track.Ping{{Time: at(1), Point: orb.Point{116, 39}}, {Time: at(2), Point: orb.Point{200, 39}}}}}, "trajectories[0].pings[1]"},
		{"backwards", []track.Trajectory{{Person: "a", Pings: []track.Ping{{Time: at(2), Point: orb.Point{116, 39}}, {Time: at(1), Point: orb.Point{116, 39}}}}}, "trajectories[0].pings"},
		{"before GPS", []track.Trajectory{{Person: "a", Pings: []track.Ping{{Time: time.Unix(0, 0), Point: orb.Point{116, 39}}}}}, "trajectories[0].pings[0]"},
		{"from the future", []track.Trajectory{{Person: "a", Pings: []track.Ping{{Time: time.Now().Add(72 * time.Hour), Point: orb.Point{116, 39}}}}}, "trajectories[0].pings[0]"},
		{"person twice", []track.Trajectory{{Person: "a", Pings: good[0].Pings}, {Person: "a", Pings: good[0].Pings}}, "trajectories[1].person"},
		{"empty person", []track.Trajectory{{Pings: good[0].Pings}}, "trajectories[0].person"},
		// A good trajectory with a bad one: the good one is not written either.
		{"one bad of two", []track.Trajectory{{Person: "fine", Pings: []track.Ping{{Time: at(5), Point: orb.Point{116, 39}}}},
			{Person: "b", Pings: []track.Ping{{Time: at(1), Point: orb.Point{116, -91}}}}}, "trajectories[1].pings[0]"},
	}
	for _, tc := range loads {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.IngestPings(ctx, tracer, "bad", tc.trajs)
			var ge *grid.Error
			if !asGridError(err, &ge) || ge.Kind != grid.Invalid || ge.Field != tc.field {
				t.Fatalf("error %v, want Invalid on %s", err, tc.field)
			}
		})
	}
	if after := counts(t, pool); after != before || partitions() != parts {
		t.Fatalf("counts %v and %d partitions after bad input, were %v and %d", after, partitions(), before, parts)
	}
}

// TestCaseWithoutPings: an unknown case, and a case with no ping in the window, are
// NotFound with a message saying why, and no run is stored.
func TestCaseWithoutPings(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	day := time.Date(2022, 4, 1, 8, 0, 0, 0, time.UTC)
	rep, err := st.IngestPings(ctx, tracer, "t", []track.Trajectory{{Person: "c", Pings: []track.Ping{{Time: day, Point: orb.Point{116.4, 39.9}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := rep.Subjects[0].ID
	from, to := day.Add(24*time.Hour), day.Add(48*time.Hour)
	long := day.Add(-20 * 24 * time.Hour)
	for _, tc := range []struct {
		name  string
		q     trace.ContactQuery
		kind  grid.Kind
		field string
		msg   string
	}{
		{"unknown case", trace.ContactQuery{Case: id + 99}, grid.NotFound, "case", "no trace subject"},
		{"no pings in the window", trace.ContactQuery{Case: id, From: &from, To: &to}, grid.NotFound, "case", "has no pings between 2022-04-02T08:00:00Z and 2022-04-03T08:00:00Z (its pings run from 2022-04-01T08:00:00Z"},
		{"window too long", trace.ContactQuery{Case: id, From: &long}, grid.Invalid, "from", "longer than"},
		{"window backwards", trace.ContactQuery{Case: id, From: &to, To: &from}, grid.Invalid, "to", "is before from"},
		{"bad distance", trace.ContactQuery{Case: id, DistanceM: -1}, grid.Invalid, "distance_m", ""},
		{"bad degree", trace.ContactQuery{Case: id, Degree: 3}, grid.Invalid, "degree", ""},
		{"bad rule", trace.ContactQuery{Case: id, Rule: "nearby"}, grid.Invalid, "rule", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.TraceContacts(ctx, tracer, tc.q)
			var ge *grid.Error
			if !asGridError(err, &ge) || ge.Kind != tc.kind || ge.Field != tc.field || !strings.Contains(ge.Message, tc.msg) {
				t.Fatalf("error %v, want %s on %s containing %q", err, tc.kind, tc.field, tc.msg)
			}
		})
	}
	var runs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM trace_runs`).Scan(&runs); err != nil || runs != 0 {
		t.Fatalf("%d runs stored, %v", runs, err)
	}
	// A case alone in its window has no contacts: a run with an empty list.
	run, err := st.TraceContacts(ctx, tracer, trace.ContactQuery{Case: id})
	if err != nil || len(run.Contacts) != 0 || run.CasePings != 1 {
		t.Fatalf("lonely case: %+v %v", run, err)
	}
}

// TestPartitionsCreatedOnce: loads on the same days reuse their partitions, and a
// new day gets one.
func TestPartitionsCreatedOnce(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	ping := func(person string, at time.Time) []track.Trajectory {
		return []track.Trajectory{{Person: person, Pings: []track.Ping{{Time: at, Point: orb.Point{116.4, 39.9}}}}}
	}
	d := time.Date(2022, 4, 1, 23, 59, 59, 0, time.UTC)
	for i, tc := range []struct {
		trajs   []track.Trajectory
		created int
	}{
		{ping("a", d), 1},
		{ping("b", d.Add(-time.Hour)), 0},
		{ping("c", d.Add(time.Second)), 1}, // midnight UTC starts the next day
		{ping("a", d.Add(2*time.Second)), 0},
	} {
		rep, err := st.IngestPings(ctx, tracer, "t", tc.trajs)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != tc.created || rep.Days != 1 {
			t.Errorf("load %d: %d partitions created, %d days", i, rep.Created, rep.Days)
		}
	}
	if trace.PartitionName(19083) != "pings_20220401" {
		t.Errorf("partition name %s", trace.PartitionName(19083))
	}
}
