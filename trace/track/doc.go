// Package track owns trajectories as plain values, a person's time-ordered pings,
// and the readers that make them from files: GeoLife .plt files (one folder per
// person) and CSV. It is pure: it imports only the standard library, orb and geo, and
// reads through io.Reader and fs.FS, so callers choose where the bytes come from.
//
// Ordering rules, decided once for every reader:
//   - Inside one .plt file time must never go backwards: a GPS logger appends, so a
//     backwards step means a corrupt or concatenated file, and silently reordering it
//     would invent a path the person never took. The reader stops with a ParseError
//     naming the file and line. Equal times are kept (GeoLife has duplicate fixes).
//   - Across the files of one person, and across the rows of a CSV file (a table with
//     no inherent order), pings are merged by a stable sort on time.
//
// GPX and GeoJSON readers are not written yet.
package track
