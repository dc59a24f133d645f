// Package grid owns the grid-management domain: areas (district > street > community
// > grid), households, persons, cases, users and their jurisdiction, masking of
// personal data, the audit log and the change feed, with its PostGIS store. Pure
// algorithms live in sub-packages without I/O. It may import geo, never api or cmd.
package grid
