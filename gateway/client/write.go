package client

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Writing. Frames for a client wait in its queue (by reference: a room
// broadcast is shared by every member) until a writer frames them into the
// client's wire and writes them out in one system call. At most one writer
// owns a client's queue at a time.
//
// Writers are a few goroutines shared by every client (writers), not the
// goroutine that queues a frame: that one may be fanning a broadcast out
// to thousands and must never wait for one client's socket. A shared
// writer never waits either: it writes what the socket takes at once.
// When the socket takes less (the client reads slowly), the client gets a
// goroutine of its own that waits for it, at most WriteTimeout a batch,
// writes whatever was queued meanwhile, and ends once the queue is empty.
// Frames that arrive while a client waits for its turn go out with it.

// Send queues a data frame. data must not be modified afterwards: it may be
// shared by every member of a room. A client whose queue passes
// SendQueueBytes is closed; the frame is not queued.
func (c *Conn) Send(typ int, data []byte) { c.enqueue(frame{typ: int32(typ), data: data}, false) }

// SendPrepared queues a room broadcast, made once for every member.
func (c *Conn) SendPrepared(b *Broadcast) {
	c.enqueue(frame{typ: int32(b.typ), data: b.data, b: b}, false)
}

// enqueue queues a frame and makes sure a writer will write it: the
// caller itself when inline and no writer runs, else a shared writer. A
// frame always fits an empty queue, so that a client that reads is never a
// slow consumer for one frame larger than SendQueueBytes (frames from
// workers are at most MaxMessageBytes, see Outbound).
func (c *Conn) enqueue(f frame, inline bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.queued > 0 && c.queued+len(f.data) > c.opts.SendQueueBytes {
		queued := c.queued
		c.mu.Unlock()
		c.opts.Metrics.SlowConsumers.Inc()
		c.slowClosed.Store(true)
		c.opts.Log.Warn("client too slow; closing", "conn", c.ID, "route", c.routePath(), "room", c.ident.Room,
			"queued_bytes", queued)
		c.closeNow(wsclose.New(contract.CloseTryAgainLater, "slow consumer"))
		return
	}
	c.push(f)
	c.queued += len(f.data)
	start := c.own()
	c.mu.Unlock()
	switch {
	case start && inline:
		c.turn()
	case start:
		writers.schedule(c)
	}
}

// own makes the caller the writer if there is none and the socket is
// attached; the caller then runs or schedules a turn. Callers hold c.mu.
func (c *Conn) own() bool {
	if c.writing || c.ws == nil {
		return false
	}
	c.writing = true
	c.writers.Add(1)
	return true
}

// kick has what the reader put in the wire (control frames) written.
func (c *Conn) kick() {
	c.mu.Lock()
	start := c.own()
	c.mu.Unlock()
	if start {
		writers.schedule(c)
	}
}

// idle gives up the queue if nothing is left to write. Callers hold c.mu:
// the reader puts control frames in the wire, then takes c.mu to kick, so
// either this sees them or the kick sees no writer.
func (c *Conn) idle() bool {
	if c.queue != nil || c.wire.has() {
		return false
	}
	c.writing = false
	c.writers.Done()
	return true
}

// turn is one pass of a shared writer: it frames what is queued and writes
// what the socket takes at once. When the socket takes less, the client's
// own goroutine takes over; when more was queued meanwhile, the client
// goes to the back of the run queue.
func (c *Conn) turn() {
	q := c.takeQueue()
	rest := q.frames()
	for {
		rest = c.frameSome(rest)
		b := c.wire.take()
		if b == nil {
			break
		}
		n, err := c.wire.writeNow(*b)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			c.writeFailed(b)
			putQueue(q)
			return
		}
		if n < len(*b) {
			c.wire.untake(b, n)
			go c.slow(q, rest)
			return
		}
		c.wrote(b)
		if len(rest) == 0 {
			break
		}
	}
	putQueue(q)
	c.mu.Lock()
	if c.idle() {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	writers.schedule(c)
}

// slow is a client's own writer while its socket is full: it waits for
// the socket, then writes what was queued meanwhile, until nothing is.
// q is the batch a turn was writing, rest what it did not frame yet.
func (c *Conn) slow(q *queue, rest []frame) {
	for {
		for {
			b := c.wire.take()
			if b == nil && len(rest) == 0 {
				break
			}
			if b != nil {
				err := c.wire.writeAll(*b, time.Now().Add(c.opts.WriteTimeout))
				if err != nil {
					c.writeFailed(b)
					putQueue(q)
					return
				}
				c.wrote(b)
			}
			rest = c.frameSome(rest)
		}
		putQueue(q)
		c.mu.Lock()
		if c.idle() {
			c.mu.Unlock()
			// Shared writers must not meet a deadline that has passed.
			_ = c.wire.Conn.SetWriteDeadline(time.Time{})
			return
		}
		c.mu.Unlock()
		q = c.takeQueue()
		rest = q.frames()
	}
}

// takeQueue takes what is queued, for the writer; nil if nothing is.
func (c *Conn) takeQueue() *queue {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}

// push queues f. Callers hold c.mu.
func (c *Conn) push(f frame) {
	if c.queue == nil {
		c.queue = queuePool.Get().(*queue)
	}
	*c.queue = append(*c.queue, f)
}

// dropQueue forgets what is queued. Callers hold c.mu.
func (c *Conn) dropQueue() {
	putQueue(c.queue)
	c.queue, c.queued = nil, 0
}

// frameSome frames the frames of q into the wire, up to maxBatch payload
// bytes (at least one frame), and returns those left.
func (c *Conn) frameSome(q []frame) []frame {
	frames, size := 0, 0
	i := 0
	for ; i < len(q) && size < maxBatch; i++ {
		f := &q[i]
		switch {
		case f.typ == websocket.CloseMessage:
			_ = c.sendClose(f.data, int(f.code), time.Now().Add(c.opts.WriteTimeout))
			c.closeFramed = true
			continue
		case f.typ == websocket.PingMessage:
			_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout))
			continue
		case c.opts.Compression && f.b != nil:
			pm, err := f.b.prepared()
			if err != nil || c.ws.WritePreparedMessage(pm) != nil {
				continue
			}
		case c.opts.Compression:
			if c.ws.WriteMessage(int(f.typ), f.data) != nil {
				continue
			}
		default:
			if !c.wire.frame(int(f.typ), f.data) {
				continue
			}
		}
		frames++
		size += len(f.data)
	}
	clear(q[:i]) // the payloads may go
	if frames > 0 {
		c.framesOut.Add(uint64(frames))
		c.opts.Metrics.FramesOut.Add(float64(frames))
	}
	c.framed += int32(size)
	return q[i:]
}

// wrote accounts for a buffer that went out whole: what was framed before
// it left the queue's bound.
func (c *Conn) wrote(b *[]byte) {
	free(b)
	c.lastWrite = time.Since(epoch)
	c.writes.Add(1)
	c.opts.Metrics.SocketWrites.Inc()
	size := int(c.framed)
	c.framed = 0
	if c.closeFramed && !c.graced {
		// The close frame is out: give the peer CloseGrace to answer, then
		// the reader ends.
		c.graced = true
		_ = c.wire.Conn.SetReadDeadline(time.Now().Add(c.opts.CloseGrace))
	}
	if size == 0 {
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.queued -= size
	}
	c.mu.Unlock()
	c.bytesOut.Add(uint64(size))
	c.opts.Metrics.BytesOut.Add(float64(size))
}

// writeFailed ends a client whose socket failed: the peer is gone or not
// reading. The reader ends too.
func (c *Conn) writeFailed(b *[]byte) {
	free(b)
	c.wire.fail()
	c.abort()
	c.mu.Lock()
	c.dropQueue()
	c.writing = false
	c.writers.Done()
	c.mu.Unlock()
}

// Queues are pooled: a client that receives nothing holds none.
var queuePool = sync.Pool{New: func() any { return new(queue) }}

type queue []frame

func (q *queue) frames() []frame {
	if q == nil {
		return nil
	}
	return *q
}

func putQueue(q *queue) {
	if q == nil || cap(*q) > 1024 {
		return
	}
	clear(*q)
	*q = (*q)[:0]
	queuePool.Put(q)
}
