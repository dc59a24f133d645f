package live

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// A burst of changes to thousands of clients is bound by write system calls, one
// per websocket frame (bench live: two thirds of the server's CPU). The writer
// therefore corks the connection, lets gorilla frame every queued message into a
// buffer, and uncorks with one write. gorilla has no batching of its own, so the
// cork sits under it, on the hijacked net.Conn.

// corkConn is a net.Conn whose writes are held in a buffer while corked. Writes
// from gorilla's other goroutines (pongs, the close frame) just join the buffer.
type corkConn struct {
	net.Conn
	pool   *sync.Pool // of *[]byte batch buffers, shared by the hub's connections
	mu     sync.Mutex
	corked bool
	buf    *[]byte // from pool while corked, so an idle connection holds none
}

// newBufferPool is the hub's pool of batch buffers.
func newBufferPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
}

// Write buffers p while corked and writes it through otherwise.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork starts holding writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.buf = c.pool.Get().(*[]byte)
	c.mu.Unlock()
}

// uncork writes what was held, in one system call, by deadline.
func (c *corkConn) uncork(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return nil
	}
	c.corked = false
	buf := c.buf
	c.buf = nil
	defer func() {
		if cap(*buf) <= 256<<10 { // do not keep the odd huge batch around
			*buf = (*buf)[:0]
			c.pool.Put(buf)
		}
	}()
	if len(*buf) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(deadline)
	_, err := c.Conn.Write(*buf)
	return err
}

// corkHijacker hands the upgrader a corkConn instead of the raw connection.
type corkHijacker struct {
	http.ResponseWriter
	pool *sync.Pool
	conn *corkConn
}

// Hijack hijacks the underlying connection and wraps it in a corkConn.
func (w *corkHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("live: the response writer cannot be hijacked")
	}
	nc, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc, pool: w.pool}
	return w.conn, brw, nil
}
