package demodata

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

func TestEmbeddedData(t *testing.T) {
	for _, tc := range []struct {
		name  string
		open  func() (io.ReadCloser, error)
		start string
		lines int
	}{
		{"streets", Streets, "{", 0},
		{"cases", Cases, ",f_location,latitude,longitude,location", 3691},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := tc.open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte(tc.start)) {
				t.Fatalf("starts with %q", b[:40])
			}
			if tc.lines > 0 {
				n := 0
				sc := bufio.NewScanner(bytes.NewReader(b))
				for sc.Scan() {
					n++
				}
				if n != tc.lines {
					t.Fatalf("%d lines, want %d", n, tc.lines)
				}
			}
		})
	}
}
