// Package events is the gateway's outbox to JetStream: lifecycle events
// (stream WSGW_EVENTS) and the presence bucket's keys (wsgw_presence) leave
// the gateway through it, in the order they were added, each at least
// once. A message that JetStream did not acknowledge (NATS away, the stream
// not created yet, a timeout) is sent again, with the same Nats-Msg-Id, so
// JetStream drops the copy when the first did arrive. Nothing waits for it:
// Add never blocks, and the queue is bounded (past it, messages are
// dropped and counted).
package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Sink publishes a batch to JetStream and returns, for each message, nil
// once its publish was acknowledged, or why not.
type Sink interface {
	Publish(ctx context.Context, batch []*nats.Msg) []error
}

// Options tune an outbox.
type Options struct {
	Queue      int           // messages that may wait; past it Add drops (default 1<<20)
	Batch      int           // messages in flight at once (default 256)
	MinBackoff time.Duration // first wait after a failed batch (default 50ms)
	MaxBackoff time.Duration // longest wait (default 2s)
	Log        *slog.Logger
	Dropped    func(n int) // counts dropped messages; may be nil
	Retried    func()      // counts batches sent again; may be nil
	// Ready, when set, holds every message until it is closed: the
	// gateway's heartbeat key must exist before its first presence record,
	// or a presence worker would judge the records by its own TTL.
	Ready <-chan struct{}
}

// Outbox sends messages in order, pipelined: a batch is published at once
// and the next one starts when every message of it was acknowledged. A
// batch never holds two messages for the same subject and key (see Msg),
// so a failed batch can be sent again whole: what did arrive is a
// duplicate JetStream drops, and no key's writes can swap places.
type Outbox struct {
	sink    Sink
	opts    Options
	q       *fifo
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	quit    chan struct{} // closed when Close gives up
	qonce   sync.Once
	pending atomic.Int64
	warned  atomic.Int64 // when a drop was last logged, Unix ns
	held    *nats.Msg    // taken from the queue but not fitting the last batch; run only
}

// New starts an outbox's publishing goroutine; Close stops it.
func New(sink Sink, opts Options) *Outbox {
	if opts.Queue <= 0 {
		opts.Queue = 1 << 20
	}
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(2*time.Second, opts.MinBackoff)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{sink: sink, opts: opts, q: newFIFO(opts.Queue), stop: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
	go o.run()
	return o
}

// Add queues msgs, which must carry a Nats-Msg-Id, in this order. It never
// blocks: when the queue is full the rest are dropped, counted and logged,
// and Add returns false.
func (o *Outbox) Add(msgs ...*nats.Msg) bool {
	took := o.q.push(msgs)
	o.pending.Add(int64(took))
	if took == len(msgs) {
		return true
	}
	n := len(msgs) - took
	if o.opts.Dropped != nil {
		o.opts.Dropped(n)
	}
	// Once a second at most: a full queue drops at the rate records come.
	now, last := time.Now().UnixNano(), o.warned.Load()
	if now-last >= int64(time.Second) && o.warned.CompareAndSwap(last, now) {
		o.opts.Log.Warn("events outbox full; dropped", "messages", n, "subject", msgs[took].Subject, "queue", o.opts.Queue)
	}
	return false
}

// Pending is how many messages were added and not acknowledged yet.
func (o *Outbox) Pending() int { return int(o.pending.Load()) }

// Close publishes what is queued until ctx ends; what is left then is
// dropped (and counted). It returns once the outbox stopped.
func (o *Outbox) Close(ctx context.Context) {
	o.once.Do(func() { close(o.stop) })
	select {
	case <-o.done:
	case <-ctx.Done():
		o.qonce.Do(func() { close(o.quit) })
		<-o.done
	}
}

func (o *Outbox) run() {
	defer close(o.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if o.opts.Ready != nil {
		select {
		case <-o.opts.Ready:
		case <-o.stop:
			// Closing before the heartbeat was ever written: nothing can
			// go (as for a batch JetStream refuses while closing).
			o.drop(nil)
			return
		}
	}
	for {
		batch := o.next()
		if batch == nil {
			return
		}
		if !o.send(ctx, batch) {
			o.drop(batch)
			return
		}
	}
}

// drop counts and logs what is left when the outbox gives up: batch, the
// queue and the message held back.
func (o *Outbox) drop(batch []*nats.Msg) {
	n := len(batch) + o.q.len()
	if o.held != nil {
		n++
	}
	o.pending.Add(-int64(n))
	if o.opts.Dropped != nil {
		o.opts.Dropped(n)
	}
	o.opts.Log.Warn("events outbox closed with messages not acknowledged", "messages", n)
}

// next takes the next batch: at least one message (waiting for it), then
// what is queued up to Batch messages, stopping before a message whose
// subject (and key: a presence key is the subject) is already in it. nil
// once stopped with nothing queued.
func (o *Outbox) next() []*nats.Msg {
	first := o.held
	o.held = nil
	for first == nil {
		if first = o.q.pop(); first != nil {
			break
		}
		select {
		case <-o.q.ready:
		case <-o.stop:
			if first = o.q.pop(); first == nil {
				return nil
			}
		}
	}
	batch := []*nats.Msg{first}
	seen := map[string]struct{}{first.Subject: {}}
	for len(batch) < o.opts.Batch {
		m := o.q.pop()
		if m == nil {
			return batch
		}
		if keyed(m) {
			if _, dup := seen[m.Subject]; dup {
				o.held = m
				return batch
			}
			seen[m.Subject] = struct{}{}
		}
		batch = append(batch, m)
	}
	return batch
}

// keyed reports a message whose subject is a key, whose writes must keep
// their order: every one but the events (each its own).
func keyed(m *nats.Msg) bool { return len(m.Subject) > 4 && m.Subject[:4] == "$KV." }

// send publishes batch until every message of it was acknowledged (true),
// or Close gave up (false).
func (o *Outbox) send(ctx context.Context, batch []*nats.Msg) bool {
	wait := o.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		errs := o.sink.Publish(ctx, batch)
		var failed error
		for _, err := range errs {
			if err != nil {
				failed = err
				break
			}
		}
		if failed == nil {
			o.pending.Add(-int64(len(batch)))
			return true
		}
		if attempt == 0 || attempt%20 == 0 {
			o.opts.Log.Warn("events not acknowledged; sending again", "messages", len(batch), "err", failed)
		}
		select {
		case <-o.stop:
			// Closing: what JetStream does not take now is dropped. A
			// presence worker emits the gateway's leaves and disconnects
			// itself once its heartbeat stops (reason gateway_lost).
			return false
		default:
		}
		if o.opts.Retried != nil {
			o.opts.Retried()
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-o.quit:
			t.Stop()
			return false
		}
		wait = min(2*wait, o.opts.MaxBackoff)
	}
}
