package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/grid"
)

// Store is what the hub reads for replay; *grid.Store is one.
type Store interface {
	ChangesSince(ctx context.Context, afterID int64, limit int) ([]grid.Change, error)
	LastChangeID(ctx context.Context) (int64, error)
}

// Config tunes a Hub; zero values take the defaults in brackets.
type Config struct {
	Store Store // replay source; nil: ?since is refused
	Log   *slog.Logger
	// QueueSize bounds each client's send queue [256 messages]; a client whose queue
	// is full is dropped, so one slow browser never holds the others back.
	QueueSize int
	// MaxReplay is the most changes replayed to a reconnecting client [10,000]; one
	// further behind gets a reset and reloads its views instead.
	MaxReplay int64
	// WriteTimeout bounds one write to a client [10 s].
	WriteTimeout time.Duration
	// PingEvery is the interval of pings [25 s], below common proxy idle timeouts.
	PingEvery time.Duration
	// PongWait is how long a silent client is kept [60 s].
	PongWait time.Duration
	// MaxLifetime closes a connection after about this long [15 min, ±10%], with
	// 1001, so load spreads over new servers (and a client's user, roles and areas
	// are read again on the reconnect).
	MaxLifetime time.Duration
	// Sessions re-checks the sessions of the connected clients (see session.go);
	// nil: never. *grid.Store is one.
	Sessions SessionChecker
	// SessionCheckEvery is the interval of that check [30 s]: a session revoked by
	// another server, or past its lifetime, loses its clients within it.
	SessionCheckEvery time.Duration // Privacy is the location policy for clients without personal access (a viewer):
	// they get each change's box grown by grid.LocationPrivacy.CoarseBound, and their
	// viewport is matched against that box. nil: grid.DefaultLocationPrivacy.
	// *grid.Store's LocationPrivacy is one.
	Privacy func() grid.LocationPrivacy
}

// Close codes of the hub (RFC 6455 §7.4.1).
const (
	CloseGoingAway   = websocket.CloseGoingAway       // 1001: server stopping, or lifetime over
	CloseUnsupported = websocket.CloseUnsupportedData // 1003: a binary message
	CloseTryAgain    = websocket.CloseTryAgainLater   // 1013: too slow; reconnect with since
	// CloseSessionEnded (1008, policy violation) ends a client whose session was
	// revoked, logged out or expired: reconnecting would only get 401.
	CloseSessionEnded = websocket.ClosePolicyViolation
)

// readLimit caps a client message: viewport messages are a few dozen bytes.
const readLimit = 4096

// replayPage is how many changes one replay read takes.
const replayPage = 500

// Hub fans published changes out to websocket clients. Create it with NewHub, give
// Publish to a grid.Listener, serve ServeWS behind authentication, Close on shutdown.
type Hub struct {
	cfg      Config
	upgrader websocket.Upgrader
	batches  *sync.Pool // batch buffers of the connections' corks

	mu      sync.Mutex
	clients map[*client]struct{}
	last    int64 // the position of the last Publish
	ready   bool  // a position is known: Publish has been called
	closing bool
	dbDown  bool           // the listener's last read failed (see SetDatabase)
	wg      sync.WaitGroup // one per connection being served

	// ctx bounds the replay reads; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
}

// NewHub returns a hub; it refuses connections until the first Publish.
func NewHub(cfg Config) *Hub {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.MaxReplay <= 0 {
		cfg.MaxReplay = 10000
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = 25 * time.Second
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = 60 * time.Second
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = 15 * time.Minute
	}
	if cfg.SessionCheckEvery <= 0 {
		cfg.SessionCheckEvery = 30 * time.Second
	}
	h := &Hub{cfg: cfg, clients: map[*client]struct{}{}, batches: newBufferPool()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if cfg.Sessions != nil {
		go h.checkSessions()
	}
	h.upgrader = websocket.Upgrader{
		// Small buffers and a shared write pool: an idle client then costs its read
		// buffer and two goroutines, not 8 KB of buffers (measured by bench live).
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     checkOrigin,
	}
	return h
}

// checkOrigin accepts a browser only from our own origin: a cookie session must not
// be usable by another site's page (websockets are not bound by CORS). A client
// sending a bearer token is not a browser (browsers cannot set that header on a
// websocket), and a client without Origin neither.
func checkOrigin(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// Publish fans changes out to the clients that may and want to see them, and
// records upTo as the hub's position. It never blocks on a client: one whose queue
// is full is dropped. Its signature is grid.ListenerConfig.Publish.
func (h *Hub) Publish(upTo int64, cs []grid.Change) {
	msgs := make([]*message, 0, len(cs))
	for i := range cs {
		m, err := h.changeMessage(&cs[i])
		if err != nil {
			h.cfg.Log.Error("live: encode change", "id", cs[i].ID, "err", err)
			continue
		}
		msgs = append(msgs, m)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = max(h.last, upTo)
	h.ready = true
	for _, m := range msgs {
		for c := range h.clients {
			if c.wants(m) {
				h.deliver(c, m)
			}
		}
	}
}

// SetDatabase tells every client whether the database answers, as a message
// {"type":"status","database":"unavailable"|"available"}: while it is down no change
// can be written or read, and the map says so instead of looking merely quiet. Its
// signature is grid.ListenerConfig.Health.
func (h *Hub) SetDatabase(ok bool) {
	state := "available"
	if !ok {
		state = "unavailable"
	}
	m := controlMessage(statusJSON{Type: "status", Database: state})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dbDown = !ok
	for c := range h.clients {
		h.deliver(c, m)
	}
}

func (h *Hub) databaseDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dbDown
}

// deliver queues m for c, or drops c when its queue is full; h.mu is held.
func (h *Hub) deliver(c *client, m *message) {
	if c.replaying {
		if len(c.pending) >= cap(c.send) {
			h.drop(c, CloseTryAgain, "too far behind during replay")
			return
		}
		c.pending = append(c.pending, m)
		return
	}
	select {
	case c.send <- m:
	default:
		h.drop(c, CloseTryAgain, "too slow: reconnect with since")
	}
}

// drop removes c from the fan-out and closes it with code; h.mu is held.
func (h *Hub) drop(c *client, code int, reason string) {
	delete(h.clients, c)
	c.kick(code, reason)
	h.cfg.Log.Info("live: client dropped", "user", c.user.Name, "code", code, "reason", reason)
}

// Ready reports whether the hub accepts clients: it has a position (the listener
// has published once) and is not closing.
func (h *Hub) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready && !h.closing
}

// Clients is the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Last is the hub's position: the listener has published every change up to it.
func (h *Hub) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Close closes every client with 1001 (going away), so they reconnect to another
// server, refuses new ones, and waits for their connections to end or ctx.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	for c := range h.clients {
		delete(h.clients, c)
		c.kick(CloseGoingAway, "server shutting down")
	}
	h.mu.Unlock()
	h.cancel()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("live: close: %w", ctx.Err())
	}
}

// ServeWS upgrades the request to a websocket for u, logged in with the session
// named session (grid.SessionKey; "": never re-checked), and serves it on a goroutine
// of its own until either side closes (or Close). Before the upgrade it returns
// errors for the caller to render: Invalid (a bad since), Unavailable (the hub has
// no position yet, or is closing). After it, it returns nil at once: the websocket
// carries the rest.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request, u grid.User, session string) error {
	since, hasSince, err := parseSince(r.URL.Query().Get("since"))
	if err != nil {
		return err
	}
	if hasSince && h.cfg.Store == nil {
		return grid.Errorf(grid.Unavailable, "since", "this server keeps no replay")
	}
	h.mu.Lock()
	ready, closing := h.ready, h.closing
	h.mu.Unlock()
	if closing || !ready {
		return grid.Errorf(grid.Unavailable, "", "the live feed is starting or stopping; retry shortly")
	}
	hj := &corkHijacker{ResponseWriter: w, pool: h.batches}
	conn, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		// The upgrader has answered (400, 403 for a foreign origin).
		h.cfg.Log.Debug("live: upgrade refused", "err", err)
		return nil
	}
	c := newClient(h, conn, hj.conn, u)
	c.session = session
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		c.closeNow(CloseGoingAway, "server shutting down")
		return nil
	}
	// Registered before the replay is read: every change published from now on has
	// an id above pos and is held in pending until the replay is written.
	pos := h.last
	c.replaying = true
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	// The connection is served on a goroutine of its own and ServeWS returns at once:
	// net/http then frees the request's 8 KB of buffers and Echo reuses its context,
	// which a connection served inside the handler would hold for its whole life
	// (measured with bench live).
	go func() {
		defer h.wg.Done()
		c.serve(h.ctx, pos, since, hasSince)
	}()
	return nil
}

// parseSince reads the since parameter: empty, or a change id ≥ 0.
func parseSince(s string) (int64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, grid.Errorf(grid.Invalid, "since", "must be a change id (a non-negative integer)")
	}
	return n, true, nil
}

// activate ends c's replay: the changes published meanwhile above floor go to its
// queue, and from now on Publish queues directly.
func (h *Hub) activate(c *client, floor int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return // dropped meanwhile
	}
	c.replaying = false
	for _, m := range c.pending {
		if m.id <= floor {
			continue // already replayed
		}
		if !h.tryQueue(c, m) {
			return
		}
	}
	c.pending = nil
}

// tryQueue queues m without blocking, dropping c when its queue is full; h.mu held.
func (h *Hub) tryQueue(c *client, m *message) bool {
	select {
	case c.send <- m:
		return true
	default:
		h.drop(c, CloseTryAgain, "too slow: reconnect with since")
		return false
	}
}

// remove takes c out of the fan-out (it ended on its own).
func (h *Hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// lifetime is MaxLifetime ±10%, so clients connected together do not all
// reconnect together.
func (h *Hub) lifetime() time.Duration {
	d := h.cfg.MaxLifetime
	return d - d/10 + rand.N(d/5+1)
}

// message is one encoded server message; change is set for change messages (the
// filters need it), nil for the rest.
type message struct {
	id     int64
	change *grid.Change
	data   []byte
	// anon is the box and wire form for restricted clients, made on first use (most
	// changes reach no viewer): the box coarsened by LocationPrivacy, the same as
	// change.BBox and data when the change has none.
	anon func() anonForm
}

// anonForm is a change as restricted clients get it.
type anonForm struct {
	box  *orb.Bound
	data []byte
}

// changeJSON is the wire form of a change.
type changeJSON struct {
	Type      string          `json:"type"`
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Entity    string          `json:"entity"`
	EntityID  *int64          `json:"entity_id"` // null for a change to many
	AreaID    *int64          `json:"area_id"`   // null for none
	BBox      *[4]float64     `json:"bbox"`      // [west, south, east, north] or null
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

func (h *Hub) changeMessage(c *grid.Change) (*message, error) {
	j := changeJSON{Type: "change", ID: c.ID, Kind: c.Kind, Entity: c.Entity, Payload: c.Payload, CreatedAt: c.CreatedAt.UTC()}
	if c.EntityID != 0 {
		j.EntityID = &c.EntityID
	}
	if c.AreaID != 0 {
		j.AreaID = &c.AreaID
	}
	if len(j.Payload) == 0 {
		j.Payload = json.RawMessage(`{}`)
	}
	m := &message{id: c.ID, change: c}
	var err error
	if c.BBox == nil {
		if m.data, err = json.Marshal(j); err != nil {
			return nil, err
		}
		m.anon = func() anonForm { return anonForm{data: m.data} }
		return m, nil
	}
	j.BBox = boxJSON(*c.BBox)
	if m.data, err = json.Marshal(j); err != nil {
		return nil, err
	}
	priv := grid.DefaultLocationPrivacy()
	if h.cfg.Privacy != nil {
		priv = h.cfg.Privacy()
	}
	m.anon = sync.OnceValue(func() anonForm {
		coarse, err := priv.CoarseBound(*c.BBox)
		if err != nil {
			// No box at all rather than the exact one: the client hears of the
			// change wherever it looks, and learns nothing of where it was.
			h.cfg.Log.Error("live: coarsen a change's box", "id", c.ID, "err", err)
			j.BBox = nil
			data, _ := json.Marshal(j)
			return anonForm{data: data}
		}
		j.BBox = boxJSON(coarse)
		data, _ := json.Marshal(j) // it marshalled above with a box of the same shape
		return anonForm{box: &coarse, data: data}
	})
	return m, nil
}

func boxJSON(b orb.Bound) *[4]float64 { return &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]} }

// controlMessage encodes a hello, reset or error message.
func controlMessage(v any) *message {
	// The control types hold strings and integers only: Marshal cannot fail on them.
	data, _ := json.Marshal(v)
	return &message{data: data}
}

type helloJSON struct {
	Type   string `json:"type"` // "hello" or "reset"
	LastID int64  `json:"last_id"`
}

type statusJSON struct {
	Type     string `json:"type"`     // "status"
	Database string `json:"database"` // "available" or "unavailable"
}

type errorJSON struct {
	Type    string `json:"type"` // "error"
	Message string `json:"message"`
}
