// Package route owns the pure routing solvers: a single-vehicle travelling-salesman
// solver (SolveTSP) and a door-to-door team planner (SolveTeams) that splits stops
// among teams starting at depots, balances their work, respects shift limits and
// orders each team's stops with arrival times. Both work over a Dist function, so
// great-circle metres (Haversine), rounded Euclidean (TSPLIB) or, later, a road
// network plug in without change. It also reads TSPLIB-style instances and optimal
// tours (ReadInstance, ReadTour) from an io.Reader, for tests and benchmarks.
//
// It imports only the standard library, geo and orb (the point type geo speaks); it
// does no I/O of its own and keeps no global state. Every result is deterministic for
// a given Options.Seed as long as the work is bounded by Options.MaxKicks rather than
// cut by Options.Budget (see Options).
package route
