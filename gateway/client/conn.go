// Package client is one WebSocket client of the gateway: a reader goroutine
// that forwards frames to NATS, several at a time, and releases their
// answers in the order sent (forward.go); and a bounded outbound queue that
// writers shared by all clients put on the socket, frames queued together
// in one system call (write.go, wire.go). An idle client costs one
// goroutine, its reader, waiting in a 2 KiB stack (idle.go).
package client

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Options are what the clients of a gateway share: where their frames go,
// and the bounds of what one client may cost.
type Options struct {
	Publisher       Publisher // the gateway's NATS connection
	Inbox           string    // the gateway's inbox subject: replies come to <Inbox>.<id>.<seq>
	Log             *slog.Logger
	MaxMessageBytes int64         // larger frames close the socket with 1009
	SendQueueBytes  int           // outbound bytes waiting; over it, the client is closed
	WriteTimeout    time.Duration // how long a client may take to accept what is queued, and the close frame
	WorkerTimeout   time.Duration // how long a frame waits for its worker's reply
	CloseGrace      time.Duration // how long to wait for the peer's close frame
	PingInterval    time.Duration // 0 disables heartbeats
	PongTimeout     time.Duration // a peer silent for PingInterval+PongTimeout is dropped
	RatePerSecond   float64       // frames (data, ping, pong) a client may send per second; 0 disables
	RateBurst       int           // frames it may send at once above the rate
	Compression     bool          // permessage-deflate may be on: data frames are framed by gorilla
	WriteCoalesce   time.Duration // a client written to less than this ago waits that long for its next write (broadcasts); 0: write at once
	Metrics         *metrics.Gateway
	Outbound        *Outbound // vets every worker message before it reaches the client
}

// Conn is one connected client.
type Conn struct {
	ID    string
	ws    *websocket.Conn
	opts  *Options
	route *route.Route // for logs, and how many frames may be in flight

	subject    string // where this client's frames go
	ident      Identity
	pipe       atomic.Pointer[pipe] // frames in flight; made at the first frame
	listenOnly bool                 // set before Serve: frames close the socket

	closing  atomic.Bool
	once     sync.Once
	framed   int32   // writer (see below): payload bytes framed and not yet written
	extended int64   // when alive last moved the read deadline, Unix ns; reader only
	limit    *bucket // the client's frame budget; reader only

	// done is made by Done and closed with the connection; guarded by mu.
	// (With it a Conn takes 360 bytes, the 384-byte allocation class.)
	done chan struct{}

	// The outbound queue (write.go). The writer owns the wire's buffer and
	// the fields marked "writer". (Fields are ordered to leave no padding:
	// an idle client's Conn fits a smaller allocation class.)
	mu          sync.Mutex
	queue       *queue // from queuePool; nil when empty
	queued      int    // payload bytes queued or framed and not yet written
	writing     bool   // a writer owns the queue: scheduled, in a turn, or on its own goroutine
	closed      bool
	shard       uint8          // the writers' shard that runs c's turns
	closeFramed bool           // writer: the close frame is in the wire
	graced      bool           // writer: the read deadline was set for the peer's close
	paced       bool           // writer: the next turn was deferred once already
	lastWrite   time.Duration  // writer: when the last write went out, since the process started
	lastData    time.Duration  // reader: when the last data frame came, since the process started
	deep        bool           // reader: its goroutine may have grown its stack (see await)
	nextSeq     uint64         // reader: the first frame number of the next pipe (see rest)
	pinger      *time.Timer    // stopped, never re-armed, once closed
	writers     sync.WaitGroup // held while a writer owns the queue; none start once closed
	wire        wire           // the socket, as gorilla sees it

	// closeMu orders the close frames the gateway writes, so that the code
	// recorded is the one that went out first (see sentClose).
	closeMu sync.Mutex

	// Stats, for the close log line.
	framesIn, framesOut atomic.Uint64
	writes              atomic.Uint64 // batches written to the socket
	bytesIn, bytesOut   atomic.Uint64
	sentCode, peerCode  atomic.Int32 // close codes that went out and came in
	slowClosed          atomic.Bool  // closed as a slow consumer
	peerFirst           atomic.Bool  // the peer's close frame came before any of the gateway's
}

type frame struct {
	data []byte
	b    *Broadcast // a room broadcast: its compressed frame is shared
	typ  int32
	code int32 // of a close frame
}

// Identity is what every frame of a client tells its worker, as headers.
type Identity struct {
	Gateway, User, Room string // User and Room may be empty
	// Broadcast is the room's broadcast subject, where a reply with
	// Wsgw-Broadcast is published; empty outside rooms.
	Broadcast string
	// Store is the room's history subject, where a reply with
	// Wsgw-Broadcast and Wsgw-Store is published instead.
	Store string
}

var nextShard atomic.Uint32

// New makes a client before its upgrade, so that it can join rooms and
// queue frames first; Upgrade gives it its socket. Frames go to subject;
// replies come back on <Inbox>.<id>.<seq>. rt is the route it came by.
func New(id, subject string, ident Identity, rt *route.Route, opts *Options) *Conn {
	return &Conn{
		ID: id, opts: opts, route: rt, subject: subject, ident: ident,
		shard: uint8(nextShard.Add(1) % uint32(len(writers.shards))),
	}
}

// ListenOnly makes the client's frames a policy violation: it may receive
// but not publish. Call it before Serve.
func (c *Conn) ListenOnly() { c.listenOnly = true }

// Handler takes a connection's frames instead of forwarding them to NATS:
// the /ws/rooms protocol session is one (see ServeWith). The frame-level
// rules (size, rate, UTF-8 of text frames, listen-only) apply before it.
type Handler interface {
	// Frame handles one data frame, on the reader goroutine; data is
	// reused once it returns. It may block, at most until Done is closed:
	// the client's next frames wait in the socket meanwhile, which does
	// not count against its rate.
	Frame(typ int, data []byte)
}

// Done is closed once the connection closes: a close frame is queued, or
// the socket ended.
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.closed {
			close(c.done)
		}
	}
	return c.done
}

// bufPool holds message buffers; those that grew past 64 KiB are not kept.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// Serve reads frames until the socket ends. Up to the route's in_flight
// frames go to NATS before the first is answered; their answers are
// released in the order sent (see forward).
func (c *Conn) Serve() { c.ServeWith(nil) }

// ServeWith is Serve with h, when not nil, taking the frames instead of
// forward.
func (c *Conn) ServeWith(h Handler) {
	done := make(chan struct{})
	c.Run(h, func() { close(done) })
	<-done
}

// Run starts the client's reader, which reads frames (h, when not nil,
// takes them instead of forward) until the socket ends, then calls end.
// The reader is one goroutine at a time, but not always the same: one that
// went quiet after work hands over to a fresh one (see await), so end may
// run on another goroutine than the first.
func (c *Conn) Run(h Handler, end func()) {
	c.ws.SetReadLimit(c.opts.MaxMessageBytes)
	c.ws.SetCloseHandler(c.onClose)
	c.limit = newBucket(c.opts.RatePerSecond, c.opts.RateBurst, time.Now())
	c.startHeartbeat()
	// The reader starts fresh, as if it had just read a frame: it has no
	// stack to shed, and nothing to hand over before it was ever quiet.
	c.deep, c.lastData = false, time.Since(epoch)
	go c.read(h, end)
}

// read is the reader's goroutine.
func (c *Conn) read(h Handler, end func()) {
	if c.readFrames(h) {
		end()
		return
	}
	go c.read(h, end) // handed over: see await
}

// readFrames reads until the socket ends (true) or await hands the reader
// over to a fresh goroutine (false).
func (c *Conn) readFrames(h Handler) bool {
	for {
		c.waitRoom()
		switch err := c.await(); err {
		case nil:
		case errHandOver:
			c.rest()
			return false
		default:
			c.finish(c.readFailed(err))
			return true
		}
		c.deep = true
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.finish(c.readFailed(err))
			return true
		}
		c.lastData = time.Since(epoch)
		if c.isClosing() {
			// A close frame was sent: discard until the peer's close arrives.
			if _, err := io.Copy(io.Discard, r); err != nil {
				c.finish(c.readFailed(err))
				return true
			}
			continue
		}
		c.alive()
		if c.listenOnly {
			// Refused before reading it: nobody ever receives the frame.
			c.Close(wsclose.New(contract.ClosePolicyViolation, "not allowed to publish"))
			continue
		}
		if !c.limit.take(time.Now()) {
			c.opts.Metrics.RateLimited.Inc()
			c.Close(rateLimited)
			continue
		}
		bp := bufPool.Get().(*[]byte)
		// Count decompressed bytes: the limit holds whatever the wire size.
		data, err := readMessage((*bp)[:0], r, c.opts.MaxMessageBytes, typ == websocket.TextMessage)
		switch err {
		case nil:
			c.framesIn.Add(1)
			c.bytesIn.Add(uint64(len(data)))
			c.opts.Metrics.FramesIn.Inc()
			c.opts.Metrics.BytesIn.Add(float64(len(data)))
			c.limit.read(time.Now())
			if h != nil {
				h.Frame(typ, data)
				// While the handler waited, the client's frames waited in
				// the socket: that time does not count against the client,
				// nor as its silence.
				c.limit.waited(time.Now())
				c.alive()
			} else {
				c.forward(typ, data)
			}
		case errTooBig:
			c.Close(wsclose.New(contract.CloseMessageTooBig, "message too big"))
		case errInvalidUTF8:
			c.Close(wsclose.New(contract.CloseInvalidPayload, "text frame is not valid UTF-8"))
		default:
			c.finish(c.readFailed(err))
			return true
		}
		if cap(data) <= 64<<10 {
			*bp = data
			bufPool.Put(bp)
		}
	}
}

// waitRoom waits while the connection's window is full, until a frame in
// it is released or the connection closes. The client's frames wait in the
// socket meanwhile, because the gateway does not read, not because the
// client sent too fast: that time does not count against its rate.
func (c *Conn) waitRoom() {
	p := c.pipe.Load()
	if p == nil || !p.win.Full() {
		return
	}
	c.limit.read(time.Now())
	for p.win.Full() {
		<-p.win.Space()
	}
	c.limit.waited(time.Now())
	// The peer was alive when it sent what it sent; do not let the wait
	// count as silence.
	c.alive()
}

// Close sends a close frame after the frames already queued, then waits
// CloseGrace for the peer's close. Only the first call has an effect.
func (c *Conn) Close(cl wsclose.Close) { c.close(cl, true) }

// closeNow drops queued frames and closes: for a client that is not reading.
func (c *Conn) closeNow(cl wsclose.Close) { c.close(cl, false) }

func (c *Conn) close(cl wsclose.Close, flush bool) {
	c.once.Do(func() {
		c.mu.Lock()
		c.setClosed()
		if !flush {
			c.dropQueue()
		}
		c.push(frame{typ: websocket.CloseMessage, data: cl.Payload(), code: int32(cl.Code())})
		start := c.own()
		c.mu.Unlock()
		if start {
			writers.schedule(c)
		}
	})
}

// markClosed stops all writing but what the writer already framed, without
// a close frame. Only the first close of any kind has an effect.
func (c *Conn) markClosed() {
	c.once.Do(func() {
		c.mu.Lock()
		c.setClosed()
		c.dropQueue()
		c.mu.Unlock()
	})
}

// setClosed refuses everything but the close frame from now on, stops the
// ping timer for good and drops the frames in flight, waking a reader that
// waits for room. Callers hold c.mu: ping checks closed under it before it
// re-arms the timer.
func (c *Conn) setClosed() {
	c.closed = true
	if c.done != nil {
		close(c.done)
	}
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.closing.Store(true)
	if p := c.pipe.Load(); p != nil {
		p.close()
	}
}

// Abort ends the connection at once, without a close handshake.
func (c *Conn) Abort() { c.abort() }

func (c *Conn) abort() {
	c.markClosed()
	c.mu.Lock()
	attached := c.ws != nil
	c.mu.Unlock()
	if attached {
		_ = c.wire.Conn.Close()
	}
}

func (c *Conn) isClosing() bool { return c.closing.Load() }

// How the reader ended, for finish.
const (
	endGone  = iota // the connection is gone or was aborted: nothing more can be written
	endClose        // a close handshake ended: its last close frame may still be queued
	endDrain        // gorilla stopped parsing after a close frame went out: read what the peer still sends
)

// finish runs when the reader stops: the socket is closed for good, and
// no writer runs when it returns (so that Stats are final).
func (c *Conn) finish(end int) {
	raw := c.wire.Conn
	c.markClosed()
	switch end {
	case endGone:
		_ = raw.Close()
	case endDrain:
		// Read what the peer still sends, for at most CloseGrace, so that
		// closing does not reset the connection and lose the close frame on
		// its side.
		_ = raw.SetReadDeadline(time.Now().Add(c.opts.CloseGrace))
		_, _ = io.Copy(io.Discard, raw)
	}
	// The last close frame may still be on its way out: its writer has at
	// most WriteTimeout.
	c.writers.Wait()
	_ = raw.Close()
}

// Stats are what a client did, for the line logged when it goes.
type Stats struct {
	FramesIn, FramesOut, BytesIn, BytesOut uint64
	Writes                                 uint64 // writes to the socket that carried them
	// CloseCode is the code of the close frame the gateway sent, or if it
	// sent none, the one the peer sent; 0 when no close frame went either
	// way (1005: a close frame without a code).
	CloseCode int
	// Sent is true when the gateway closed first: its close frame went out
	// before any came from the peer (not as an answer to the peer's).
	Sent bool
	// SlowConsumer is true when the gateway closed it for reading too slowly.
	SlowConsumer bool
}

// Stats are reported when a client goes away.
func (c *Conn) Stats() Stats {
	code := c.sentCode.Load()
	if code == 0 {
		code = c.peerCode.Load()
	}
	return Stats{FramesIn: c.framesIn.Load(), FramesOut: c.framesOut.Load(), BytesIn: c.bytesIn.Load(),
		BytesOut: c.bytesOut.Load(), Writes: c.writes.Load(), CloseCode: int(code),
		Sent: c.sentCode.Load() != 0 && !c.peerFirst.Load(), SlowConsumer: c.slowClosed.Load()}
}
