package client

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// wire is the net.Conn gorilla/websocket has for a client. Once the
// upgrade is done, nothing written to it blocks: what gorilla writes
// (control frames, from any goroutine; prepared broadcasts) and the data
// frames the gateway frames itself are appended to a buffer, and the
// client's writer puts the buffer on the socket (write.go), so frames that
// were queued together leave in one system call. Reads go to the socket.
type wire struct {
	net.Conn                 // the socket, once hijacked
	raw      syscall.RawConn // for writes that must not block; nil if the socket has none
	mu       sync.Mutex
	buf      *[]byte     // bytes not yet written, from outPool; nil when none
	rest     int32       // bytes of the frame gorilla is writing still to come
	buffered atomic.Bool // the upgrade is done
	closeOut bool        // a close frame is in the buffer or went out: no data frame may follow
	dead     bool        // a write failed: nothing more goes out

	// Reader goroutine only (idle.go).
	br    *bufio.Reader // gorilla's read buffer, once upgraded through hijacker
	early *early        // bytes await read that gorilla has not taken
}

// outPool holds write buffers between batches: an idle client holds none.
var outPool = sync.Pool{New: func() any { return new([]byte) }}

// maxBatch is how many bytes a writer frames before it writes; a larger
// frame is written alone. Larger buffers are not kept in the pool.
const maxBatch = 64 << 10

// Write appends p to the buffer; before the upgrade completes (the
// handshake response) it writes to the socket.
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.buffered.Load() {
		return w.Conn.Write(p)
	}
	if w.dead {
		return 0, net.ErrClosed
	}
	w.follow(p)
	w.appendLocked(p)
	return len(p), nil
}

// SetWriteDeadline is gorilla's, set before each of its writes; once the
// upgrade is done its writes do not reach the socket, and the writer sets
// the socket's deadline itself.
func (w *wire) SetWriteDeadline(t time.Time) error {
	if w.buffered.Load() {
		return nil
	}
	return w.Conn.SetWriteDeadline(t)
}

// follow tracks the frames gorilla writes, to know when its close frame
// goes (it answers protocol errors with one of its own): gorilla writes a
// frame's header in one piece, at the start of a write, and its payload in
// that write or the next ones. Callers hold w.mu.
func (w *wire) follow(p []byte) {
	for len(p) > 0 {
		if w.rest == 0 {
			if p[0]&0x0f == websocket.CloseMessage {
				w.closeOut = true
			}
			w.rest = int32(frameSize(p))
		}
		n := min(int(w.rest), len(p))
		w.rest -= int32(n)
		p = p[n:]
	}
}

// frameSize is the size of the frame p starts with, header included; p
// holds at least the header.
func frameSize(p []byte) int {
	if len(p) < 2 {
		return len(p)
	}
	n, h := int(p[1]&0x7f), 2
	switch {
	case n == 126 && len(p) >= 4:
		n, h = int(binary.BigEndian.Uint16(p[2:])), 4
	case n == 127 && len(p) >= 10:
		n, h = int(binary.BigEndian.Uint64(p[2:])&(1<<62-1)), 10
	}
	if p[1]&0x80 != 0 {
		h += 4 // masked: client frames only
	}
	return h + n
}

// frame appends a data frame of the server (final, unmasked, not
// compressed); false once a close frame went before it, as gorilla would.
func (w *wire) frame(typ int, payload []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead || w.closeOut || !w.buffered.Load() {
		return false
	}
	var hdr [10]byte
	hdr[0] = 0x80 | byte(typ)
	h := 2
	switch n := len(payload); {
	case n < 126:
		hdr[1] = byte(n)
	case n <= 0xffff:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		h = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		h = 10
	}
	w.appendLocked(hdr[:h])
	w.appendLocked(payload)
	return true
}

func (w *wire) appendLocked(p []byte) {
	if w.buf == nil {
		w.buf = outPool.Get().(*[]byte)
	}
	*w.buf = append(*w.buf, p...)
}

// take hands the buffered bytes to the writer; nil if there are none.
func (w *wire) take() *[]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	w.buf = nil
	return b
}

// untake puts back the part of b a write left, before what was appended
// since.
func (w *wire) untake(b *[]byte, written int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := copy(*b, (*b)[written:])
	*b = (*b)[:n]
	if w.buf != nil {
		*b = append(*b, *w.buf...)
		free(w.buf)
	}
	w.buf = b
}

// has reports whether bytes wait to be written.
func (w *wire) has() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf != nil
}

// fail drops what waits: the socket is done.
func (w *wire) fail() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dead = true
	if w.buf != nil {
		free(w.buf)
		w.buf = nil
	}
}

func free(b *[]byte) {
	if cap(*b) > maxBatch+maxBatch/2 {
		return // one large frame: not kept
	}
	*b = (*b)[:0]
	outPool.Put(b)
}

// writeNow writes as much of b as the socket takes at once, without
// waiting (see writeSome); without a way to do that it writes nothing.
func (w *wire) writeNow(b []byte) (int, error) {
	if w.raw == nil {
		return 0, nil
	}
	return writeSome(w.raw, b)
}

// writeAll writes b, waiting for the socket until the deadline.
func (w *wire) writeAll(b []byte, deadline time.Time) error {
	if err := w.Conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := w.Conn.Write(b)
	return err
}

// hijacker hands gorilla the client's wire instead of the socket.
type hijacker struct {
	http.ResponseWriter
	w *wire
}

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.w.Conn = conn
	if sc, ok := conn.(syscall.Conn); ok {
		h.w.raw, _ = sc.SyscallConn()
	}
	return h.w, h.w.ownReader(brw), nil
}

// Upgrade completes the WebSocket handshake with u and gives the client
// its socket, then writes what was queued before. On failure u answered
// the request with an HTTP error.
func (c *Conn) Upgrade(u *websocket.Upgrader, w http.ResponseWriter, r *http.Request, h http.Header) error {
	if u.ReadBufferSize != 0 {
		// Only without a read buffer size of its own does gorilla read
		// through the one the hijacker hands it, the client's: await must
		// see every byte gorilla holds.
		own := *u
		own.ReadBufferSize = 0
		u = &own
	}
	ws, err := u.Upgrade(hijacker{w, &c.wire}, r, h)
	if err != nil {
		return err
	}
	// The upgrader leaves its handshake deadline on the socket; writes
	// that must not wait would fail on it once passed.
	_ = c.wire.Conn.SetWriteDeadline(time.Time{})
	c.wire.buffered.Store(true)
	c.mu.Lock()
	c.ws = ws
	start := c.queue != nil && c.own()
	c.mu.Unlock()
	if start {
		writers.schedule(c)
	}
	return nil
}
