package client

import (
	"time"

	"github.com/gorilla/websocket"
)

// startHeartbeat sets the control frame handlers, and arms the ping timer
// and the read deadline. The timer is a runtime timer, not a goroutine: an
// idle client still costs one goroutine, its reader. A peer that sends
// nothing (frames, pings or pongs) for PingInterval+PongTimeout is cut,
// which frees all it held.
func (c *Conn) startHeartbeat() {
	// Pings and pongs cost the gateway as frames do (a pong written for
	// each ping): they are charged to the same budget.
	c.ws.SetPongHandler(func(string) error { return c.control() })
	c.ws.SetPingHandler(func(data string) error { return c.pinged([]byte(data)) })
	if c.opts.PingInterval <= 0 {
		return
	}
	c.alive()
	c.mu.Lock()
	if !c.closed {
		c.pinger = time.AfterFunc(c.opts.PingInterval, c.ping)
	}
	c.mu.Unlock()
}

// pinged answers a ping from the peer with a pong, once charged.
func (c *Conn) pinged(data []byte) error {
	if err := c.control(); err != nil {
		return err
	}
	err := c.ws.WriteControl(websocket.PongMessage, data, time.Now().Add(c.opts.WriteTimeout))
	if err == websocket.ErrCloseSent {
		return nil
	}
	c.kick()
	return err
}

// control charges a ping or pong from the peer to its budget. Over it, the
// client is closed with 1008 and the reader ends at once: a flood of
// control frames is not parsed to its end.
func (c *Conn) control() error {
	if !c.limit.take(time.Now()) {
		c.opts.Metrics.RateLimited.Inc()
		c.Close(rateLimited)
		return errControlFlood
	}
	c.alive()
	return nil
}

// alive pushes the read deadline back. The reader alone calls it (the pong
// and ping handlers run inside its reads). Moving a deadline updates a
// runtime timer, so a busy client moves it at most every quarter of the
// pong timeout (at most once a second): the deadline is then a little
// earlier than interval + timeout after the last sign of life, never later.
func (c *Conn) alive() {
	if c.opts.PingInterval <= 0 || c.isClosing() {
		return
	}
	now := time.Now()
	if time.Duration(now.UnixNano()-c.extended) < min(c.opts.PongTimeout/4, time.Second) {
		return
	}
	c.extended = now.UnixNano()
	// The runtime's timer code is deep enough to grow the stack.
	c.deep = true
	_ = c.wire.Conn.SetReadDeadline(now.Add(c.opts.PingInterval + c.opts.PongTimeout))
}

// ping queues a ping behind any pending frames and re-arms itself, unless
// the client is closed: setClosed stops the timer under the same lock, so
// no ping timer outlives its connection.
func (c *Conn) ping() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.push(frame{typ: websocket.PingMessage})
	start := c.own()
	c.pinger.Reset(c.opts.PingInterval)
	c.mu.Unlock()
	if start {
		writers.schedule(c)
	}
}

// bucket is a token bucket: rate tokens a second, at most burst saved up,
// one token a frame. It judges the rate at which the client sent, not the
// rate at which the gateway read: while the gateway waits for a worker it
// does not read, and the frames the client sends meanwhile wait in the
// socket, to be read at once afterwards. So time spent waiting earns
// tokens without the burst cap (the frames read next may have been sent at
// any moment of the wait), and tokens above the cap drain at the same rate
// again once the gateway reads. Since it connected, the client still gets
// no more than burst + rate × time frames through.
//
// Only the reader uses it, so it needs no lock. A nil bucket allows all.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time // the time accounted for so far
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(max(burst, 1))
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

// read accounts the time up to now as time the gateway was reading: the
// client's pace was visible, so the burst caps the tokens saved up.
func (b *bucket) read(now time.Time) {
	if b == nil {
		return
	}
	d := b.rate * now.Sub(b.last).Seconds()
	b.last = now
	if d <= 0 {
		return
	}
	if b.tokens > b.burst {
		b.tokens = max(b.burst, b.tokens-d)
	} else {
		b.tokens = min(b.burst, b.tokens+d)
	}
}

// waited accounts the time up to now as time the gateway was not reading.
func (b *bucket) waited(now time.Time) {
	if b == nil {
		return
	}
	if d := b.rate * now.Sub(b.last).Seconds(); d > 0 {
		b.tokens += d
	}
	b.last = now
}

// take charges one frame read now; false if the budget is spent.
func (b *bucket) take(now time.Time) bool {
	if b == nil {
		return true
	}
	b.read(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
