package client

import (
	"time"

	"github.com/gorilla/websocket"
)

// startHeartbeat arms the ping timer and the read deadline. The timer is a
// runtime timer, not a goroutine: an idle client still costs one goroutine,
// its reader. A peer that sends nothing (frames, pings or pongs) for
// PingInterval+PongTimeout is cut, which frees all it held.
func (c *Conn) startHeartbeat() {
	if c.opts.PingInterval <= 0 {
		return
	}
	c.ws.SetPongHandler(func(string) error { c.alive(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.alive()
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	c.alive()
	// Store the timer before it can fire: ping re-arms it through c.pinger.
	c.pinger = time.AfterFunc(time.Hour, c.ping)
	c.pinger.Reset(c.opts.PingInterval)
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
	if now.Sub(c.extended) < min(c.opts.PongTimeout/4, time.Second) {
		return
	}
	c.extended = now
	_ = c.ws.UnderlyingConn().SetReadDeadline(now.Add(c.opts.PingInterval + c.opts.PongTimeout))
}

// ping queues a ping behind any pending frames and re-arms itself.
func (c *Conn) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.queue = append(c.queue, frame{typ: websocket.PingMessage})
	c.startWriter()
	c.pinger.Reset(c.opts.PingInterval)
}

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// Only the reader uses it, so it needs no lock.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(max(burst, 1))
	return &bucket{rate: rate, burst: b, tokens: b, last: time.Now()}
}

func (b *bucket) allow(now time.Time) bool {
	if b == nil {
		return true
	}
	b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
