// Package synth generates the synthetic population of the demo: households of one
// to five residents with realistic ages, Chinese names, resident ID numbers, mobile
// numbers and vulnerability flags, placed in residential compounds inside streets
// with Shanghai's density. It is pure: no I/O, no clock, and every draw comes from
// math/rand/v2 generators seeded explicitly, so one seed always yields the same
// population. It imports only the standard library, orb and geo, and returns its own
// plain structs; the caller turns them into grid inputs.
package synth
