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
	// Only what every record repeats (idle connections hold this):
	// events and entries are made from it when recorded.
	rec                       *Recorder
	conn, user, route, remote string

	mu    sync.Mutex
	joins uint64            // joins so far: the next one is joins+1
	open  map[string]uint64 // room -> its join's number
	ended bool
}

// Connect records a new connection and returns its keeper.
func (r *Recorder) Connect(conn, user, route, remote string) *Conn {
	c := &Conn{rec: r, conn: conn, user: user, route: route, remote: remote}
	ev := c.event(contract.ConnectID(r.Gateway, conn), contract.EventConnect)
	r.Out.Add(events.EventMsg(&ev), events.Put(contract.PresenceConnKey(r.Gateway, conn), ev.ID, c.entry(0)))
	return c
}

// event is one of the connection's events, stamped now.
func (c *Conn) event(id, kind string) contract.Event {
	return contract.Event{ID: id, Event: kind, Time: events.Now(), Gateway: c.rec.Gateway, Conn: c.conn,
		User: c.user, Route: c.route, RemoteAddr: c.remote}
}

// entry is the value of the connection's key (join 0) or of a membership's.
func (c *Conn) entry(join uint64) contract.PresenceEntry {
	return contract.PresenceEntry{User: c.user, Route: c.route, RemoteAddr: c.remote, Join: join}
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
	gw := c.rec.Gateway
	ev := c.event(contract.JoinID(gw, c.conn, c.joins), contract.EventJoin)
	ev.Room = room
	c.rec.Out.Add(events.EventMsg(&ev), events.Put(contract.PresenceMemberKey(room, gw, c.conn), ev.ID, c.entry(c.joins)))
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
	gw := c.rec.Gateway
	ev := c.event(contract.LeaveID(gw, c.conn, n), contract.EventLeave)
	ev.Room = room
	c.rec.Out.Add(events.EventMsg(&ev), events.Delete(contract.PresenceMemberKey(room, gw, c.conn), ev.ID))
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
	gw := c.rec.Gateway
	ev := c.event(contract.DisconnectID(gw, c.conn), contract.EventDisconnect)
	ev.Code, ev.Reason = code, reason
	c.rec.Out.Add(events.EventMsg(&ev), events.Delete(contract.PresenceConnKey(gw, c.conn), ev.ID))
}
