// Package trace owns flow tracing: trajectories (pings), stays and close contacts,
// with its PostGIS store; pure co-presence lives in a sub-package. It may import grid
// and geo, never api or cmd.
package trace
