// Package demodata embeds the real Shanghai data the demo loads, gzip-compressed, so
// the demo works from a clone of the project alone. See README.md beside it for the
// sources and terms. It imports only the standard library.
package demodata

import (
	"compress/gzip"
	"embed"
	"fmt"
	"io"
)

// files holds the compressed data; embed needs a package-level variable, and it is
// read-only.
//
//go:embed streets.geojson.gz cases-2022-04-04.csv.gz
var files embed.FS

// CasesDate is the day the embedded cases were published (reported_at of every case).
const CasesDate = "2022-04-04"

// CasesSource is the ext_id prefix of the embedded cases ("shanghai-2022-04-04/<row id>").
const CasesSource = "shanghai-" + CasesDate

// Streets opens the 214 street and town boundaries of Shanghai as GeoJSON (WGS84;
// properties STREET = street name, AREA = district name, NAME = English name).
// The caller closes it.
func Streets() (io.ReadCloser, error) { return open("streets.geojson.gz") }

// Cases opens the 3,690 geocoded case addresses of 2022-04-04 as CSV (header
// ",f_location,latitude,longitude,location"; 32 rows have no coordinates).
// The caller closes it.
func Cases() (io.ReadCloser, error) { return open("cases-2022-04-04.csv.gz") }

func open(name string) (io.ReadCloser, error) {
	f, err := files.Open(name)
	if err != nil {
		return nil, fmt.Errorf("demodata %s: %w", name, err)
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("demodata %s: %w", name, err)
	}
	return &gzipFile{Reader: z, f: f}, nil
}

// gzipFile closes both the decompressor (which checks the CRC on EOF) and the file.
type gzipFile struct {
	*gzip.Reader
	f io.Closer
}

func (g *gzipFile) Close() error {
	err := g.Reader.Close()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}
