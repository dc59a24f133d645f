package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is a minimal client of the feed, for tools (gridtrace bench live) that must
// not import gorilla themselves: this package is its only importer.
type Conn struct {
	ws *websocket.Conn
	// LastID is the position the server announced in its hello.
	LastID int64
}

// Dial connects to the feed at url (ws://host/api/v1/live, with ?since= if wanted)
// with the session token and reads the hello.
func Dial(ctx context.Context, url, token string) (*Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: time.Minute, ReadBufferSize: 4096, WriteBufferSize: 1024}
	ws, resp, err := d.DialContext(ctx, url, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("live: dial %s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("live: dial %s: %w", url, err)
	}
	ws.SetReadDeadline(time.Now().Add(time.Minute))
	var hello helloJSON
	if err := ws.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		ws.Close()
		return nil, fmt.Errorf("live: no hello from %s: %v", url, err)
	}
	return &Conn{ws: ws, LastID: hello.LastID}, nil
}

// Read returns the next message as sent (a JSON object), waiting until deadline.
func (c *Conn) Read(deadline time.Time) ([]byte, error) {
	c.ws.SetReadDeadline(deadline)
	_, data, err := c.ws.ReadMessage()
	return data, err
}

// Send sends a client message, e.g. {"type":"viewport","bbox":[…]}.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("live: encode: %w", err)
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.ws.Close() }
