// Package track owns trajectories as plain values, a person's time-ordered pings,
// and the readers that make them from files: GeoLife .plt files (one folder per
// person), CSV, GPX and GeoJSON. It is pure: it imports only the standard library,
// orb and geo, and reads through io.Reader and fs.FS, so callers choose where the
// bytes come from.
//
// Ordering rules, decided once for every reader:
//   - Inside one .plt file time must never go backwards: a GPS logger appends, so a
//     backwards step means a corrupt or concatenated file, and silently reordering it
//     would invent a path the person never took. The reader stops with a ParseError
//     naming the file and line. Equal times are kept (GeoLife has duplicate fixes).
//     The same holds inside a GPX track segment and along a GeoJSON LineString (or
//     each line of a MultiLineString): both are recorded paths.
//   - Across the files of one person, across the rows of a CSV file (a table with
//     no inherent order), across GPX segments and GeoJSON features, and among the
//     fixes of a GeoJSON MultiPoint (a set), pings are merged by a stable sort on
//     time.
package track
