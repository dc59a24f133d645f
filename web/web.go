// Package web holds the browser app: our own ES modules, CSS and HTML, plus the
// third-party bundles that `make vendor` copies from npm into vendor/ (git-ignored),
// all embedded in the binary so the app works with no internet.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html *.js *.css vendor
var files embed.FS

// FS is the app's file tree, rooted at the directory served as /.
func FS() fs.FS { return files }
