package client

import (
	"bufio"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// An idle client's goroutine waits for its next frame. Parked inside
// gorilla's NextReader (bufio, net.Conn, the poller) its stack needs
// 4 KiB, most of an idle connection's memory, and the runtime never
// shrinks a stack that size back. Parked in await, a few frames deep, it
// fits the 2 KiB a goroutine starts with. await reads what arrives itself,
// so waiting costs no extra system call, and answers the heartbeat's pongs
// (and pings) it read whole; anything else, gorilla's next Read gets first.
// A reader whose stack may have grown (it read a frame, or moved its read
// deadline) and whose last data frame is quietFor old hands over to a
// fresh goroutine when it would wait: a client that went quiet is back at
// 2 KiB by its next pong, and a busy one never pays for the hand-over.

// quietFor is how long after its last data frame a reader hands over.
const quietFor = time.Second

// errHandOver ends a reader's goroutine: a fresh one goes on.
var errHandOver = errors.New("reader handed over")

// early is what await read and gorilla has not taken yet. Pooled: an idle
// client holds none.
type early struct {
	bp   *[]byte // from readBufs once something was read: a parked reader holds none
	buf  []byte  // what was read, in *bp
	off  int
	err  error // what the read ended with, once buf is taken (io.EOF, errno)
	read func(fd uintptr) bool
	// leave makes read return instead of waiting for the socket; left
	// says it did.
	leave, left bool
}

var earlies = sync.Pool{New: func() any {
	e := &early{}
	e.read = e.readFD
	return e
}}

var readBufs = sync.Pool{New: func() any {
	b := make([]byte, readerSize)
	return &b
}}

// readerSize is gorilla's read buffer, which the client owns so that it
// knows what gorilla holds (see ownReader); await reads as much at once.
const readerSize = 512

// await returns once gorilla's next read would not wait: it holds bytes,
// await read some that are not control frames, the socket ended or
// failed, or await cannot tell. Its error is a handler's (see control), or
// errHandOver. Only the reader calls it, between messages: the socket is
// at a frame's start.
func (c *Conn) await() error {
	w := &c.wire
	for w.raw != nil && w.br != nil && w.br.Buffered() == 0 && w.early == nil {
		e := earlies.Get().(*early)
		e.leave = c.deep && time.Since(epoch)-c.lastData >= quietFor
		err := w.raw.Read(e.read)
		if e.left {
			e.reset()
			c.deep = false // for the next goroutine
			return errHandOver
		}
		if err != nil || (len(e.buf) == 0 && e.err == nil) {
			// The poller's error (closed, deadline) comes again from Read.
			e.reset()
			return nil
		}
		err = c.controls(e)
		if e.off < len(e.buf) || e.err != nil {
			w.early = e // for gorilla
		} else {
			e.reset()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// controls answers the pings and pongs at the head of e, each whole,
// unfragmented and masked (anything else is gorilla's to judge), as
// gorilla would with the handlers of startHeartbeat.
func (c *Conn) controls(e *early) error {
	for {
		f := e.buf[e.off:]
		if len(f) < 6 || (f[0] != 0x80|websocket.PingMessage && f[0] != 0x80|websocket.PongMessage) || f[1]&0x80 == 0 {
			return nil
		}
		n := int(f[1] & 0x7f)
		if n > 125 || len(f) < 6+n {
			return nil
		}
		var payload [125]byte
		for i := range n {
			payload[i] = f[6+i] ^ f[2+i%4]
		}
		e.off += 6 + n
		var err error
		if f[0]&0x0f == websocket.PingMessage {
			err = c.pinged(payload[:n])
		} else {
			err = c.control()
		}
		if err != nil {
			return err
		}
	}
}

// Read gives gorilla what await read first, then reads the socket.
func (w *wire) Read(p []byte) (int, error) {
	e := w.early
	if e == nil {
		return w.Conn.Read(p)
	}
	if e.off < len(e.buf) {
		n := copy(p, e.buf[e.off:])
		e.off += n
		if e.off == len(e.buf) && e.err == nil {
			w.early = nil
			e.reset()
		}
		return n, nil
	}
	err := e.err
	w.early = nil
	e.reset()
	return 0, err
}

func (e *early) reset() {
	if e.bp != nil {
		readBufs.Put(e.bp)
	}
	e.bp, e.buf, e.off, e.err, e.leave, e.left = nil, nil, 0, nil, false, false
	earlies.Put(e)
}

// ownReader gives gorilla a read buffer the client can look into; brw is
// the hijacked one, kept when it holds bytes (gorilla refuses those).
func (w *wire) ownReader(brw *bufio.ReadWriter) *bufio.ReadWriter {
	if brw.Reader.Buffered() > 0 {
		return brw
	}
	w.br = bufio.NewReaderSize(w, readerSize)
	return bufio.NewReadWriter(w.br, brw.Writer)
}
