// Package api is the HTTP face of gridtrace on Echo v4: routes per noun, thin
// handlers that return errors, one error handler holding the only kind → status
// table, session auth with jurisdiction, and vector tiles from PostGIS. It may import
// trace, grid and geo; nothing imports it but cmd.
package api
