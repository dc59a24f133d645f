// Package care holds the pure rules of home isolation, health monitoring and the
// daily care of the vulnerable (DOMAIN.md, "Isolation, supplies, the vulnerable"):
// the care policy, eligibility for home isolation, the fever threshold, which
// twice-daily check-ins are due or missed at a given time, and when a spell may be
// released. Every function takes the time it judges at; nothing here reads a clock
// or a database. It imports only the standard library.
package care
