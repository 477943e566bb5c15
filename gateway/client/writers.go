package client

import (
	"runtime"
	"sync"
	"time"
)

// writers runs the turns of all clients on a few goroutines, one per
// shard at most, started when a shard gets work and ended when it has
// none: no goroutine waits while nothing is written.
var writers *pool

func init() { writers = newPool(min(runtime.GOMAXPROCS(0), 64)) }

type pool struct{ shards []shard }

type shard struct {
	mu      sync.Mutex
	ready   []*Conn
	later   []*Conn     // paced: their turn comes at the next tick
	tick    *time.Timer // calls tock
	ticking bool
	running bool
	run     func()   // s.loop, bound once: starting it allocates nothing
	_       [64]byte // keep shards off each other's cache line
}

func newPool(n int) *pool {
	p := &pool{shards: make([]shard, max(n, 1))}
	for i := range p.shards {
		p.shards[i].run = p.shards[i].loop
	}
	return p
}

// schedule gives the writer of c (its caller owns the queue) a turn.
func (p *pool) schedule(c *Conn) {
	s := &p.shards[c.shard]
	s.mu.Lock()
	s.ready = append(s.ready, c)
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.run()
	}
}

func (s *shard) loop() {
	var batch []*Conn
	for {
		s.mu.Lock()
		if len(s.ready) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		batch, s.ready = s.ready, batch[:0]
		s.mu.Unlock()
		now := time.Since(epoch)
		for i, c := range batch {
			if c.paced || c.lastWrite == 0 || now-c.lastWrite >= c.opts.WriteCoalesce {
				c.paced = false
				c.turn()
			} else {
				s.postpone(c)
			}
			batch[i] = nil
		}
	}
}

// epoch is where lastWrite counts from: a monotonic clock.
var epoch = time.Now()

// postpone gives c its turn at the shard's next tick, so that the frames
// that arrive meanwhile go out in the same write: a client is written to
// about once per WriteCoalesce at most. c's writer keeps the queue.
func (s *shard) postpone(c *Conn) {
	c.paced = true
	s.mu.Lock()
	s.later = append(s.later, c)
	if s.tick == nil {
		s.tick = time.AfterFunc(c.opts.WriteCoalesce/2, s.tock)
	} else if !s.ticking {
		s.tick.Reset(c.opts.WriteCoalesce / 2)
	}
	s.ticking = true
	s.mu.Unlock()
}

// tock moves the deferred clients to the run queue.
func (s *shard) tock() {
	s.mu.Lock()
	s.ready = append(s.ready, s.later...)
	clear(s.later)
	s.later = s.later[:0]
	s.ticking = false
	start := !s.running && len(s.ready) > 0
	s.running = s.running || start
	s.mu.Unlock()
	if start {
		go s.run()
	}
}
