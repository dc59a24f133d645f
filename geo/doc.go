// Package geo owns pure geometry: longitude/latitude validation, great-circle
// distances in metres, H3 cells and polygon checks, over orb and h3-go. It is the one
// package that imports h3-go and converts orb's [lng, lat] to h3's LatLng, so an h3
// upgrade touches only this package. It imports nothing of the project and does no I/O.
package geo
