// Package live is the websocket hub of the live map: it fans the change feed
// (grid.Listener) out to connected browsers, each through a bounded send queue, after
// filtering every change by the client's jurisdiction and viewport, and replays what
// a reconnecting client missed before its live messages. It is the only package that
// imports gorilla/websocket; it may import grid and geo, and is imported by api and
// cmd only.
//
// Protocol (GET /api/v1/live, a websocket, authenticated like every API call):
//
//	server → {"type":"hello","last_id":N}         first message: the server's position
//	server → {"type":"change","id","kind","entity","entity_id","area_id","bbox","payload","created_at"}
//	server → {"type":"reset","last_id":N}         too much missed (or an unknown id):
//	                                              reload every view, go on from N
//	server → {"type":"error","message":"…"}       a client message was not understood
//	client → {"type":"viewport","bbox":[w,s,e,n]} only changes touching this box (null: all)
//
// With ?since=ID the changes after ID come first, then live ones, with no gap and no
// duplicate at the boundary. A client that falls 256 messages behind is closed with
// 1013 (try again later) and, reconnecting with its last id, catches up from the
// outbox; a server going down closes with 1001 (going away); a client whose session
// ended (logout, revoke, disabled user, lifetime over) is closed with 1008 (policy
// violation) "session ended", and should log in again rather than reconnect.
package live
