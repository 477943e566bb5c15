// Package client is one WebSocket client of the gateway: a reader goroutine
// that forwards frames to NATS one at a time,
// and a bounded outbound queue with a single writer at a time: a goroutine
// that exists only while there is something to write, or the reader itself
// when it writes the reply it was waiting for. An idle client costs one
// goroutine.
package client

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Options bound what one client may cost.
type Options struct {
	MaxMessageBytes int64         // larger frames close the socket with 1009
	SendQueueBytes  int           // outbound bytes waiting; over it, the client is closed
	WriteTimeout    time.Duration // one frame write, and the close frame
	WorkerTimeout   time.Duration // how long a frame waits for its worker's reply
	CloseGrace      time.Duration // how long to wait for the peer's close frame
	PingInterval    time.Duration // 0 disables heartbeats
	PongTimeout     time.Duration // a peer silent for PingInterval+PongTimeout is dropped
	RatePerSecond   float64       // frames (data, ping, pong) a client may send per second; 0 disables
	RateBurst       int           // frames it may send at once above the rate
	Metrics         *metrics.Gateway
	Outbound        *Outbound // vets every worker message before it reaches the client
}

// Publisher is the part of *nats.Conn a client needs.
type Publisher interface {
	PublishMsg(*nats.Msg) error
}

// Conn is one connected client.
type Conn struct {
	ID   string
	ws   *websocket.Conn
	opts *Options
	log  *slog.Logger
	pub  Publisher

	subject     string // where this client's frames go
	ident       Identity
	inbox       string        // the gateway's inbox subject
	replyPrefix string        // <inbox>.<id>. ; the frame's seq follows (built at the first frame)
	hdr         nats.Header   // identity headers, built at the first frame and reused for every one
	seq         uint64        // reader only
	listenOnly  bool          // set before Serve: frames close the socket
	handler     Handler       // set before Serve: takes frames instead of forward
	done        chan struct{} // made by Done, closed with the connection; guarded by mu

	awaiting atomic.Uint64 // seq of the frame waiting for its reply, 0 if none
	wake     chan struct{} // reply or close, to the waiting reader; made at the first frame
	closing  atomic.Bool
	once     sync.Once
	extended time.Time // when alive last moved the read deadline; reader only
	limit    *bucket   // the client's frame budget; reader only

	mu      sync.Mutex
	queue   []frame
	queued  int
	writing bool
	closed  bool
	pinger  *time.Timer    // stopped, never re-armed, once closed
	writers sync.WaitGroup // writer goroutines; none start once closed

	// closeMu orders the close frames the gateway writes, so that the code
	// recorded is the one that went out first (see sentClose).
	closeMu sync.Mutex

	// Stats, for the close log line.
	framesIn, framesOut atomic.Uint64
	bytesIn, bytesOut   atomic.Uint64
	sentCode, peerCode  atomic.Int32 // close codes that went out and came in
}

type frame struct {
	typ  int
	data []byte
	pm   *websocket.PreparedMessage // a room broadcast, framed once for all members
	code int                        // of a close frame
}

// Identity is what every frame of a client tells its worker, as headers.
type Identity struct {
	Gateway, User, Room string // User and Room may be empty
	// Broadcast is the room's broadcast subject, where a reply with
	// Wsgw-Broadcast is published; empty outside rooms.
	Broadcast string
}

// New makes a client before its upgrade, so that it can join rooms and
// queue frames first; Attach gives it its socket. Frames go to subject;
// replies come back on <inbox>.<id>.<seq>.
func New(id string, pub Publisher, subject, inbox string, ident Identity, opts *Options, log *slog.Logger) *Conn {
	return &Conn{
		ID: id, opts: opts, log: log, pub: pub,
		subject: subject, inbox: inbox, ident: ident,
	}
}

// ListenOnly makes the client's frames a policy violation: it may receive
// but not publish. Call it before Serve.
func (c *Conn) ListenOnly() { c.listenOnly = true }

// Handler takes a connection's frames instead of forwarding them to NATS
// one by one: the /ws/rooms protocol session is one. The frame-level rules
// (size, rate, UTF-8 of text frames, listen-only) apply before it.
type Handler interface {
	// Frame handles one data frame, on the reader goroutine; data is
	// reused once it returns. It may block, at most until Done is closed:
	// the client's next frames wait in the socket meanwhile, which does
	// not count against its rate.
	Frame(typ int, data []byte)
}

// Handle makes h take the client's frames. Call it before Serve.
func (c *Conn) Handle(h Handler) { c.handler = h }

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

// Attach gives the client its upgraded socket and starts writing what was
// queued before.
func (c *Conn) Attach(ws *websocket.Conn) {
	c.mu.Lock()
	c.ws = ws
	if len(c.queue) > 0 {
		c.startWriter()
	}
	c.mu.Unlock()
}

// bufPool holds message buffers; those that grew past 64 KiB are not kept.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// Serve reads frames until the socket ends; it is the client's goroutine. Frames go to NATS one at a time:
// the next is sent only after the worker answered the previous one (or the
// worker timeout passed), so a client's frames are handled in the order sent
// even when several worker instances share the work.
func (c *Conn) Serve() {
	c.ws.SetReadLimit(c.opts.MaxMessageBytes)
	c.ws.SetCloseHandler(c.onClose)
	c.limit = newBucket(c.opts.RatePerSecond, c.opts.RateBurst, time.Now())
	c.startHeartbeat()
	var timer *time.Timer // the worker timeout, made at the first frame
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.finish(c.readFailed(err))
			return
		}
		if c.isClosing() {
			// A close frame was sent: discard until the peer's close arrives.
			if _, err := io.Copy(io.Discard, r); err != nil {
				c.finish(c.readFailed(err))
				return
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
			if c.handler != nil {
				c.limit.read(time.Now())
				c.handler.Frame(typ, data)
				c.limit.waited(time.Now())
				c.alive()
				break
			}
			if timer == nil {
				timer = time.NewTimer(time.Hour)
				timer.Stop()
			}
			c.limit.read(time.Now())
			c.forward(typ, data, timer)
			// While the gateway waited, the client's frames waited in the
			// socket: that time does not count against the client.
			c.limit.waited(time.Now())
			// The peer was alive when it sent the frame; do not let the
			// wait for its reply count as silence.
			c.alive()
		case errTooBig:
			c.Close(wsclose.New(contract.CloseMessageTooBig, "message too big"))
		case errInvalidUTF8:
			c.Close(wsclose.New(contract.CloseInvalidPayload, "text frame is not valid UTF-8"))
		default:
			c.finish(c.readFailed(err))
			return
		}
		if cap(data) <= 64<<10 {
			*bp = data
			bufPool.Put(bp)
		}
	}
}

// forward sends one frame to NATS and waits for its reply.
func (c *Conn) forward(typ int, data []byte, timer *time.Timer) {
	c.seq++
	seq := c.seq
	kind := contract.FrameText
	if typ == websocket.BinaryMessage {
		kind = contract.FrameBinary
	}
	if c.hdr == nil {
		// Built here, not at connect: an idle client never pays for it.
		c.replyPrefix = c.inbox + "." + c.ID + "."
		c.hdr = nats.Header{contract.HeaderConn: {c.ID}, contract.HeaderGateway: {c.ident.Gateway}}
		if c.ident.User != "" {
			c.hdr[contract.HeaderUser] = []string{c.ident.User}
		}
		if c.ident.Room != "" {
			c.hdr[contract.HeaderRoom] = []string{c.ident.Room}
		}
	}
	c.hdr[contract.HeaderFrame] = []string{kind}
	msg := &nats.Msg{
		Subject: c.subject,
		Reply:   c.replyPrefix + strconv.FormatUint(seq, 10),
		Header:  c.hdr,
		Data:    data,
	}
	if c.wake == nil {
		c.mu.Lock()
		c.wake = make(chan struct{}, 1)
		c.mu.Unlock()
	}
	c.awaiting.Store(seq)
	// PublishMsg copies data into the connection's buffer, so the caller
	// may reuse it as soon as this returns.
	if err := c.pub.PublishMsg(msg); err != nil {
		c.awaiting.Store(0)
		c.Close(wsclose.New(contract.CloseTryAgainLater, "backend unavailable"))
		return
	}
	start := time.Now()
	timer.Reset(c.opts.WorkerTimeout)
	select {
	case <-c.wake:
		timer.Stop()
		if c.awaiting.CompareAndSwap(seq, 0) {
			return // woken by a close: the reply, if any, is not wanted
		}
	case <-timer.C:
		if c.awaiting.CompareAndSwap(seq, 0) {
			// The frame is lost (its worker died with it in flight, or
			// NATS dropped it). Later frames still go through.
			c.opts.Metrics.WorkerTimeouts.Inc()
			c.log.Warn("worker did not answer in time; frame dropped", "conn", c.ID, "subject", c.subject)
			return
		}
		<-c.wake // the reply won the race: it is being delivered
	}
	c.opts.Metrics.WorkerLatency.Observe(time.Since(start).Seconds())
	c.drain()
}

// Reply handles the NATS reply to frame seq. A reply for a frame that is no
// longer awaited (it timed out) is dropped, to keep order.
func (c *Conn) Reply(seq uint64, msg *nats.Msg) {
	if seq == 0 || !c.awaiting.CompareAndSwap(seq, 0) {
		return
	}
	switch {
	case msg.Header.Get("Status") == "503":
		// NATS "no responders": no worker subscribes to this subject.
		c.opts.Metrics.NoResponders.Inc()
		c.Close(wsclose.New(contract.CloseTryAgainLater, "no worker available"))
	case c.opts.Outbound.ServiceError(msg):
		// A NATS micro error: the worker could not handle the frame. Its
		// description is for operators, not for the client.
		c.Close(wsclose.New(contract.CloseInternalError, "worker error"))
	case msg.Header.Get(contract.HeaderBroadcast) != "" && c.ident.Broadcast != "":
		c.publishBroadcast(msg)
		c.closeIfAsked(msg)
	default:
		// The reader, waiting for this reply, writes it (see drain): no
		// writer goroutine is started for the common request/reply case.
		c.deliver(msg, "reply", false)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// publishBroadcast publishes a room worker's reply to the client's room,
// with the identity only the gateway vouches for. It runs before the reader
// is woken to send the next frame, on the same NATS connection, so one
// sender's broadcasts reach every member in order, on any NATS server.
// A body no member could take is not published.
func (c *Conn) publishBroadcast(reply *nats.Msg) {
	typ, ok := c.opts.Outbound.Broadcast(reply)
	if !ok {
		return
	}
	frame := contract.FrameText
	if typ == websocket.BinaryMessage {
		frame = contract.FrameBinary
	}
	hdr := nats.Header{
		contract.HeaderFrame:   {frame},
		contract.HeaderRoom:    {c.ident.Room},
		contract.HeaderConn:    {c.ID},
		contract.HeaderGateway: {c.ident.Gateway},
	}
	if c.ident.User != "" {
		hdr[contract.HeaderUser] = []string{c.ident.User}
	}
	if err := c.pub.PublishMsg(&nats.Msg{Subject: c.ident.Broadcast, Header: hdr, Data: reply.Data}); err != nil {
		c.log.Warn("broadcast not published", "conn", c.ID, "err", err)
	}
}

// Deliver writes a worker's push to the client: a frame if it has
// Wsgw-Frame (and passes the checks of Outbound), then a close if it has
// Wsgw-Close.
func (c *Conn) Deliver(msg *nats.Msg) { c.deliver(msg, "push", true) }

func (c *Conn) deliver(msg *nats.Msg, what string, start bool) {
	if typ, ok := c.opts.Outbound.Frame(msg, what); ok {
		c.enqueue(frame{typ: typ, data: msg.Data}, start)
	}
	c.closeIfAsked(msg)
}

// closeIfAsked closes the socket if msg has Wsgw-Close, with its body as
// the reason; a code that may not go on the wire becomes 1000.
func (c *Conn) closeIfAsked(msg *nats.Msg) {
	if v := msg.Header.Get(contract.HeaderClose); v != "" {
		c.Close(wsclose.FromHeader(v, msg.Data))
	}
}

// Send queues a data frame. data must not be modified afterwards: it may be
// shared by every member of a room. A client whose queue passes
// SendQueueBytes is closed; the frame is not queued.
func (c *Conn) Send(typ int, data []byte) { c.enqueue(frame{typ: typ, data: data}, true) }

// SendPrepared queues a room broadcast framed once for every member; data
// is its payload, for accounting.
func (c *Conn) SendPrepared(pm *websocket.PreparedMessage, data []byte) {
	c.enqueue(frame{pm: pm, data: data}, true)
}

// enqueue queues a frame; start runs a writer goroutine for it unless the
// caller knows the reader will drain the queue itself. A frame always fits
// an empty queue, so that a client that reads is never a slow consumer for
// one frame larger than SendQueueBytes (frames from workers are at most
// MaxMessageBytes, see Outbound).
func (c *Conn) enqueue(f frame, start bool) {
	data := f.data
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.queued > 0 && c.queued+len(data) > c.opts.SendQueueBytes {
		c.mu.Unlock()
		c.opts.Metrics.SlowConsumers.Inc()
		c.closeNow(wsclose.New(contract.CloseTryAgainLater, "slow consumer"))
		return
	}
	c.queue = append(c.queue, f)
	c.queued += len(data)
	if start {
		c.startWriter()
	}
	c.mu.Unlock()
}

// drain writes what is queued on the calling goroutine when no writer
// runs. The reader calls it after a reply: it would only wait otherwise.
func (c *Conn) drain() {
	c.mu.Lock()
	if c.writing || c.ws == nil || len(c.queue) == 0 {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	c.write()
}

// startWriter runs the writer if it is not running and the socket is
// attached. Callers hold c.mu.
func (c *Conn) startWriter() {
	if !c.writing && c.ws != nil {
		c.writing = true
		c.writers.Add(1)
		go func() {
			defer c.writers.Done()
			c.write()
		}()
	}
}

// write drains the queue, then exits.
func (c *Conn) write() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		// c.queued keeps counting the batch until it is written, so the
		// bound covers every byte this client holds.
		size := 0
		// One deadline for the batch: a client must take the batch within
		// WriteTimeout, and the deadline is set once, not once a frame.
		deadline := time.Now().Add(c.opts.WriteTimeout)
		_ = c.ws.SetWriteDeadline(deadline)
		for _, f := range batch {
			var err error
			switch {
			case f.typ == websocket.CloseMessage:
				err = c.sendClose(f.data, f.code, deadline)
				// Give the peer CloseGrace to answer, then the reader ends.
				_ = c.ws.UnderlyingConn().SetReadDeadline(time.Now().Add(c.opts.CloseGrace))
			case f.typ == websocket.PingMessage:
				err = c.ws.WriteControl(f.typ, nil, deadline)
			default:
				if f.pm != nil {
					err = c.ws.WritePreparedMessage(f.pm)
				} else {
					err = c.ws.WriteMessage(f.typ, f.data)
				}
				c.framesOut.Add(1)
				c.opts.Metrics.FramesOut.Inc()
				size += len(f.data)
			}
			if err != nil {
				// The peer is gone or not reading: end the reader too.
				c.abort()
				c.mu.Lock()
				c.queue, c.queued, c.writing = nil, 0, false
				c.mu.Unlock()
				return
			}
		}
		c.mu.Lock()
		if !c.closed {
			c.queued -= size
		}
		c.mu.Unlock()
		c.bytesOut.Add(uint64(size))
		c.opts.Metrics.BytesOut.Add(float64(size))
	}
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
			c.queue, c.queued = nil, 0
		}
		c.queue = append(c.queue, frame{typ: websocket.CloseMessage, data: cl.Payload(), code: cl.Code()})
		c.startWriter()
		c.mu.Unlock()
	})
}

// markClosed stops all writing but what the writer already holds, without
// a close frame. Only the first close of any kind has an effect.
func (c *Conn) markClosed() {
	c.once.Do(func() {
		c.mu.Lock()
		c.setClosed()
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
	})
}

// setClosed refuses everything but the close frame from now on, stops the
// ping timer for good and wakes a reader waiting for a reply. Callers hold
// c.mu: ping checks closed under it before it re-arms the timer.
func (c *Conn) setClosed() {
	c.closed = true
	if c.done != nil {
		close(c.done)
	}
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.closing.Store(true)
	if c.wake != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// Abort ends the connection at once, without a close handshake.
func (c *Conn) Abort() { c.abort() }

func (c *Conn) abort() {
	c.markClosed()
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.UnderlyingConn().Close()
	}
}

func (c *Conn) isClosing() bool { return c.closing.Load() }

// finish runs when the reader stops: the socket is closed for good, and
// the writer, if any, has stopped when it returns (so that Stats are final).
func (c *Conn) finish(drainRaw bool) {
	raw := c.ws.UnderlyingConn()
	c.markClosed()
	if drainRaw {
		// A close frame went out, but gorilla stopped parsing: read what the
		// peer still sends, for at most CloseGrace, so that closing does not
		// reset the connection and lose the close frame on its side.
		_ = raw.SetReadDeadline(time.Now().Add(c.opts.CloseGrace))
		_, _ = io.Copy(io.Discard, raw)
	}
	_ = raw.Close()
	c.writers.Wait()
}

// Stats are what a client did, for the line logged when it goes.
type Stats struct {
	FramesIn, FramesOut, BytesIn, BytesOut uint64
	// CloseCode is the code of the close frame the gateway sent, or if it
	// sent none, the one the peer sent; 0 when no close frame went either
	// way (1005: a close frame without a code).
	CloseCode int
}

// Stats are reported when a client goes away.
func (c *Conn) Stats() Stats {
	code := c.sentCode.Load()
	if code == 0 {
		code = c.peerCode.Load()
	}
	return Stats{c.framesIn.Load(), c.framesOut.Load(), c.bytesIn.Load(), c.bytesOut.Load(), int(code)}
}
