package grid_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
)

// The fuzz targets of the import CSV readers, seeded from testdata/fuzz/FuzzX/ (rows
// of the published Shanghai case list and hand-made households). Invariants: no
// panic; a bad header is an Invalid *grid.Error naming the field; a bad row is a
// RowError with its line and a reason, and rows come in line order; what is yielded
// carries its key and line, and a file read without any RowError yields only finite
// coordinates.

// checkHeaderError fails unless err is Invalid and names a field.
func checkHeaderError(t *testing.T, err error) {
	t.Helper()
	var ge *grid.Error
	if !errors.As(err, &ge) || ge.Kind != grid.Invalid || ge.Field == "" || ge.Message == "" {
		t.Fatalf("header error %v (%T) is not an Invalid grid.Error naming a field", err, err)
	}
}

// checkRowError fails unless err is a RowError with a line and a reason, returning it.
func checkRowError(t *testing.T, err error) grid.RowError {
	t.Helper()
	var re grid.RowError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a grid.RowError", err, err)
	}
	if re.Line <= 0 || re.Reason == "" {
		t.Fatalf("row error %+v names no line or no reason", re)
	}
	return re
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func FuzzHouseholdCSV(f *testing.F) {
	f.Add([]byte("\ufeff" + grid.HouseholdCSVHeader + "\nH1,121.47,31.23,人民大道200号,3,2,张三,310101195001011234,13800000000,1950-01-01,男,normal,elderly_alone;disabled\nH1,,,,,,李四,,,2015-06-01,F,,left_behind_child\nH2,121.50,31.20,\"浦东大道1号, 东楼\",,,,,,,,,\n"))
	f.Add([]byte("household,lng,lat,address\nH1,NaN,31.2,a\nH1,121.4,31.3,b\nH2,1e999,x,c\n,1,2,d\n"))
	f.Add([]byte("household,lng,lat,address,name\nH1,121,31,a,\"unterminated\n"))
	f.Add([]byte("household,lng,lat\n"))
	f.Add([]byte("household,lng,lat,address,lng\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := grid.NewHouseholdCSV(bytes.NewReader(data))
		if err != nil {
			checkHeaderError(t, err)
			return
		}
		bad, lastLine := 0, 0
		var hs []grid.HouseholdInput
		for batch, err := range r.Batches(2) {
			if err != nil {
				re := checkRowError(t, err)
				if re.Line < lastLine {
					t.Fatalf("row error on line %d after line %d", re.Line, lastLine)
				}
				bad++
				continue
			}
			for _, h := range batch {
				if h.ExtID == "" || h.Line <= 0 {
					t.Fatalf("household without key or line: %+v", h)
				}
				for _, p := range h.Persons {
					if p.Line < h.Line {
						t.Fatalf("person on line %d before its household's line %d", p.Line, h.Line)
					}
				}
				if len(hs) > 0 && hs[len(hs)-1].Line >= h.Line {
					t.Fatalf("household on line %d after line %d", h.Line, hs[len(hs)-1].Line)
				}
				lastLine = h.Line
				hs = append(hs, h)
			}
		}
		if bad > 0 {
			return
		}
		for _, h := range hs {
			if !finite(h.Location.Lon()) || !finite(h.Location.Lat()) {
				t.Fatalf("household %q on line %d accepted at %v", h.ExtID, h.Line, h.Location)
			}
		}
	})
}

func FuzzCaseCSV(f *testing.F) {
	f.Add([]byte("ext_id,lng,lat,address,kind,reported_at,onset_at\nC1,121.47,31.23,人民大道,confirmed,2022-04-04,2022-04-02 08:00\nC2,121.5,31.2,,,2022-04-04T10:00:00+08:00,\n"))
	f.Add([]byte(",f_location,latitude,longitude,location\n0,\"Bazao Village, Pudong, Shanghai, China, 201299\",31.15621,121.71751,八灶村郭家宅\n1,x,,,未找到\n2,y,95,121,z\n"))
	f.Add([]byte("ext_id,lng,lat\nC1,Inf,31\n"))
	f.Add([]byte("ext_id,lng\n"))
	opt := grid.CaseCSVOptions{ReportedAt: time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC), Source: "fuzz"}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := grid.NewCaseCSV(bytes.NewReader(data), opt)
		if err != nil {
			checkHeaderError(t, err)
			return
		}
		bad, lastLine := 0, 0
		var cs []grid.CaseInput
		for batch, err := range r.Batches(2) {
			if err != nil {
				checkRowError(t, err)
				bad++
				continue
			}
			for _, c := range batch {
				if c.ExtID == "" || c.Line <= lastLine || c.Kind == "" || c.ReportedAt.IsZero() {
					t.Fatalf("case accepted without key, kind, date or increasing line (after %d): %+v", lastLine, c)
				}
				lastLine = c.Line
				cs = append(cs, c)
			}
		}
		for _, s := range r.Skipped() {
			if s.Line <= 0 || s.Field == "" {
				t.Fatalf("skipped row %+v names no line or field", s)
			}
		}
		if bad > 0 {
			return
		}
		for _, c := range cs {
			if !finite(c.Location.Lon()) || !finite(c.Location.Lat()) {
				t.Fatalf("case %q on line %d accepted at %v", c.ExtID, c.Line, c.Location)
			}
		}
	})
}
