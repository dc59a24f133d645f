package track_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/trace/track"
)

// The fuzz targets of the ping readers. Seed corpora live in testdata/fuzz/FuzzX/
// (real GeoLife, GPX, CSV and GeoJSON samples plus hand-made edge cases); `make test`
// runs each for a few seconds. Every target asserts the same contract: no panic; a
// refusal is a *ParseError naming the file given and a line or a field; an accepted
// file yields pings with valid coordinates, in UTC, ordered by time.

// checkParseError fails unless err is a *ParseError for file that says where.
func checkParseError(t *testing.T, err error, file string) {
	t.Helper()
	var pe *track.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *track.ParseError", err, err)
	}
	if pe.File != file {
		t.Fatalf("error %v names file %q, want %q", err, pe.File, file)
	}
	if pe.Line <= 0 && pe.Field == "" {
		t.Fatalf("error %v names neither a line nor a field", err)
	}
	if pe.Err == nil || pe.Err.Error() == "" {
		t.Fatalf("error %v has no reason", err)
	}
}

// checkPings fails unless every ping is a valid UTC fix and times never go back.
func checkPings(t *testing.T, who string, ps []track.Ping) {
	t.Helper()
	for i, p := range ps {
		if err := geo.ValidLngLat(p.Point.Lon(), p.Point.Lat()); err != nil {
			t.Fatalf("%s ping %d accepted with %v", who, i, err)
		}
		if p.Time.Location() != time.UTC {
			t.Fatalf("%s ping %d at %v is not UTC", who, i, p.Time)
		}
	}
	if err := track.CheckOrder(ps); err != nil {
		t.Fatalf("%s: accepted pings out of order: %v", who, err)
	}
}

func checkTrajectories(t *testing.T, ts []track.Trajectory) {
	t.Helper()
	for i, tr := range ts {
		if tr.Person == "" {
			t.Fatalf("trajectory %d accepted without a person", i)
		}
		if i > 0 && ts[i-1].Person >= tr.Person {
			t.Fatalf("trajectories %d (%q) and %d (%q) not ordered by distinct person", i-1, ts[i-1].Person, i, tr.Person)
		}
		checkPings(t, tr.Person, tr.Pings)
	}
}

func FuzzPLT(f *testing.F) {
	f.Add([]byte(pltHeader + "39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\r\n"))
	f.Add([]byte(pltHeader + "91,116.3,0,492,39744.12,2008-10-23,02:53:04\n"))
	f.Add([]byte(pltHeader + "39.9,116.3,0,492,39744.12,2008-10-23,02:53:04\n39.9,116.3,0,492,39744.12,2008-10-23,02:53:03\n"))
	f.Add([]byte("Geolife trajectory\nWGS 84\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ps []track.Ping
		var err error
		for p, e := range track.PLT(bytes.NewReader(data), "f.plt") {
			if e != nil {
				err = e
				break
			}
			ps = append(ps, p)
		}
		if err != nil {
			checkParseError(t, err, "f.plt")
			return
		}
		checkPings(t, "plt", ps)
	})
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("person,time,lat,lng\np1,2008-10-23T02:53:04Z,39.98,116.31\np1,2008-10-23T02:53:00+08:00,39.98,116.31\n"))
	f.Add([]byte("\ufefflng,LAT,person,time,extra\n116.3,39.9,a,2008-10-23T02:53:04.5Z,x\n"))
	f.Add([]byte("person,time,lat,lng\np1,2008-10-23 02:53:04,39.98,116.31\n"))
	f.Add([]byte("person,time,lat,lng\np1,2008-10-23T02:53:04Z,NaN,116.31\n"))
	f.Add([]byte("person,time\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := track.ReadCSV(bytes.NewReader(data), "f.csv")
		if err != nil {
			checkParseError(t, err, "f.csv")
			return
		}
		checkTrajectories(t, ts)
	})
}

func FuzzReadGPX(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="31.23" lon="121.47"><time>2022-04-04T08:00:00Z</time></trkpt>
<trkpt lat="31.24" lon="121.48"><time>2022-04-04T08:00:10</time></trkpt>
</trkseg><trkseg><trkpt lat="31.2" lon="121.4"><time>2022-04-04T07:00:00+08:00</time></trkpt></trkseg></trk></gpx>`))
	f.Add([]byte(`<gpx><trk><trkseg><trkpt lat="95" lon="121.47"><time>2022-04-04T08:00:00Z</time></trkpt></trkseg></trk></gpx>`))
	f.Add([]byte(`<gpx><wpt lat="31" lon="121"/><trk><trkseg><trkpt lat="31" lon="121"></trkpt></trkseg></trk></gpx>`))
	f.Add([]byte(`<kml></kml>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := track.ReadGPX(bytes.NewReader(data), "f.gpx", "p")
		if err != nil {
			checkParseError(t, err, "f.gpx")
			return
		}
		if tr.Person != "p" {
			t.Fatalf("person %q, want p", tr.Person)
		}
		checkPings(t, "gpx", tr.Pings)
	})
}

func FuzzReadGeoJSON(f *testing.F) {
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"person":"a","times":["2022-04-04T08:00:00Z","2022-04-04T08:01:00Z"]},"geometry":{"type":"LineString","coordinates":[[121.47,31.23],[121.48,31.24,5]]}}]}`))
	f.Add([]byte(`{"type":"Feature","properties":{"time":"2022-04-04T08:00:00+08:00"},"geometry":{"type":"Point","coordinates":[121.47,31.23]}}`))
	f.Add([]byte(`{"type":"Feature","properties":{"times":["2022-04-04T08:00:00Z"]},"geometry":{"type":"MultiPoint","coordinates":[[181,31.23]]}}`))
	f.Add([]byte("{\"type\":\n\"FeatureCollection\",\n\"features\":[\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := track.ReadGeoJSON(bytes.NewReader(data), "f.geojson", "dflt")
		if err != nil {
			checkParseError(t, err, "f.geojson")
			return
		}
		checkTrajectories(t, ts)
	})
}
