package presence

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/wsgate/wsgate/shared/contract"
)

func val(user string) []byte {
	b, _ := json.Marshal(contract.PresenceEntry{User: user, Route: "/ws/rooms", Join: 1})
	return b
}

func beat(ttl time.Duration) []byte {
	b, _ := json.Marshal(contract.PresenceBeat{TTLMillis: ttl.Milliseconds(), Beat: 1})
	return b
}

func TestStateCountsUsersAndNotices(t *testing.T) {
	s := NewState(time.Second)
	now := time.Unix(1000, 0)
	var rev uint64
	apply := func(key string, del bool, v []byte) []Notice {
		rev++
		return s.Apply(key, del, v, rev, now)
	}
	if n := apply("m.lobby.G1.1", false, val("alice")); len(n) != 1 || n[0] != (Notice{"lobby", "join", "alice", 1}) {
		t.Fatalf("first join: %+v", n)
	}
	if n := apply("m.lobby.G2.7", false, val("alice")); len(n) != 0 {
		t.Fatalf("second connection: %+v", n)
	}
	if n := apply("m.lobby.G1.2", false, val("")); len(n) != 0 {
		t.Fatalf("anonymous: %+v", n)
	}
	apply("m.lobby.G1.3", false, val("bob"))
	// Written again (the same membership): no news.
	if n := apply("m.lobby.G1.3", false, val("bob")); len(n) != 0 {
		t.Fatalf("rewritten: %+v", n)
	}
	got := s.Query("lobby")
	want := []contract.PresenceUser{{User: "alice", Connections: 2}, {User: "bob", Connections: 1}}
	if !slices.Equal(got.Users, want) || got.Anonymous != 1 {
		t.Fatalf("query %+v", got)
	}
	if n := apply("m.lobby.G1.1", true, nil); len(n) != 0 {
		t.Fatalf("alice still has a connection: %+v", n)
	}
	if n := apply("m.lobby.G2.7", true, nil); len(n) != 1 || n[0].Event != "leave" || n[0].User != "alice" {
		t.Fatalf("last leave: %+v", n)
	}
	// A delete of what is not there (a duplicate) changes nothing.
	if n := apply("m.lobby.G2.7", true, nil); len(n) != 0 {
		t.Fatalf("duplicate delete: %+v", n)
	}
	apply("m.lobby.G1.3", true, nil)
	apply("m.lobby.G1.2", true, nil)
	if got := s.Query("lobby"); len(got.Users) != 0 || got.Anonymous != 0 || len(s.rooms) != 0 {
		t.Fatalf("empty room: %+v %v", got, s.rooms)
	}
	// Keys that are not the contract's are ignored; a bad user counts as
	// anonymous rather than being trusted.
	if n := apply("m.bad.room.G1.1", false, val("x")); n != nil {
		t.Fatal(n)
	}
	apply("m.lobby.G1.9", false, []byte(`{"user":" spaced "}`))
	if got := s.Query("lobby"); len(got.Users) != 0 || got.Anonymous != 1 {
		t.Fatalf("bad user: %+v", got)
	}
}

func TestStateDeclaresSilentGateways(t *testing.T) {
	s := NewState(10 * time.Second)
	t0 := time.Unix(1000, 0)
	s.Apply("g.G1", false, beat(2*time.Second), 1, t0)
	s.Apply("c.G1.1", false, val("alice"), 2, t0)
	s.Apply("m.lobby.G1.1", false, val("alice"), 3, t0)
	s.Apply("g.G2", false, beat(2*time.Second), 4, t0.Add(time.Second)) // beats later, holds nothing
	if due := s.Due(t0.Add(time.Second)); len(due) != 0 {
		t.Fatalf("due after half its TTL: %v", due)
	}
	at := t0.Add(1100 * time.Millisecond)
	if due := s.Due(at); !slices.Equal(due, []string{"G1"}) {
		t.Fatalf("due: %v", due)
	}
	alive, rev, members, conns := s.Lost("G1", at)
	if !alive || rev != 1 || len(members) != 1 || members[0].Room != "lobby" || members[0].User != "alice" || len(conns) != 1 || conns[0].Conn != "1" {
		t.Fatalf("lost: %v %d %+v %+v", alive, rev, members, conns)
	}
	// Declared: not again for half a TTL.
	if due := s.Due(at.Add(500 * time.Millisecond)); len(due) != 0 {
		t.Fatalf("declared again: %v", due)
	}
	// Its key deleted, then its keys: it is forgotten.
	s.Apply("g.G1", true, nil, 5, at)
	s.Apply("m.lobby.G1.1", true, nil, 6, at)
	s.Apply("c.G1.1", true, nil, 7, at)
	if _, ok := s.gateways["G1"]; ok {
		t.Fatal("a gone gateway is still known")
	}
	// A silent gateway that holds nothing is due too: its key goes.
	if due := s.Due(t0.Add(2100 * time.Millisecond)); !slices.Equal(due, []string{"G2"}) {
		t.Fatalf("silent empty gateway: %v", due)
	}
	// A view cut off from NATS gives every gateway its grace again.
	s.Apply("c.G2.1", false, val(""), 8, t0)
	s.Reset(t0.Add(time.Hour))
	if due := s.Due(t0.Add(time.Hour + time.Second)); len(due) != 0 {
		t.Fatalf("due after a reset: %v", due)
	}
	// A write from a gateway whose key is gone (it was declared lost but
	// lived on) is swept half a TTL after the key went.
	s.Apply("g.G2", true, nil, 9, t0.Add(2*time.Hour))
	s.Apply("m.lobby.G2.1", false, val("bob"), 10, t0.Add(2*time.Hour))
	if due := s.Due(t0.Add(2*time.Hour + 6*time.Second)); !slices.Equal(due, []string{"G2"}) {
		t.Fatalf("orphans not due: %v", due)
	}
	if alive, _, members, _ := s.Lost("G2", t0); alive || len(members) != 1 {
		t.Fatalf("orphans: %v %+v", alive, members)
	}
}
