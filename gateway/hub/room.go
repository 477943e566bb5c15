package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// room is one room with local members. Its subscription is taken when it is
// made and released when it closes; a closed room is never reopened, a new
// one replaces it.
type room[M memberKey] struct {
	subject string
	push    bool // a user's subject: its members are the user's connections
	sub     *nats.Subscription
	ready   chan struct{} // closed once the server confirmed the subscription, or it failed
	err     error         // set before ready is closed
	closed  atomic.Bool   // set under mu: emptied or failed, nobody may join
	seq     uint64        // the last history sequence delivered; dispatcher only (seq.go)

	mu      sync.Mutex
	members []M         // in fan-out order
	index   map[M]int32 // position in members, for O(1) removal
	next    uint32      // where the next fan-out starts

	// Drop accounting has its own lock: checking for drops never waits
	// for a fan-out.
	dmu   sync.Mutex
	drops dropState
}

func newRoom[M memberKey](subject string, push bool, sub *nats.Subscription, first M) *room[M] {
	return &room[M]{
		subject: subject, push: push, sub: sub, ready: make(chan struct{}),
		members: []M{first}, index: map[M]int32{first: 0},
	}
}

// add makes m a member unless the room closed; adding twice is harmless.
func (r *room[M]) add(m M) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return false
	}
	if _, ok := r.index[m]; !ok {
		r.index[m] = int32(len(r.members))
		r.members = append(r.members, m)
	}
	return true
}

// remove takes m out by moving the last member into its place, and closes
// the room when m was the last. It reports whether the caller must release
// the room (it emptied an open room).
func (r *room[M]) remove(m M) (release bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.index[m]
	if !ok {
		return false
	}
	last := len(r.members) - 1
	if int(i) != last {
		moved := r.members[last]
		r.members[i] = moved
		r.index[moved] = i
	}
	var zero M
	r.members[last] = zero // no reference kept to a member that left
	r.members = r.members[:last]
	delete(r.index, m)
	if last > 0 || r.closed.Load() {
		return false
	}
	r.closed.Store(true)
	r.members, r.index = nil, nil
	return true
}

// shut closes the room to new members.
func (r *room[M]) shut() {
	r.mu.Lock()
	r.closed.Store(true)
	r.mu.Unlock()
}

// send queues a broadcast for every member, starting at a rotating one so
// that the same members are not always served last in a big room.
func (r *room[M]) send(b *Broadcast) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.members)
	if n == 0 {
		return
	}
	r.next++
	start := int(r.next % uint32(n))
	for _, m := range r.members[start:] {
		m.Receive(b)
	}
	for _, m := range r.members[:start] {
		m.Receive(b)
	}
}

func (r *room[M]) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// Join adds m to the room whose broadcasts arrive on subject. It returns once
// NATS has the room's subscription, so the first broadcast after Join
// reaches m. Only the member that takes the subscription waits for the
// server's confirmation (one round trip); members joining meanwhile wait for
// the same confirmation, and later ones do not wait at all.
func (h *Hub[M]) Join(subject string, m M, timeout time.Duration) error {
	return h.join(subject, false, m, timeout)
}

func (h *Hub[M]) join(subject string, push bool, m M, timeout time.Duration) error {
	r, created, err := h.enter(subject, push, m)
	if err != nil {
		return err
	}
	if created {
		// A round trip to the server proves it registered the subscription.
		h.settle(r, h.bus.FlushTimeout(timeout))
	}
	if err := r.await(timeout); err != nil {
		if r.remove(m) {
			h.release(r)
		}
		return err
	}
	return nil
}

// enter adds m to subject's open room, or makes the room and takes its
// subscription (created: the caller must settle it).
func (h *Hub[M]) enter(subject string, push bool, m M) (r *room[M], created bool, err error) {
	s := h.shard(subject)
	for {
		s.mu.RLock()
		r = s.rooms[subject]
		s.mu.RUnlock()
		if r == nil || r.closed.Load() {
			s.mu.Lock()
			if r = s.rooms[subject]; r == nil || r.closed.Load() {
				defer s.mu.Unlock()
				if h.closed.Load() {
					return nil, false, ErrClosed
				}
				sub, err := h.bus.ChanSubscribe(subject, h.queue(subject))
				if err != nil {
					return nil, false, err
				}
				prev := r
				r = newRoom(subject, push, sub, m)
				if prev == nil {
					h.count(r).Add(1)
				} // else it replaces a closed room still being released
				s.rooms[subject] = r
				return r, true, nil
			}
			s.mu.Unlock()
		}
		if r.add(m) {
			return r, false, nil
		}
		// It closed between the lookup and add: look again.
	}
}

// settle publishes the outcome of a room's first flush. A failed room closes
// at once (its waiting members get the error), so the next join retries
// with a new subscription.
func (h *Hub[M]) settle(r *room[M], err error) {
	if err != nil {
		r.mu.Lock()
		r.err = err
		r.closed.Store(true)
		r.mu.Unlock()
		close(r.ready)
		h.release(r)
		return
	}
	close(r.ready)
}

func (r *room[M]) await(timeout time.Duration) error {
	select {
	case <-r.ready:
		return r.err
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.ready:
		return r.err
	case <-t.C:
		return nats.ErrTimeout
	}
}

// Leave removes m; the last member out releases the subscription. Leaving a
// room one is not in is harmless.
func (h *Hub[M]) Leave(subject string, m M) {
	if r := h.lookup(subject); r != nil && r.remove(m) {
		h.release(r)
	}
}

func (h *Hub[M]) lookup(subject string) *room[M] {
	s := h.shard(subject)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rooms[subject]
}

// release forgets a closed room and drops its subscription.
func (h *Hub[M]) release(r *room[M]) {
	s := h.shard(r.subject)
	s.mu.Lock()
	if s.rooms[r.subject] == r {
		delete(s.rooms, r.subject)
		h.count(r).Add(-1)
	}
	s.mu.Unlock()
	h.unsubscribe(r)
}

func (h *Hub[M]) unsubscribe(r *room[M]) {
	h.countDrops(r, true, nil)
	_ = h.bus.Unsubscribe(r.sub)
}

// Members returns how many local members a room has, and whether the
// gateway holds its subscription.
func (h *Hub[M]) Members(subject string) (n int, subscribed bool) {
	r := h.lookup(subject)
	if r == nil {
		return 0, false
	}
	_, err := h.bus.Dropped(r.sub)
	return r.size(), err == nil
}

// Rooms is the number of rooms with local members.
func (h *Hub[M]) Rooms() int { return int(h.rooms.Load()) }

// Users is the number of users with local connections: user subjects the
// gateway subscribes.
func (h *Hub[M]) Users() int { return int(h.users.Load()) }

// count is the counter r counts in.
func (h *Hub[M]) count(r *room[M]) *atomic.Int64 {
	if r.push {
		return &h.users
	}
	return &h.rooms
}
