// Package geolifetest gives tests the GeoLife sample committed in trace/testdata
// (8 real users of Microsoft Research GeoLife 1.3, Beijing, October–November 2008,
// 107,576 points, gzip-compressed tar of their .plt files), so no test depends on
// files outside the repository. Setting GRIDTRACE_GEOLIFE to a GeoLife Data folder
// runs the same tests on other users instead. For tests only: it imports testing.
package geolifetest

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gridtrace/gridtrace/trace/track"
)

// EnvDir is the environment variable naming another GeoLife Data folder to test on.
const EnvDir = "GRIDTRACE_GEOLIFE"

// archiveRel is the committed sample, relative to this source file's
// directory.
const archiveRel = "../testdata/geolife.tar.gz"

// Archive is the absolute path of the committed sample archive.
func Archive(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("geolifetest: cannot locate the source file")
	}
	return filepath.Join(filepath.Dir(file), filepath.FromSlash(archiveRel))
}

// FS returns the GeoLife folder under test and whether it is the committed sample
// (false when GRIDTRACE_GEOLIFE points elsewhere, so tests skip assertions that hold
// only for the sample's users).
func FS(tb testing.TB) (fsys fs.FS, committed bool) {
	tb.Helper()
	if dir := os.Getenv(EnvDir); dir != "" {
		return os.DirFS(dir), false
	}
	m := fstest.MapFS{}
	err := walkArchive(Archive(tb), func(name string, mode fs.FileMode, body []byte) error {
		m[name] = &fstest.MapFile{Data: body, Mode: mode, ModTime: time.Unix(0, 0)}
		return nil
	})
	if err != nil {
		tb.Fatalf("geolifetest: %v", err)
	}
	return m, true
}

// Trajectories reads the folder FS returns with track.ReadGeoLife.
func Trajectories(tb testing.TB) (trajs []track.Trajectory, committed bool) {
	tb.Helper()
	fsys, committed := FS(tb)
	trajs, err := track.ReadGeoLife(fsys)
	if err != nil {
		tb.Fatalf("geolifetest: %v", err)
	}
	return trajs, committed
}

// Dir returns a directory holding the GeoLife folder under test: GRIDTRACE_GEOLIFE
// itself, or the committed sample unpacked into a temporary directory.
func Dir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv(EnvDir); dir != "" {
		return dir
	}
	dst := tb.TempDir()
	err := walkArchive(Archive(tb), func(name string, mode fs.FileMode, body []byte) error {
		p := filepath.Join(dst, filepath.FromSlash(name))
		if mode.IsDir() {
			return os.MkdirAll(p, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, body, 0o644)
	})
	if err != nil {
		tb.Fatalf("geolifetest: %v", err)
	}
	return dst
}

func walkArchive(file string, fn func(name string, mode fs.FileMode, body []byte) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := fn(name, fs.ModeDir|0o755, nil); err != nil {
				return err
			}
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := fn(name, 0o644, body); err != nil {
				return err
			}
		}
	}
}
