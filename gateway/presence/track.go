// Package presence is the gateway's side of presence and lifecycle events:
// it records every connection and room membership (events to the stream
// WSGW_EVENTS and keys of the bucket wsgw_presence, through the ordered
// outbox of package events), announces the gateway's liveness, fences the
// gateway when a presence worker declared it lost, passes presence notices
// on to the /ws/rooms members who asked for them, and asks the presence
// service who is in a room.
package presence

import (
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/events"
	"github.com/wsgate/wsgate/shared/contract"
)

// Outbox is where records go (an *events.Outbox).
type Outbox interface {
	Add(msgs ...*nats.Msg) bool
}

// Recorder makes the records of one gateway's connections.
type Recorder struct {
	Gateway string
	Out     Outbox
}

// Conn is one connection's record keeper: its connect, its joins and
// leaves, its disconnect. Leaves of the rooms still joined go out with the
// disconnect. Safe for concurrent use.
type Conn struct {
	rec   *Recorder
	base  contract.Event // gateway, conn, user, route, remote address
	entry contract.PresenceEntry

	mu    sync.Mutex
	joins uint64            // joins so far: the next one is joins+1
	open  map[string]uint64 // room -> its join's number
	ended bool
}

// Connect records a new connection and returns its keeper.
func (r *Recorder) Connect(conn, user, route, remote string) *Conn {
	c := &Conn{
		rec:   r,
		base:  contract.Event{Gateway: r.Gateway, Conn: conn, User: user, Route: route, RemoteAddr: remote},
		entry: contract.PresenceEntry{User: user, Route: route, RemoteAddr: remote},
	}
	ev := c.base
	ev.ID, ev.Event, ev.Time = contract.ConnectID(r.Gateway, conn), contract.EventConnect, events.Now()
	r.Out.Add(events.EventMsg(&ev), events.Put(contract.PresenceConnKey(r.Gateway, conn), ev.ID, c.entry))
	return c
}

// Join records that the connection entered room. Joining a room it is in
// does nothing.
func (c *Conn) Join(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, in := c.open[room]; in || c.ended {
		return
	}
	c.joins++
	if c.open == nil {
		c.open = map[string]uint64{}
	}
	c.open[room] = c.joins
	ev := c.base
	ev.ID, ev.Event, ev.Time, ev.Room = contract.JoinID(c.base.Gateway, c.base.Conn, c.joins), contract.EventJoin, events.Now(), room
	entry := c.entry
	entry.Join = c.joins
	c.rec.Out.Add(events.EventMsg(&ev), events.Put(contract.PresenceMemberKey(room, c.base.Gateway, c.base.Conn), ev.ID, entry))
}

// Leave records that the connection left room; nothing if it was not in.
func (c *Conn) Leave(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leave(room)
}

func (c *Conn) leave(room string) {
	n, in := c.open[room]
	if !in {
		return
	}
	delete(c.open, room)
	ev := c.base
	ev.ID, ev.Event, ev.Time, ev.Room = contract.LeaveID(c.base.Gateway, c.base.Conn, n), contract.EventLeave, events.Now(), room
	c.rec.Out.Add(events.EventMsg(&ev), events.Delete(contract.PresenceMemberKey(room, c.base.Gateway, c.base.Conn), ev.ID))
}

// Disconnect records the end of the connection, after a leave of every
// room it is still in. Only the first call counts.
func (c *Conn) Disconnect(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	for room := range c.open {
		c.leave(room)
	}
	c.ended = true
	ev := c.base
	ev.ID, ev.Event, ev.Time, ev.Code, ev.Reason = contract.DisconnectID(c.base.Gateway, c.base.Conn), contract.EventDisconnect, events.Now(), code, reason
	c.rec.Out.Add(events.EventMsg(&ev), events.Delete(contract.PresenceConnKey(c.base.Gateway, c.base.Conn), ev.ID))
}
