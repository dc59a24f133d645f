// Package zoning proposes sealed, control and precaution zones from case locations
// under a policy: pure computation over H3 cells (through geo) and orb geometry, with
// no I/O. It may import only the standard library, geo and orb; the grid package
// stores and serves what it computes.
//
// Every zone is a set of H3 cells at one resolution, so a stronger zone is cut out of
// a weaker one exactly (a cell belongs to the strongest kind whose footprint covers
// it), a point is classified by looking up its cell, and the outline of a zone is
// the union of its cells, built by cancelling the edges that neighbouring cells share.
package zoning
