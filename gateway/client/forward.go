package client

import (
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/inflight"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Publisher is the part of *nats.Conn a client needs. PublishMsg must not
// keep the message or anything it points to after it returns: the client
// reuses them (nats.go copies a message into its buffer).
type Publisher interface {
	PublishMsg(*nats.Msg) error
}

// pipe is what a client that publishes keeps for its frames, made at its
// first frame and dropped when it goes quiet (rest), so that an idle client
// never pays for it.
type pipe struct {
	win   *inflight.Window[*nats.Msg]
	timer *time.Timer // calls Expire for the oldest frame in flight
	// Reader only: the message every frame goes out in, its identity
	// headers (only Wsgw-Frame changes) and its reply subject, whose
	// sequence number is rewritten in place.
	msg   nats.Msg
	reply []byte
	base  int // len of <inbox>.<id>.
	// Releases only (one at a time, see inflight): the broadcast message
	// and its headers, built at the first broadcast.
	bcast nats.Msg
	// Frames dropped after a worker timeout since the last log line.
	timeouts atomic.Int64
}

// Wsgw-Frame values, shared by every header map: never modified.
var (
	kindText   = []string{contract.FrameText}
	kindBinary = []string{contract.FrameBinary}
)

// FrameKind is the Wsgw-Frame header value of a WebSocket message type,
// shared by every header map: never modify it.
func FrameKind(typ int) []string {
	if typ == websocket.BinaryMessage {
		return kindBinary
	}
	return kindText
}

// IdentityHeader is what the gateway vouches for on every frame and
// broadcast of a connection: Wsgw-Conn, Wsgw-Gateway, and Wsgw-User and
// Wsgw-Room when set. Raw and /ws/rooms members build theirs here, so a
// worker sees the same headers from both.
func IdentityHeader(conn, gateway, user, room string) nats.Header {
	hdr := nats.Header{contract.HeaderConn: {conn}, contract.HeaderGateway: {gateway}}
	if user != "" {
		hdr[contract.HeaderUser] = []string{user}
	}
	if room != "" {
		hdr[contract.HeaderRoom] = []string{room}
	}
	return hdr
}

func (c *Conn) newPipe() *pipe {
	p := &pipe{}
	size := route.DefaultInFlight
	if c.route != nil && c.route.InFlight > 0 {
		size = c.route.InFlight
	}
	p.win = inflight.NewFrom(c.nextSeq, size, c.opts.WorkerTimeout, c.released)
	p.timer = time.AfterFunc(time.Hour, func() {
		if wait, again := p.win.Expire(time.Now()); again {
			p.timer.Reset(wait)
		}
	})
	p.timer.Stop()
	p.msg = nats.Msg{Subject: c.subject, Header: IdentityHeader(c.ID, c.ident.Gateway, c.ident.User, c.ident.Room)}
	p.reply = append(append(append(make([]byte, 0, len(c.opts.Inbox)+len(c.ID)+22), c.opts.Inbox...), '.'), c.ID...)
	p.reply = append(p.reply, '.')
	p.base = len(p.reply)
	return p
}

func (p *pipe) close() {
	p.win.Close()
	p.timer.Stop()
}

// rest drops the pipe of a client with no frame in flight (the reader
// went quiet, see await): an idle client holds none. Its next frame makes
// a new one, numbering on. Reader only.
func (c *Conn) rest() {
	p := c.pipe.Load()
	if p == nil {
		return
	}
	next, idle := p.win.Idle()
	if !idle {
		return
	}
	// Nothing is in flight or being released, and only the reader sends:
	// after the store, late answers find the old window closed, or no
	// window, and are dropped.
	c.pipe.Store(nil)
	p.close()
	c.nextSeq = next
}

// forward publishes one frame to NATS; its answer comes to Reply. The
// reader waited for room in the window before reading the frame.
func (c *Conn) forward(typ int, data []byte) {
	p := c.pipe.Load()
	if p == nil {
		// Built here, not at connect: an idle client never pays for it.
		p = c.newPipe()
		c.pipe.Store(p)
		if c.isClosing() {
			p.close() // setClosed ran before the store and did not see it
		}
	}
	seq, arm, ok := p.win.Take(time.Now())
	if !ok {
		return // closing
	}
	p.msg.Header[contract.HeaderFrame] = FrameKind(typ)
	p.reply = strconv.AppendUint(p.reply[:p.base], seq, 10)
	// The subject string shares the buffer, rewritten at the next frame:
	// PublishMsg copies it out before it returns.
	p.msg.Reply = unsafe.String(unsafe.SliceData(p.reply), len(p.reply))
	p.msg.Data = data
	// PublishMsg copies data into the connection's buffer, so the caller
	// may reuse it as soon as this returns.
	err := c.opts.Publisher.PublishMsg(&p.msg)
	p.msg.Data, p.msg.Reply = nil, ""
	if err != nil {
		c.Close(wsclose.New(contract.CloseTryAgainLater, "backend unavailable"))
		return
	}
	if arm {
		p.timer.Reset(c.opts.WorkerTimeout)
	}
}

// Reply takes the NATS reply to frame seq. It is released (see released)
// once every earlier frame is answered or dropped. A reply for a frame
// that is not in flight (it timed out, or never was) is dropped.
func (c *Conn) Reply(seq uint64, msg *nats.Msg) {
	p := c.pipe.Load()
	if p == nil {
		return
	}
	if sent, ok := p.win.Resolve(seq, msg); ok {
		c.opts.Metrics.WorkerLatency.Observe(time.Since(sent).Seconds())
	}
}

// released acts on a frame's outcome, in the order the frames were sent:
// answers reach the client and broadcasts reach the room in that order.
func (c *Conn) released(_ uint64, msg *nats.Msg, o inflight.Outcome) {
	switch {
	case o == inflight.TimedOut:
		// The frame is lost (its worker died with it in flight, or NATS
		// dropped it). Later frames still go through.
		c.opts.Metrics.WorkerTimeouts.Inc()
		c.timedOut()
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
		c.deliver(msg, "reply")
	}
}

// timedOut logs dropped frames with their route, at most once a second per
// gateway with the count since (a dead worker must not flood the log).
func (c *Conn) timedOut() {
	p := c.pipe.Load()
	n := p.timeouts.Add(1)
	if c.opts.Outbound.sometimes() {
		p.timeouts.Add(-n)
		c.opts.Log.Warn("worker did not answer in time; frame dropped", "conn", c.ID, "route", c.routePath(),
			"subject", c.subject, "dropped", n)
	}
}

func (c *Conn) routePath() string {
	if c.route == nil {
		return ""
	}
	return c.route.Path
}

// publishBroadcast publishes a room worker's reply to the client's room
// (or stores it in the room's history when the worker asks to),
// with the identity only the gateway vouches for. Releases come one at a
// time in the order sent, on the gateway's one NATS connection, so one
// sender's broadcasts reach every member in order, on any NATS server.
// A body no member could take is not published.
func (c *Conn) publishBroadcast(reply *nats.Msg) {
	typ, ok := c.opts.Outbound.Broadcast(reply)
	if !ok {
		return
	}
	p := c.pipe.Load()
	m := &p.bcast
	if m.Header == nil {
		m.Header = IdentityHeader(c.ID, c.ident.Gateway, c.ident.User, c.ident.Room)
	}
	// With history on, the stream stores it and republishes it to the
	// room. A raw client gets no acknowledgement: nobody waits for it.
	m.Subject = c.ident.Broadcast
	if reply.Header.Get(contract.HeaderStore) != "" && c.ident.Store != "" {
		m.Subject = c.ident.Store
	}
	m.Header[contract.HeaderFrame] = FrameKind(typ)
	m.Data = reply.Data
	err := c.opts.Publisher.PublishMsg(m)
	m.Data = nil
	if err != nil {
		c.opts.Log.Warn("broadcast not published", "conn", c.ID, "route", c.routePath(), "err", err)
	}
}

// Deliver writes a worker's push to the client: a frame if it has
// Wsgw-Frame (and passes the checks of Outbound), then a close if it has
// Wsgw-Close.
func (c *Conn) Deliver(msg *nats.Msg) { c.deliver(msg, "push") }

// deliver queues a reply or push and, when no writer runs, writes it on
// the calling goroutine (the gateway's inbox): that write never waits for
// the socket, and it saves handing the frame to another goroutine.
func (c *Conn) deliver(msg *nats.Msg, what string) {
	if typ, ok := c.opts.Outbound.Frame(msg, what); ok {
		c.enqueue(frame{typ: int32(typ), data: msg.Data}, true)
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
