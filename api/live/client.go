package live

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
)

// client is one websocket connection: the goroutine of ServeWS writes (hello,
// replay, then the queue and pings) and one reader goroutine reads (viewports,
// pongs, the close).
type client struct {
	hub  *Hub
	conn *websocket.Conn
	cork *corkConn // under conn: batches the writes of a burst
	user grid.User
	// restricted: the user sees nothing personal in clear (grid.Restricted), so gets
	// coarsened boxes (message.anon).
	restricted bool
	// session is the grid.SessionKey of the client's login, re-checked by the hub.
	session string
	send    chan *message

	// Guarded by hub.mu: while replaying, Publish appends to pending instead of send.
	replaying bool
	pending   []*message

	viewport atomic.Pointer[orb.Bound] // nil: everything in the jurisdiction

	done   chan struct{} // closed by kick: the writer sends the close frame and ends
	once   sync.Once
	code   int // close code to send; 0: none (the peer is gone)
	reason string
}

func newClient(h *Hub, conn *websocket.Conn, cork *corkConn, u grid.User) *client {
	return &client{hub: h, conn: conn, cork: cork, user: u, restricted: grid.Restricted(u), send: make(chan *message, h.cfg.QueueSize), done: make(chan struct{})}
}

// kick asks the writer to close the connection with code (0: without a close frame).
// It never blocks, so Publish may call it; the first call wins.
func (c *client) kick(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
	})
}

// closeNow closes a connection that was never served.
func (c *client) closeNow(code int, reason string) {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.conn.Close()
}

// wants is the filter applied before anything is queued: jurisdiction first (the
// privacy rule, grid.Change.VisibleTo), then the viewport. A change without a box
// passes the viewport (the client cannot tell where it is, so it must hear of it).
func (c *client) wants(m *message) bool {
	ch := m.change
	if ch == nil {
		return true
	}
	if !ch.VisibleTo(c.user) {
		return false
	}
	box := ch.BBox
	if c.restricted {
		box = m.anon().box
	}
	if vp := c.viewport.Load(); vp != nil && box != nil && !intersects(*vp, *box) {
		return false
	}
	return true
}

// intersects reports whether two boxes share a point, edges included.
func intersects(a, b orb.Bound) bool {
	return a.Min[0] <= b.Max[0] && b.Min[0] <= a.Max[0] && a.Min[1] <= b.Max[1] && b.Min[1] <= a.Max[1]
}

// serve runs the connection: hello, replay after since, then the live queue.
func (c *client) serve(ctx context.Context, pos, since int64, hasSince bool) {
	readerDone := make(chan struct{})
	defer func() {
		c.hub.remove(c)
		c.conn.Close()
		<-readerDone
	}()
	c.conn.SetReadLimit(readLimit)
	go func() {
		defer close(readerDone)
		c.readLoop()
	}()
	if err := c.write(controlMessage(helloJSON{Type: "hello", LastID: pos})); err != nil {
		return
	}
	if c.hub.databaseDown() {
		if err := c.write(controlMessage(statusJSON{Type: "status", Database: "unavailable"})); err != nil {
			return
		}
	}
	floor := pos
	if hasSince {
		f, err := c.replay(ctx, since, pos)
		if err != nil {
			c.hub.cfg.Log.Warn("live: replay failed", "user", c.user.Name, "since", since, "err", err)
			c.kick(websocket.CloseInternalServerErr, "replay failed: reconnect")
		}
		floor = f
	}
	c.hub.activate(c, floor)
	c.writeLoop()
}

// replay writes the changes after since up to pos (the hub's position when c was
// registered; later ones wait in pending) and returns the id below which pending
// messages are duplicates.
func (c *client) replay(ctx context.Context, since, pos int64) (int64, error) {
	st := c.hub.cfg.Store
	if since >= pos {
		if since > pos {
			// Ahead of this server (another one has published further), or an id
			// from another database: the database tells which.
			last, err := st.LastChangeID(ctx)
			if err != nil {
				return pos, err
			}
			if last < since {
				return pos, c.write(controlMessage(helloJSON{Type: "reset", LastID: pos}))
			}
		}
		return since, nil
	}
	if pos-since > c.hub.cfg.MaxReplay {
		// Ids are nearly dense, so this bounds the rows: reloading the views is
		// cheaper than streaming that many changes.
		return pos, c.write(controlMessage(helloJSON{Type: "reset", LastID: pos}))
	}
	after := since
	for after < pos {
		select {
		case <-c.done:
			return pos, nil
		default:
		}
		cs, err := st.ChangesSince(ctx, after, replayPage)
		if err != nil {
			return pos, err
		}
		if len(cs) == 0 {
			break
		}
		// A page goes out corked, like a burst: one write for many messages.
		c.cork.cork()
		end, err := c.replayPage(cs, pos, &after)
		if ferr := c.cork.uncork(time.Now().Add(c.hub.cfg.WriteTimeout)); err == nil {
			err = ferr
		}
		if err != nil || end {
			return pos, err
		}
	}
	return pos, nil
}

// replayPage writes the changes of cs up to pos that c wants, advancing after; end
// reports that pos was passed (the live feed brings the rest).
func (c *client) replayPage(cs []grid.Change, pos int64, after *int64) (end bool, err error) {
	for i := range cs {
		ch := &cs[i]
		if ch.ID > pos {
			return true, nil
		}
		*after = ch.ID
		m, err := c.hub.changeMessage(ch)
		if err != nil {
			return false, fmt.Errorf("encode change %d: %w", ch.ID, err)
		}
		if c.wants(m) {
			if err := c.write(m); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func (c *client) write(m *message) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	data := m.data
	if c.restricted && m.change != nil {
		data = m.anon().data
	}
	return c.conn.WriteMessage(websocket.TextMessage, data)
}

// maxBatch bounds the messages written with one system call.
const maxBatch = 64

// writeBatch writes m and whatever else is queued (up to maxBatch) in one go.
func (c *client) writeBatch(m *message) error {
	c.cork.cork()
	err := c.write(m)
	for n := 1; err == nil && n < maxBatch; n++ {
		select {
		case m = <-c.send:
			err = c.write(m)
			continue
		default:
		}
		break
	}
	if ferr := c.cork.uncork(time.Now().Add(c.hub.cfg.WriteTimeout)); err == nil {
		err = ferr
	}
	return err
}

func (c *client) writeLoop() {
	ping := time.NewTicker(c.hub.cfg.PingEvery)
	defer ping.Stop()
	life := time.NewTimer(c.hub.lifetime())
	defer life.Stop()
	for {
		// A kick wins over queued messages: a dropped client gets its close frame
		// next, not after its backlog.
		select {
		case <-c.done:
			c.writeClose()
			return
		default:
		}
		select {
		case <-c.done:
			c.writeClose()
			return
		case m := <-c.send:
			if err := c.writeBatch(m); err != nil {
				c.kick(0, "")
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
				c.kick(0, "")
				return
			}
		case <-life.C:
			c.kick(CloseGoingAway, "connection lifetime over: reconnect with since")
		}
	}
}

// writeClose sends the close frame of the kick, if any; best effort within a second.
func (c *client) writeClose() {
	if c.code != 0 {
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason), time.Now().Add(time.Second))
	}
}

func (c *client) readLoop() {
	wait := c.hub.cfg.PongWait
	c.conn.SetReadDeadline(time.Now().Add(wait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			c.kick(0, "") // gone (or closing): gorilla has answered a close frame
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(wait))
		if typ != websocket.TextMessage {
			c.kick(CloseUnsupported, "text messages only")
			return
		}
		if msg := c.handle(data); msg != "" {
			select {
			case c.send <- controlMessage(errorJSON{Type: "error", Message: msg}):
			default: // a full queue is the writer's problem; the answer is dropped
			}
		}
	}
}

// clientMessage is what a client may send.
type clientMessage struct {
	Type string          `json:"type"`
	BBox json.RawMessage `json:"bbox"`
}

// handle applies a client message and returns an error text for the client, or "".
func (c *client) handle(data []byte) string {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return "messages are JSON objects"
	}
	switch m.Type {
	case "viewport":
		if len(m.BBox) == 0 || string(m.BBox) == "null" {
			c.viewport.Store(nil)
			return ""
		}
		b, err := parseViewport(m.BBox)
		if err != nil {
			return err.Error()
		}
		c.viewport.Store(&b)
		return ""
	}
	return fmt.Sprintf("unknown message type %q (send \"viewport\")", m.Type)
}

// parseViewport reads [west, south, east, north] in degrees. A box across the
// antimeridian (west > east) is refused: no jurisdiction here spans it.
func parseViewport(raw json.RawMessage) (orb.Bound, error) {
	var v []float64
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 4 {
		return orb.Bound{}, fmt.Errorf("bbox must be [west, south, east, north]")
	}
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return orb.Bound{}, fmt.Errorf("bbox must be finite")
		}
	}
	if v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 || v[0] > v[2] || v[1] > v[3] {
		return orb.Bound{}, fmt.Errorf("bbox must be [west, south, east, north] within ±180, ±90 with west ≤ east and south ≤ north")
	}
	return orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
}
