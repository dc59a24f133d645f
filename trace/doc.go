// Package trace owns flow tracing: trajectories (pings), stays and close contacts,
// with its PostGIS store; pure co-presence lives in a sub-package. It may import grid
// and geo, never api or cmd.
//
// What is where:
//   - policy.go: every tracing threshold (Policy, DefaultPolicy with sources).
//   - ingest.go: reading ping files (ReadPings over trace/track's readers) and
//     loading them (Store.IngestPings: checks, day partitions, COPY).
//   - store.go: subjects, trajectories and stays as readers see them (masking of
//     linked residents, audit).
//   - contacts.go: the contact search (Store.FindContacts, Store.TraceContacts):
//     candidate pings read by (h3, ts) ranges, then trace/copresence on them.
//   - run.go: stored runs and their export; postgis.go: the straightforward SQL form
//     of the rule, the yardstick; zones.go: zone proposals around stays.
//
// The pure packages below it (track, copresence, stay, synth) import no database or
// HTTP code; geolifetest is for tests.
package trace
