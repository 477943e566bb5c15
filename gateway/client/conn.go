// Package client is one WebSocket client of the gateway: a reader goroutine
// that forwards frames to NATS one at a time,
// and a bounded outbound queue with a single writer at a time: a goroutine
// that exists only while there is something to write, or the reader itself
// when it writes the reply it was waiting for. An idle client costs one
// goroutine.
package client

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/metrics"
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
	RatePerSecond   float64       // frames a client may send per second; 0 disables
	RateBurst       int           // frames it may send at once above the rate
	Metrics         *metrics.Gateway
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
	inbox       string      // the gateway's inbox subject
	replyPrefix string      // <inbox>.<id>. ; the frame's seq follows (built at the first frame)
	hdr         nats.Header // identity headers, built at the first frame and reused for every one
	seq         uint64      // reader only
	listenOnly  bool        // set before Serve: frames close the socket

	awaiting atomic.Uint64 // seq of the frame waiting for its reply, 0 if none
	wake     chan struct{} // reply or close, to the waiting reader; made at the first frame
	closing  atomic.Bool
	once     sync.Once
	pinger   *time.Timer
	extended time.Time // when alive last moved the read deadline; reader only

	mu      sync.Mutex
	queue   []frame
	queued  int
	writing bool
	closed  bool

	// Stats, for the close log line.
	framesIn, framesOut atomic.Uint64
	bytesIn, bytesOut   atomic.Uint64
	closeCode           atomic.Int32
}

type frame struct {
	typ  int
	data []byte
	pm   *websocket.PreparedMessage // a room broadcast, framed once for all members
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

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Serve reads frames until the socket ends; it is the client's goroutine. Frames go to NATS one at a time:
// the next is sent only after the worker answered the previous one (or the
// worker timeout passed), so a client's frames are handled in the order sent
// even when several worker instances share the work.
func (c *Conn) Serve() {
	c.ws.SetReadLimit(c.opts.MaxMessageBytes)
	c.startHeartbeat()
	limit := newBucket(c.opts.RatePerSecond, c.opts.RateBurst)
	var timer *time.Timer // the worker timeout, made at the first frame
	drainRaw := false
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode.CompareAndSwap(0, int32(ce.Code))
			}
			drainRaw = errors.Is(err, websocket.ErrReadLimit)
			if drainRaw {
				c.closeCode.CompareAndSwap(0, contract.CloseMessageTooBig)
			}
			break
		}
		if c.isClosing() {
			// A close frame was sent: discard until the peer's close arrives.
			if _, err := io.Copy(io.Discard, r); err != nil {
				drainRaw = errors.Is(err, websocket.ErrReadLimit)
				break
			}
			continue
		}
		c.alive()
		if c.listenOnly {
			// Refused before reading it: nobody ever receives the frame.
			c.Close(contract.ClosePolicyViolation, "not allowed to publish")
			continue
		}
		if !limit.allow(time.Now()) {
			c.opts.Metrics.RateLimited.Inc()
			c.Close(contract.ClosePolicyViolation, "rate limit exceeded")
			continue
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		// Count decompressed bytes: the limit holds whatever the wire size.
		_, err = buf.ReadFrom(io.LimitReader(r, c.opts.MaxMessageBytes+1))
		switch {
		case err != nil:
			bufPool.Put(buf)
			drainRaw = errors.Is(err, websocket.ErrReadLimit)
			if drainRaw {
				c.closeCode.Store(contract.CloseMessageTooBig)
			}
			c.finish(drainRaw)
			return
		case int64(buf.Len()) > c.opts.MaxMessageBytes:
			c.Close(contract.CloseMessageTooBig, "message too big")
		case typ == websocket.TextMessage && !utf8.Valid(buf.Bytes()):
			c.Close(contract.CloseInvalidPayload, "text frame is not valid UTF-8")
		default:
			c.framesIn.Add(1)
			c.bytesIn.Add(uint64(buf.Len()))
			c.opts.Metrics.FramesIn.Inc()
			c.opts.Metrics.BytesIn.Add(float64(buf.Len()))
			if timer == nil {
				timer = time.NewTimer(time.Hour)
				timer.Stop()
			}
			c.forward(typ, buf.Bytes(), timer)
			// The peer was alive when it sent the frame; do not let the
			// wait for its reply count as silence.
			c.alive()
		}
		if buf.Cap() <= 64<<10 {
			bufPool.Put(buf)
		}
	}
	c.finish(drainRaw)
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
		c.Close(contract.CloseTryAgainLater, "backend unavailable")
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
	if msg.Header.Get("Status") == "503" {
		// NATS "no responders": no worker subscribes to this subject.
		c.opts.Metrics.NoResponders.Inc()
		c.Close(contract.CloseTryAgainLater, "no worker available")
	} else if msg.Header.Get(contract.HeaderBroadcast) != "" && c.ident.Broadcast != "" {
		c.publishBroadcast(msg)
	} else {
		// The reader, waiting for this reply, writes it (see drain): no
		// writer goroutine is started for the common request/reply case.
		c.deliver(msg, false)
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
func (c *Conn) publishBroadcast(reply *nats.Msg) {
	frame := contract.FrameText
	if reply.Header.Get(contract.HeaderFrame) == contract.FrameBinary {
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

// Deliver writes a worker's message to the client: a frame if it has
// Wsgw-Frame, then a close if it has Wsgw-Close.
func (c *Conn) Deliver(msg *nats.Msg) { c.deliver(msg, true) }

func (c *Conn) deliver(msg *nats.Msg, start bool) {
	switch msg.Header.Get(contract.HeaderFrame) {
	case contract.FrameText:
		c.send(websocket.TextMessage, msg.Data, start)
	case contract.FrameBinary:
		c.send(websocket.BinaryMessage, msg.Data, start)
	}
	if v := msg.Header.Get(contract.HeaderClose); v != "" {
		code, err := strconv.Atoi(v)
		if err != nil || code < 1000 || code > 4999 {
			code = contract.CloseNormal
		}
		c.Close(code, string(msg.Data))
	}
}

// Send queues a data frame. data must not be modified afterwards: it may be
// shared by every member of a room. A client whose queue passes
// SendQueueBytes is closed; the frame is not queued.
func (c *Conn) Send(typ int, data []byte) { c.send(typ, data, true) }

// SendPrepared queues a room broadcast framed once for every member; data
// is its payload, for accounting.
func (c *Conn) SendPrepared(pm *websocket.PreparedMessage, data []byte) {
	c.enqueue(frame{pm: pm, data: data}, true)
}

// send queues a frame; start runs a writer goroutine for it unless the
// caller knows the reader will drain the queue itself.
func (c *Conn) send(typ int, data []byte, start bool) {
	c.enqueue(frame{typ: typ, data: data}, start)
}

func (c *Conn) enqueue(f frame, start bool) {
	data := f.data
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.queued+len(data) > c.opts.SendQueueBytes {
		c.mu.Unlock()
		c.opts.Metrics.SlowConsumers.Inc()
		c.closeNow(contract.CloseTryAgainLater, "slow consumer")
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
		go c.write()
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
				err = c.ws.WriteControl(f.typ, f.data, deadline)
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
func (c *Conn) Close(code int, reason string) { c.close(code, reason, true) }

// closeNow drops queued frames and closes: for a client that is not reading.
func (c *Conn) closeNow(code int, reason string) { c.close(code, reason, false) }

func (c *Conn) close(code int, reason string, flush bool) {
	if len(reason) > 123 { // the most a close frame holds
		reason = reason[:123]
	}
	c.once.Do(func() {
		c.closeCode.Store(int32(code))
		c.mu.Lock()
		c.closed = true
		if !flush {
			c.queue, c.queued = nil, 0
		}
		c.queue = append(c.queue, frame{typ: websocket.CloseMessage, data: websocket.FormatCloseMessage(code, reason)})
		c.startWriter()
		c.signalClosing()
		c.mu.Unlock()
	})
}

// markClosed stops all writing but what the writer already holds, without
// a close frame. Only the first close of any kind has an effect.
func (c *Conn) markClosed() {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.queue, c.queued = nil, 0
		c.signalClosing()
		c.mu.Unlock()
	})
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

// signalClosing marks the client closing and wakes a reader waiting for a
// reply. Callers hold c.mu.
func (c *Conn) signalClosing() {
	c.closing.Store(true)
	if c.wake != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// finish runs when the reader stops: the socket is closed for good.
func (c *Conn) finish(drainRaw bool) {
	raw := c.ws.UnderlyingConn()
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.markClosed()
	if drainRaw {
		// gorilla already sent 1009 and stops parsing; read what the peer
		// still sends so closing does not reset the connection and lose
		// the close frame on its side.
		_ = raw.SetReadDeadline(time.Now().Add(c.opts.CloseGrace))
		_, _ = io.Copy(io.Discard, raw)
	}
	_ = raw.Close()
}

// Stats are what a client did, for the line logged when it goes.
type Stats struct {
	FramesIn, FramesOut, BytesIn, BytesOut uint64
	CloseCode                              int // 0: no close frame either way
}

// Stats are reported when a client goes away.
func (c *Conn) Stats() Stats {
	return Stats{c.framesIn.Load(), c.framesOut.Load(), c.bytesIn.Load(), c.bytesOut.Load(), int(c.closeCode.Load())}
}
