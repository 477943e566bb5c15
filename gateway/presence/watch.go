package presence

import (
	"sync"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// Receiver is a /ws/rooms connection that asked for a room's presence
// events (a *client.Conn).
type Receiver interface {
	SendPrepared(b *client.Broadcast)
}

// Subscriber is the part of a NATS connection Watchers uses.
type Subscriber interface {
	Subscribe(subject string, cb nats.MsgHandler) (*nats.Subscription, error)
}

// Watchers passes presence notices on to the members that asked: the
// gateway subscribes to a room's notices while it has such a member there,
// checks each notice once, drops one not newer than the last it passed on
// (every presence worker instance sends each), and encodes its line once
// for all of them. Raw members never get one.
type Watchers struct {
	nc Subscriber

	mu    sync.Mutex
	rooms map[string]*watched
}

type watched struct {
	sub     *nats.Subscription
	members map[Receiver]struct{}
	last    uint64 // rev of the last notice passed on
}

// NewWatchers makes an empty table on nc.
func NewWatchers(nc Subscriber) *Watchers {
	return &Watchers{nc: nc, rooms: map[string]*watched{}}
}

// Watch makes r receive room's presence events.
func (w *Watchers) Watch(room string, r Receiver) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rm, ok := w.rooms[room]; ok {
		rm.members[r] = struct{}{}
		return nil
	}
	rm := &watched{members: map[Receiver]struct{}{r: {}}}
	sub, err := w.nc.Subscribe(contract.PresenceEventSubject(room), func(msg *nats.Msg) { w.deliver(room, rm, msg) })
	if err != nil {
		return err
	}
	rm.sub = sub
	w.rooms[room] = rm
	return nil
}

// Unwatch stops room's presence events for r.
func (w *Watchers) Unwatch(room string, r Receiver) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rm, ok := w.rooms[room]
	if !ok {
		return
	}
	delete(rm.members, r)
	if len(rm.members) == 0 {
		_ = rm.sub.Unsubscribe()
		delete(w.rooms, room)
	}
}

// Rooms is how many rooms' notices the gateway subscribes to.
func (w *Watchers) Rooms() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.rooms)
}

// Close drops every subscription.
func (w *Watchers) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for room, rm := range w.rooms {
		_ = rm.sub.Unsubscribe()
		delete(w.rooms, room)
	}
}

func (w *Watchers) deliver(room string, rm *watched, msg *nats.Msg) {
	n, ok := ParseNotice(msg.Data)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rooms[room] != rm || n.Rev <= rm.last {
		return // a copy from another worker instance, or a stale one
	}
	rm.last = n.Rev
	line := roomsproto.AppendPresenceEvent(nil, room, n.Event, n.User)
	b := client.NewBroadcast(websocket.TextMessage, line)
	for r := range rm.members {
		r.SendPrepared(b)
	}
}
