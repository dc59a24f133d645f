package track_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/trace/track"
)

const gpxDoc = `<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <metadata><time>2020-01-01T00:00:00Z</time></metadata>
  <wpt lat="1" lon="2"><time>2001-01-01T00:00:00Z</time></wpt>
  <trk><name>two segments, the second earlier</name>
    <trkseg>
      <trkpt lat="39.9847" lon="116.3184"><ele>10</ele><time>2008-10-23T02:53:04Z</time></trkpt>
      <trkpt lat="39.9848" lon="116.3185"><time>2008-10-23T10:53:10+08:00</time><extensions><x>1</x></extensions></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="39.9800" lon="116.3000"><time>2008-10-23T01:00:00</time></trkpt>
    </trkseg>
  </trk>
</gpx>
`

func TestReadGPX(t *testing.T) {
	tr, err := track.ReadGPX(strings.NewReader(gpxDoc), "a.gpx", "p1")
	if err != nil {
		t.Fatal(err)
	}
	want := []track.Ping{
		{Time: time.Date(2008, 10, 23, 1, 0, 0, 0, time.UTC), Point: orb.Point{116.3, 39.98}},
		{Time: time.Date(2008, 10, 23, 2, 53, 4, 0, time.UTC), Point: orb.Point{116.3184, 39.9847}},
		{Time: time.Date(2008, 10, 23, 2, 53, 10, 0, time.UTC), Point: orb.Point{116.3185, 39.9848}},
	}
	if tr.Person != "p1" || len(tr.Pings) != len(want) {
		t.Fatalf("trajectory %+v", tr)
	}
	for i := range want {
		if !tr.Pings[i].Time.Equal(want[i].Time) || tr.Pings[i].Point != want[i].Point || tr.Pings[i].Time.Location() != time.UTC {
			t.Errorf("ping %d = %+v, want %+v", i, tr.Pings[i], want[i])
		}
	}
	// GPX 1.0 without a namespace reads the same way.
	old := strings.Replace(gpxDoc, ` xmlns="http://www.topografix.com/GPX/1/1"`, "", 1)
	if tr, err := track.ReadGPX(strings.NewReader(old), "a.gpx", "p1"); err != nil || len(tr.Pings) != 3 {
		t.Errorf("no namespace: %v %v", tr, err)
	}
}

func TestReadGPXBadInput(t *testing.T) {
	pt := func(lat, lon, tm string) string {
		return `<trkpt lat="` + lat + `" lon="` + lon + `"><time>` + tm + `</time></trkpt>` + "\n"
	}
	doc := func(pts ...string) string {
		return "<gpx>\n<trk><trkseg>\n" + strings.Join(pts, "") + "</trkseg></trk>\n</gpx>\n"
	}
	good := pt("39.9", "116.3", "2008-10-23T02:53:04Z")
	tests := []struct{ name, body, want string }{
		{"not gpx", "<kml></kml>", "x.gpx:1: header: root element <kml>: not a GPX file (want <gpx>)"},
		{"empty", "", "x.gpx:1: header: no <gpx> element: not a GPX file"},
		{"unparsable time", doc(good, pt("39.9", "116.3", "yesterday")), `x.gpx:4: time: "yesterday" is not an xsd:dateTime such as 2008-10-23T02:53:04Z`},
		{"latitude out of range", doc(pt("95", "116.3", "2008-10-23T02:53:04Z")), "x.gpx:3: lat: 95 is outside [-90, 90]"},
		{"longitude out of range", doc(pt("39.9", "-181", "2008-10-23T02:53:04Z")), "x.gpx:3: lon: -181 is outside [-180, 180]"},
		{"not a number", doc(pt("north", "116.3", "2008-10-23T02:53:04Z")), `x.gpx:3: lat: "north" is not a number`},
		{"no time", "<gpx><trk><trkseg>\n<trkpt lat=\"1\" lon=\"2\"></trkpt></trkseg></trk></gpx>", "x.gpx:2: time: track point has no <time>"},
		{"no lon", "<gpx><trk><trkseg>\n<trkpt lat=\"1\"><time>2008-10-23T02:53:04Z</time></trkpt></trkseg></trk></gpx>", "x.gpx:2: lon: track point has no lon attribute"},
		{"time going backwards", doc(good, pt("39.9", "116.3", "2008-10-23T02:53:05Z"), pt("39.9", "116.3", "2008-10-23T02:52:00Z")),
			"x.gpx:5: time: 2008-10-23T02:52:00Z goes back in time from 2008-10-23T02:53:05Z on line 4"},
		{"broken xml", doc(good) + "<", "x.gpx:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := track.ReadGPX(strings.NewReader(tc.body), "x.gpx", "p")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant      %s", err, tc.want)
			}
		})
	}
	if _, err := track.ReadGPX(strings.NewReader(doc(good)), "x.gpx", ""); err == nil {
		t.Error("an empty person must be refused")
	}
}

func TestReadGeoJSON(t *testing.T) {
	in := `{"type":"FeatureCollection","features":[
	  {"type":"Feature","properties":{"person":"a","times":["2008-10-23T02:00:00Z","2008-10-23T10:01:00+08:00"]},
	   "geometry":{"type":"LineString","coordinates":[[116.30,39.90,50],[116.31,39.91]]}},
	  {"type":"Feature","properties":{"coordTimes":[["2008-10-23T01:00:00Z"],["2008-10-23T03:00:00Z","2008-10-23T03:01:00Z"]]},
	   "geometry":{"type":"MultiLineString","coordinates":[[[116.1,39.1]],[[116.2,39.2],[116.3,39.3]]]}},
	  {"type":"Feature","properties":{"person":7,"coordTimes":["2008-10-23T05:00:00Z","2008-10-23T04:00:00Z"]},
	   "geometry":{"type":"MultiPoint","coordinates":[[116.5,39.5],[116.4,39.4]]}},
	  {"type":"Feature","properties":{"person":"a","time":"2008-10-23T02:00:30Z"},
	   "geometry":{"type":"Point","coordinates":[116.305,39.905]}}
	]}`
	trajs, err := track.ReadGeoJSON(strings.NewReader(in), "t.geojson", "dflt")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tr := range trajs {
		var s []string
		for _, p := range tr.Pings {
			s = append(s, p.Time.Format("15:04:05"))
		}
		got[tr.Person] = strings.Join(s, " ")
	}
	want := map[string]string{
		"a":    "02:00:00 02:00:30 02:01:00",
		"dflt": "01:00:00 03:00:00 03:01:00",
		"7":    "04:00:00 05:00:00",
	}
	if len(got) != len(want) || trajs[0].Person != "7" {
		t.Fatalf("persons %v (order %v)", got, trajs)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if p := trajs[1].Pings[0].Point; p != (orb.Point{116.30, 39.90}) {
		t.Errorf("a's first position %v", p)
	}
	// A single Feature with the file's person.
	one := `{"type":"Feature","properties":{"times":["2008-10-23T02:00:00Z"]},"geometry":{"type":"LineString","coordinates":[[116.3,39.9]]}}`
	if trajs, err := track.ReadGeoJSON(strings.NewReader(one), "f.json", "p9"); err != nil || len(trajs) != 1 || trajs[0].Person != "p9" {
		t.Errorf("single feature: %+v %v", trajs, err)
	}
}

func TestReadGeoJSONBadInput(t *testing.T) {
	line := func(props, coords string) string {
		return `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"person":"a","time":"2008-10-23T00:00:00Z"},"geometry":{"type":"Point","coordinates":[1,2]},"x":0},
{"type":"Feature","properties":` + props + `,"geometry":{"type":"LineString","coordinates":` + coords + `}}]}`
	}
	tests := []struct{ name, body, want string }{
		{"not geojson", `{"type":"Topology"}`, `t.geojson: type: "Topology": want a FeatureCollection or a Feature`},
		{"syntax", "{\"type\":\n\"FeatureCollection\",,}", "t.geojson:2: json:"},
		{"unparsable time", line(`{"times":["2008-10-23T02:00:00Z","noon"]}`, `[[116,39],[116,39]]`),
			`t.geojson: features[1].properties.times[1]: "noon" is not RFC 3339 with a zone (2008-10-23T02:53:04Z)`},
		{"time without zone", line(`{"times":["2008-10-23T02:00:00"]}`, `[[116,39]]`),
			`t.geojson: features[1].properties.times[0]: "2008-10-23T02:00:00" is not RFC 3339 with a zone`},
		{"latitude out of range", line(`{"times":["2008-10-23T02:00:00Z"]}`, `[[116,99]]`),
			`t.geojson: features[1].geometry.coordinates[0]: lat 99 is outside [-90, 90]`},
		{"time going backwards", line(`{"times":["2008-10-23T02:00:00Z","2008-10-23T01:00:00Z"]}`, `[[116,39],[116,39]]`),
			`t.geojson: features[1].properties.times[1]: 2008-10-23T01:00:00Z goes back in time from 2008-10-23T02:00:00Z at [0]`},
		{"count mismatch", line(`{"times":["2008-10-23T02:00:00Z"]}`, `[[116,39],[116,39]]`),
			`t.geojson: features[1].properties.times: has 1 times for 2 positions`},
		{"no times", line(`{}`, `[[116,39]]`), `t.geojson: features[1].properties.times: missing`},
		{"no person", `{"type":"Feature","properties":{"times":["2008-10-23T02:00:00Z"]},"geometry":{"type":"LineString","coordinates":[[116,39]]}}`,
			`t.geojson: feature.properties.person: no person id`},
		{"polygon", `{"type":"Feature","properties":{"person":"a"},"geometry":{"type":"Polygon","coordinates":[]}}`,
			`t.geojson: feature.geometry.type: "Polygon": want a LineString`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			person := "p"
			if tc.name == "no person" {
				person = ""
			}
			_, err := track.ReadGeoJSON(strings.NewReader(tc.body), "t.geojson", person)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant      %s", err, tc.want)
			}
		})
	}
}
