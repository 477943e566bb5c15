// Package hub is the one place that knows who is connected to a gateway:
// connections by id, connections by user, and room memberships with their
// NATS subscriptions. A gateway holds a room's subscription only while it has
// a member there: taken when the first member joins, released when the last
// one leaves. Users work the same way: a user's connections are the members
// of the user's subject (contract.UserSubject), where pushes to that user
// arrive, subscribed while the gateway has a connection of that user.
//
// Everything is sharded by a hash of its key (room subject, connection id,
// user), each shard with its own lock held only for a map operation; a room's
// members have a lock of their own, held while its broadcast is fanned out.
// So no lock is shared by every room, join and leave are O(1), and a storm of
// joins into one room delays no other room's broadcasts.
package hub

import (
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/history"
	"github.com/wsgate/wsgate/shared/contract"
)

// Member is what a room, or a user's subject, delivers to.
type Member interface {
	// Receive queues a broadcast or push for the member's client, framed
	// once for all members (see Broadcast). It runs while the room's member
	// lock is held, so it must not block or call back into the hub.
	Receive(b *Broadcast)
}

// memberKey is what the hub keeps: a Member usable as a map key.
type memberKey interface {
	comparable
	Member
}

// Options size a hub.
type Options struct {
	// Dispatchers is how many goroutines fan room broadcasts out; a room
	// always maps to the same one, so its broadcasts keep their order.
	Dispatchers int
	// Queue is each dispatcher's queue, in messages: the pending limit of
	// the room subscriptions that feed it. A message that finds it full is
	// dropped by nats.go, counted in Dropped and logged with its room.
	Queue int
	// Dropped counts those messages; may be nil.
	Dropped prometheus.Counter
	// Log gets a line per room that dropped messages, at most one per
	// room every DropLogEvery.
	Log *slog.Logger
	// DropCheckEvery is how often subscriptions are checked for drops
	// (default 1 s); DropLogEvery bounds the log lines (default 10 s).
	DropCheckEvery, DropLogEvery time.Duration
	// Check vets a broadcast before any member gets it, once per message:
	// it returns the WebSocket message type, or false to drop it. Nil
	// drops text that is not UTF-8 and unknown frame types.
	Check Check
	// Fill reads what a room with history missed (see seq.go): the stored
	// messages of the room whose broadcasts arrive on subject, with
	// sequence numbers after after and, when before is not 0, before
	// before, in order. Nil: gaps are not filled.
	Fill func(subject string, after, before uint64) []*nats.Msg
	// CheckPush is Check for a push to a user: false when it carries no
	// frame (no Wsgw-Frame) or one no client may get; the push may still
	// close the user's connections (Wsgw-Close). Nil checks as Check does,
	// but a push without Wsgw-Frame has no frame.
	CheckPush Check
}

// Check vets a broadcast; see Options.Check.
type Check func(*nats.Msg) (typ int, ok bool)

// checkFrame is the default Check.
func checkFrame(msg *nats.Msg) (int, bool) {
	typ, drop := client.FrameType(client.BroadcastKind(msg), msg.Data, 0)
	return typ, drop == ""
}

// checkPush is the default CheckPush.
func checkPush(msg *nats.Msg) (int, bool) {
	if msg.Header.Get(contract.HeaderFrame) == "" {
		return 0, false
	}
	return checkFrame(msg)
}

// ErrClosed is returned by Join after Close.
var ErrClosed = errors.New("hub closed")

const shardCount = 64 // a power of two

// Hub holds the connections and rooms of one gateway. M is the gateway's
// connection type.
type Hub[M interface {
	comparable
	Member
}] struct {
	bus    Bus
	opts   Options
	seed   maphash.Seed
	shards [shardCount]shard[M]
	queues []chan *nats.Msg

	rooms   atomic.Int64
	users   atomic.Int64 // user subjects subscribed
	clients atomic.Int64
	filled  atomic.Int64 // room messages read from history (seq.go)
	closed  atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// shard holds the keys that hash to it. Its lock guards only the maps and
// is held only for a map operation, never while a member is called.
type shard[M memberKey] struct {
	mu    sync.RWMutex
	rooms map[string]*room[M] // by broadcast subject, or user subject
	conns map[string]M        // by connection id
}

// New starts the hub's dispatchers and drop checker over a NATS connection;
// Close stops them.
func New[M interface {
	comparable
	Member
}](nc *nats.Conn, opts Options) *Hub[M] {
	return newHub[M](natsBus{nc}, opts)
}

func newHub[M memberKey](bus Bus, opts Options) *Hub[M] {
	opts.Dispatchers = max(opts.Dispatchers, 1)
	opts.Queue = max(opts.Queue, 1)
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.DropCheckEvery <= 0 {
		opts.DropCheckEvery = time.Second
	}
	if opts.DropLogEvery <= 0 {
		opts.DropLogEvery = 10 * time.Second
	}
	if opts.Check == nil {
		opts.Check = checkFrame
	}
	if opts.CheckPush == nil {
		opts.CheckPush = checkPush
	}
	h := &Hub[M]{bus: bus, opts: opts, seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for i := range h.shards {
		s := &h.shards[i]
		s.rooms, s.conns = map[string]*room[M]{}, map[string]M{}
	}
	for i := 0; i < opts.Dispatchers; i++ {
		ch := make(chan *nats.Msg, opts.Queue)
		h.queues = append(h.queues, ch)
		h.wg.Add(1)
		go h.dispatch(ch)
	}
	h.wg.Add(1)
	go h.checkDrops()
	return h
}

func (h *Hub[M]) hash(key string) uint64 { return maphash.String(h.seed, key) }

func (h *Hub[M]) shard(key string) *shard[M] { return &h.shards[h.hash(key)&(shardCount-1)] }

// queue is the dispatcher of a room subject.
func (h *Hub[M]) queue(subject string) chan *nats.Msg {
	return h.queues[(h.hash(subject)>>32)%uint64(len(h.queues))]
}

func (h *Hub[M]) dispatch(ch chan *nats.Msg) {
	defer h.wg.Done()
	for msg := range ch {
		h.fanOut(msg)
	}
}

// fanOut checks a broadcast or push once and hands it to every local member
// of its room or user, who take its frames made once for all (Broadcast).
// It holds that room's member lock only: other rooms' broadcasts, joins and
// leaves go on meanwhile.
func (h *Hub[M]) fanOut(msg *nats.Msg) {
	r := h.lookup(msg.Subject)
	if r == nil || msg.Sub != r.sub {
		// The last member left while this was queued, or it came from a
		// subscription the room has since replaced.
		return
	}
	// Checked once for all members: a text frame that is not UTF-8 would
	// break every browser.
	if r.push {
		b := &Broadcast{Msg: msg}
		typ, ok := h.opts.CheckPush(msg)
		if ok {
			b.Type = typ
		} else if msg.Header.Get(contract.HeaderClose) == "" {
			return
		}
		r.send(b)
		return
	}
	if seq, last, ok := history.Seqs(msg.Header); ok {
		h.sequenced(r, msg, seq, last)
		return
	}
	h.deliver(r, msg, 0)
}

// deliver hands a room message to every local member.
func (h *Hub[M]) deliver(r *room[M], msg *nats.Msg, seq uint64) {
	typ, ok := h.opts.Check(msg)
	if !ok {
		return
	}
	r.send(&Broadcast{Msg: msg, Type: typ, Room: roomName(r.subject), Seq: seq})
}

// Close releases every room and stops the dispatchers.
func (h *Hub[M]) Close() {
	if !h.closed.CompareAndSwap(false, true) {
		return
	}
	close(h.stop)
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		var rooms []*room[M]
		for subject, r := range s.rooms {
			rooms = append(rooms, r)
			delete(s.rooms, subject)
		}
		s.mu.Unlock()
		for _, r := range rooms {
			r.shut()
			h.count(r).Add(-1)
			h.unsubscribe(r) // after this returns NATS sends nothing more to the queue
		}
	}
	for _, ch := range h.queues {
		close(ch)
	}
	h.wg.Wait()
}
