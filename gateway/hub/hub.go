// Package hub tracks which local clients are in which room. A gateway holds a
// room's NATS subscription only while it has a member there: taken when the
// first member joins, released when the last one leaves.
package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/shared/contract"
)

// Member is what a room delivers to.
type Member interface {
	// SendPrepared queues a broadcast made once for all members.
	SendPrepared(b *client.Broadcast)
}

// Hub is the set of rooms with local members.
type Hub struct {
	nc *nats.Conn

	mu    sync.Mutex
	rooms map[string]*room // by broadcast subject

	// Room subscriptions deliver into a few shared channels instead of one
	// goroutine per subscription; a room always maps to the same shard, so
	// its broadcasts keep their order.
	shards []chan *nats.Msg
	seed   maphash.Seed
	wg     sync.WaitGroup
	check  Check
}

// Check vets a broadcast before any member gets it, once per message:
// it returns the WebSocket message type, or false to drop it.
type Check func(*nats.Msg) (typ int, ok bool)

type room struct {
	subject string
	sub     *nats.Subscription
	members map[Member]struct{}
	view    atomic.Pointer[[]Member] // copy-on-write, read by fan-out
	next    atomic.Uint32            // where the next fan-out starts
	ready   chan struct{}            // closed once the server has the subscription
	err     error                    // set before ready is closed
}

// New starts shards dispatch goroutines; Close stops them. check vets each
// broadcast; nil drops text that is not UTF-8 and unknown frame types.
func New(nc *nats.Conn, shards, shardQueue int, check Check) *Hub {
	if check == nil {
		check = func(msg *nats.Msg) (int, bool) {
			kind := msg.Header.Get(contract.HeaderFrame)
			if kind == "" {
				kind = contract.FrameText
			}
			typ, drop := client.FrameType(kind, msg.Data, 0)
			return typ, drop == ""
		}
	}
	h := &Hub{nc: nc, rooms: map[string]*room{}, seed: maphash.MakeSeed(), check: check}
	for i := 0; i < shards; i++ {
		ch := make(chan *nats.Msg, shardQueue)
		h.shards = append(h.shards, ch)
		h.wg.Add(1)
		go h.dispatch(ch)
	}
	return h
}

// Join adds m to the room whose broadcasts arrive on subject. It returns once
// NATS has the room's subscription, so the first broadcast after Join
// reaches m.
func (h *Hub) Join(subject string, m Member, timeout time.Duration) error {
	h.mu.Lock()
	r := h.rooms[subject]
	created := r == nil
	if created {
		r = &room{subject: subject, members: map[Member]struct{}{}, ready: make(chan struct{})}
		shard := h.shards[maphash.String(h.seed, subject)%uint64(len(h.shards))]
		sub, err := h.nc.ChanSubscribe(subject, shard)
		if err != nil {
			h.mu.Unlock()
			return err
		}
		r.sub = sub
		h.rooms[subject] = r
	}
	r.members[m] = struct{}{}
	r.publish()
	h.mu.Unlock()

	if created {
		// A round trip to the server proves it registered the subscription.
		r.err = h.nc.FlushTimeout(timeout)
		close(r.ready)
	}
	select {
	case <-r.ready:
	case <-time.After(timeout):
		h.Leave(subject, m)
		return nats.ErrTimeout
	}
	if r.err != nil {
		h.Leave(subject, m)
		return r.err
	}
	return nil
}

// Leave removes m; the last member out releases the subscription.
func (h *Hub) Leave(subject string, m Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[subject]
	if r == nil {
		return
	}
	if _, ok := r.members[m]; !ok {
		return
	}
	delete(r.members, m)
	if len(r.members) > 0 {
		r.publish()
		return
	}
	delete(h.rooms, subject)
	r.view.Store(nil)
	_ = r.sub.Unsubscribe()
}

// publish refreshes the fan-out view. Callers hold h.mu.
func (r *room) publish() {
	v := make([]Member, 0, len(r.members))
	for m := range r.members {
		v = append(v, m)
	}
	r.view.Store(&v)
}

// Members returns how many local members a room has, and whether the
// gateway holds its subscription.
func (h *Hub) Members(subject string) (n int, subscribed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[subject]
	if r == nil {
		return 0, false
	}
	return len(r.members), r.sub.IsValid()
}

// Rooms is the number of rooms with local members.
func (h *Hub) Rooms() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms)
}

func (h *Hub) dispatch(ch chan *nats.Msg) {
	defer h.wg.Done()
	for msg := range ch {
		h.fanOut(msg)
	}
}

func (h *Hub) fanOut(msg *nats.Msg) {
	h.mu.Lock()
	r := h.rooms[msg.Subject]
	h.mu.Unlock()
	if r == nil {
		return // the last member left while this was queued
	}
	v := r.view.Load()
	if v == nil {
		return
	}
	typ, ok := h.check(msg) // once for all members: a text frame that is not UTF-8 would break every browser
	if !ok {
		return
	}
	// Made once, written to every member.
	b := client.NewBroadcast(typ, msg.Data)
	// Start at a rotating member, so that the same ones are not always
	// served last in a big room.
	members := *v
	start := int(r.next.Add(1) % uint32(len(members)))
	for i := range members {
		members[(start+i)%len(members)].SendPrepared(b)
	}
}

// Close releases every room and stops the dispatchers.
func (h *Hub) Close() {
	h.mu.Lock()
	for subject, r := range h.rooms {
		_ = r.sub.Unsubscribe() // after this returns NATS sends nothing more to the shard
		delete(h.rooms, subject)
	}
	h.mu.Unlock()
	for _, ch := range h.shards {
		close(ch)
	}
	h.wg.Wait()
}
