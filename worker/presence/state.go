// Package presence is the presence worker: it owns the stream WSGW_EVENTS
// and the key-value bucket wsgw_presence, follows the bucket (where
// gateways keep their live connections and memberships) into an in-memory
// view of every room, answers presence queries from it, tells gateways
// when a user's first connection enters a room or its last one leaves, and
// emits the leaves and disconnects of a gateway that stopped beating.
//
// Every instance follows the whole bucket, in the bucket's one order, so
// all compute the same view and the same notices; the bucket survives
// their restarts. State here is decision logic only: no I/O.
package presence

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/wsgate/wsgate/shared/contract"
)

// Notice is a user entering (first connection) or leaving (last one) a room.
type Notice struct {
	Room  string
	Event string // contract.EventJoin or EventLeave
	User  string
	Rev   uint64 // the bucket revision that made it
}

type memberID struct{ room, conn string }

type gateway struct {
	alive    bool   // its heartbeat key exists
	rev      uint64 // the heartbeat key's revision
	ttl      time.Duration
	seen     time.Time // last heartbeat (or when this view started, or reconnected)
	declared time.Time // last time it was declared lost
	conns    map[string]contract.PresenceEntry
	members  map[memberID]contract.PresenceEntry
}

type room struct {
	users map[string]int // connections of each user in the room
	anon  int
}

// State is the view of every gateway and room.
type State struct {
	ttl      time.Duration // used for a gateway that has not said its own
	gateways map[string]*gateway
	rooms    map[string]*room
}

// NewState makes an empty view; ttl is PRESENCE_TTL.
func NewState(ttl time.Duration) *State {
	return &State{ttl: ttl, gateways: map[string]*gateway{}, rooms: map[string]*room{}}
}

func (s *State) gw(id string, now time.Time) *gateway {
	g, ok := s.gateways[id]
	if !ok {
		g = &gateway{ttl: s.ttl, seen: now, conns: map[string]contract.PresenceEntry{}, members: map[memberID]contract.PresenceEntry{}}
		s.gateways[id] = g
	}
	return g
}

// Apply takes one bucket change: a put (value) or a delete of key at
// revision rev, seen at now. It returns the notices it makes.
func (s *State) Apply(key string, del bool, value []byte, rev uint64, now time.Time) []Notice {
	k, ok := contract.ParsePresenceKey(key)
	if !ok {
		return nil
	}
	g := s.gw(k.Gateway, now)
	switch k.Kind {
	case 'g':
		if del {
			// Declared lost (by an instance, maybe another) or stopped: wait
			// a full half TTL before sweeping what is left of it.
			g.alive, g.rev, g.declared = false, 0, now
			break
		}
		var b contract.PresenceBeat
		if json.Unmarshal(value, &b) == nil && b.TTLMillis > 0 {
			g.ttl = time.Duration(b.TTLMillis) * time.Millisecond
		}
		g.alive, g.rev, g.seen = true, rev, now
	case 'c':
		if del {
			delete(g.conns, k.Conn)
		} else {
			g.conns[k.Conn] = entry(value)
		}
	case 'm':
		id := memberID{k.Room, k.Conn}
		var out []Notice
		if old, ok := g.members[id]; ok {
			delete(g.members, id)
			out = s.leave(k.Room, old.User, rev, out)
		}
		if !del {
			e := entry(value)
			g.members[id] = e
			out = s.enter(k.Room, e.User, rev, out)
		}
		s.forget(k.Gateway, g)
		return dedupe(out)
	}
	s.forget(k.Gateway, g)
	return nil
}

// dedupe drops a leave and join of the same user that cancel out (a
// membership written again).
func dedupe(n []Notice) []Notice {
	if len(n) == 2 && n[0].User == n[1].User && n[0].Event != n[1].Event {
		return nil
	}
	return n
}

func entry(value []byte) contract.PresenceEntry {
	var e contract.PresenceEntry
	if json.Unmarshal(value, &e) != nil || !contract.ValidUser(e.User) {
		e.User = "" // counted, anonymously, rather than trusted
	}
	return e
}

func (s *State) enter(name, user string, rev uint64, out []Notice) []Notice {
	r := s.rooms[name]
	if r == nil {
		r = &room{users: map[string]int{}}
		s.rooms[name] = r
	}
	if user == "" {
		r.anon++
		return out
	}
	r.users[user]++
	if r.users[user] == 1 {
		out = append(out, Notice{Room: name, Event: contract.EventJoin, User: user, Rev: rev})
	}
	return out
}

func (s *State) leave(name, user string, rev uint64, out []Notice) []Notice {
	r := s.rooms[name]
	if r == nil {
		return out
	}
	if user == "" {
		r.anon--
	} else if r.users[user]--; r.users[user] <= 0 {
		delete(r.users, user)
		out = append(out, Notice{Room: name, Event: contract.EventLeave, User: user, Rev: rev})
	}
	if r.anon <= 0 && len(r.users) == 0 {
		delete(s.rooms, name)
	}
	return out
}

// forget drops a gateway that is gone with nothing left of it.
func (s *State) forget(id string, g *gateway) {
	if !g.alive && len(g.conns) == 0 && len(g.members) == 0 {
		delete(s.gateways, id)
	}
}

// Query is who is in room: users by id, with their connection counts, and
// the anonymous connections.
func (s *State) Query(name string) contract.PresenceAnswer {
	a := contract.PresenceAnswer{Users: []contract.PresenceUser{}}
	r := s.rooms[name]
	if r == nil {
		return a
	}
	a.Anonymous = r.anon
	a.Users = make([]contract.PresenceUser, 0, len(r.users))
	for u, n := range r.users {
		a.Users = append(a.Users, contract.PresenceUser{User: u, Connections: n})
	}
	slices.SortFunc(a.Users, func(x, y contract.PresenceUser) int { return strings.Compare(x.User, y.User) })
	return a
}

// Reset starts every gateway's silence again from now: this view could
// not hear heartbeats (it was cut off from NATS, or just started).
func (s *State) Reset(now time.Time) {
	for _, g := range s.gateways {
		g.seen = now
	}
}

// Due lists the gateways to declare lost at now: nothing was heard from
// them for half their TTL (so the events go out within their TTL of their
// death), they were not declared in the last half TTL, and they hold
// connections or memberships, or at least their heartbeat key (a dead
// gateway that held nothing still leaves a key to remove).
func (s *State) Due(now time.Time) []string {
	var out []string
	for id, g := range s.gateways {
		if len(g.conns)+len(g.members) == 0 && !g.alive {
			continue
		}
		half := g.ttl / 2
		if now.Sub(g.seen) > half && now.Sub(g.declared) > half {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Member is a membership of a lost gateway, to emit its leave.
type Member struct {
	Room, Conn string
	contract.PresenceEntry
}

// Conn is a connection of a lost gateway, to emit its disconnect.
type Conn struct {
	Conn string
	contract.PresenceEntry
}

// Lost is what a gateway leaves behind: whether its heartbeat key is
// there (at rev, to delete conditionally), its memberships and
// connections. It marks the gateway declared at now.
func (s *State) Lost(id string, now time.Time) (alive bool, rev uint64, members []Member, conns []Conn) {
	g, ok := s.gateways[id]
	if !ok {
		return false, 0, nil, nil
	}
	g.declared = now
	for m, e := range g.members {
		members = append(members, Member{Room: m.room, Conn: m.conn, PresenceEntry: e})
	}
	for c, e := range g.conns {
		conns = append(conns, Conn{Conn: c, PresenceEntry: e})
	}
	slices.SortFunc(members, func(a, b Member) int {
		return strings.Compare(a.Conn+"."+a.Room, b.Conn+"."+b.Room)
	})
	slices.SortFunc(conns, func(a, b Conn) int { return strings.Compare(a.Conn, b.Conn) })
	return g.alive, g.rev, members, conns
}
