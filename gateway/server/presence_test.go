package server

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/shared/contract"
)

// who runs a presence query and returns its answer.
func (c *rc) who(room string) contract.PresenceAnswer {
	c.t.Helper()
	var a contract.PresenceAnswer
	if err := json.Unmarshal([]byte(c.ok("presence", map[string]string{"room": room})), &a); err != nil {
		c.t.Fatal(err)
	}
	return a
}

// whoIs polls presence until it equals want (users sorted by id); a 503
// (no presence worker yet) counts as not yet.
func (c *rc) whoIs(room string, want contract.PresenceAnswer) {
	c.t.Helper()
	c.whoIsWithin(room, want, within)
}

func (c *rc) whoIsWithin(room string, want contract.PresenceAnswer, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var got contract.PresenceAnswer
		ok, e := c.result(c.cmd("presence", map[string]string{"room": room}))
		if e == nil {
			_ = json.Unmarshal(ok, &got)
			if slices.Equal(got.Users, want.Users) && got.Anonymous == want.Anonymous {
				return
			}
		} else if e.Code != 503 {
			c.t.Fatalf("presence of %s: error %d %s", room, e.Code, e.Reason)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("presence of %s: %+v, want %+v", room, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// presenceEvent waits for the next presence event line.
func (c *rc) presenceEvent() (room, event, user string) {
	c.t.Helper()
	m := c.message()
	if m.Event == "" {
		c.t.Fatalf("expected a presence event, got %s", describe(m))
	}
	return m.Room, m.Event, m.User
}

func users(kv ...any) []contract.PresenceUser {
	out := []contract.PresenceUser{}
	for i := 0; i < len(kv); i += 2 {
		out = append(out, contract.PresenceUser{User: kv[i].(string), Connections: kv[i+1].(int)})
	}
	return out
}

func TestPresenceAcrossGateways(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	presenceWorker(t, url, 2*time.Second)
	g1 := gateway(t, url) // PRESENCE_TTL 15s: a loaded machine's pauses are no loss
	g2 := gateway(t, url)

	alice := dialRooms(t, g1.url, bearer("secret"))
	alice.ok("join", map[string]any{"room": "lobby", "presence": true})
	// A member asking for events hears its own entry too.
	if room, ev, user := alice.presenceEvent(); room != "lobby" || ev != "join" || user != "alice" {
		t.Fatalf("got %s %s %s; want lobby join alice", room, ev, user)
	}
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1)})

	// bob's first connection, on the other gateway, is news; his second,
	// a raw member on the first gateway, is not.
	bob := dialRooms(t, g2.url, bearer(token(t, "bob", time.Hour, nil)))
	bob.join("lobby")
	if room, ev, user := alice.presenceEvent(); room != "lobby" || ev != "join" || user != "bob" {
		t.Fatalf("got %s %s %s; want lobby join bob", room, ev, user)
	}
	bobRaw := dial(t, g1.url+"/ws/room/lobby", bearer(token(t, "bob", time.Hour, nil)))
	anon := dial(t, g2.url+"/ws/room/lobby", nil)
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1, "bob", 2), Anonymous: 1})
	bob.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1, "bob", 2), Anonymous: 1})

	// A client that is not a member may ask exactly when it may join.
	stranger := dialRooms(t, g2.url, nil)
	stranger.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1, "bob", 2), Anonymous: 1})
	stranger.fails(401, "presence", map[string]string{"room": "team-a"})
	stranger.fails(400, "presence", map[string]string{"room": "no.dots"})
	stranger.whoIs("empty", contract.PresenceAnswer{Users: users()})

	// bob leaves presence with his last connection, not before.
	bob.ok("leave", map[string]string{"room": "lobby"})
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1, "bob", 1), Anonymous: 1})
	bobRaw.Close()
	if room, ev, user := alice.presenceEvent(); room != "lobby" || ev != "leave" || user != "bob" {
		t.Fatalf("got %s %s %s; want lobby leave bob", room, ev, user)
	}
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1), Anonymous: 1})

	// Anonymous members count but make no event; raw members never get
	// presence events as frames: the raw member's next frame is a broadcast.
	anon.Close()
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1)})
	raw := dial(t, g2.url+"/ws/room/lobby", bearer(token(t, "carol", time.Hour, nil)))
	if room, ev, user := alice.presenceEvent(); room != "lobby" || ev != "join" || user != "carol" {
		t.Fatalf("got %s %s %s; want lobby join carol", room, ev, user)
	}
	alice.publish("lobby", "hello")
	if typ, got := read(t, raw); typ != websocket.TextMessage || got != "hello" {
		t.Fatalf("raw member got %q", got)
	}
	alice.expect("lobby", "hello", false, "alice", false)
	if len(alice.msgs) != 0 {
		t.Fatalf("unexpected lines: %v", alice.msgs)
	}
}

// Every connection's connect and disconnect, every join and leave, reach
// WSGW_EVENTS with the reasons the gateway saw.
func TestLifecycleEvents(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	presenceWorker(t, url, 2*time.Second)
	g := gateway(t, url)

	r := dialRooms(t, g.url, bearer("secret"))
	r.join("lobby")
	r.join("hall")
	r.ok("leave", map[string]string{"room": "hall"})
	r.join("hall")
	raw := dial(t, g.url+"/ws/room/lobby", nil)
	r.ws.Close()
	raw.UnderlyingConn().Close() // dropped without a close frame
	revoked := dial(t, g.url+"/ws/room/lobby", bearer("secret"))
	nc := natsConn(t, url)
	eventually(t, within, "alice's connections", func() bool { return len(g.Hub().UserConns("alice")) == 1 })
	if err := nc.Publish(contract.RevokeSubject, []byte(`{"user":"alice"}`)); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, revoked, within); code != 4003 {
		t.Fatalf("revoked: %d", code)
	}

	var evs []contract.Event
	eventually(t, within, "the events", func() bool {
		evs = streamEvents(t, nc)
		// 3 connects and disconnects; 5 joins and leaves: lobby, hall,
		// hall again on /ws/rooms, and lobby for each raw member.
		return len(evs) == 3+3+5+5
	})
	reasons := pairing(t, evs)
	want := map[string]string{}
	for _, e := range evs {
		if e.Event == contract.EventConnect {
			if e.Gateway != g.ID() || e.RemoteAddr != "127.0.0.1" || e.Time == "" {
				t.Errorf("connect %+v", e)
			}
			switch {
			case e.Route == "/ws/rooms":
				want[e.Conn] = contract.ReasonClient
			case e.User == "":
				want[e.Conn] = contract.ReasonClient
			default:
				want[e.Conn] = contract.ReasonRevoked
			}
		}
	}
	for conn, w := range want {
		if reasons[conn] != w {
			t.Errorf("conn %s: reason %q, want %q", conn, reasons[conn], w)
		}
	}
}

// A gateway that shuts down publishes its connections' disconnects
// (reason drain) before it goes; a credential that expires is "expired".
func TestDrainAndExpiryEvents(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	presenceWorker(t, url, 2*time.Second)
	g := gateway(t, url)
	short := dial(t, g.url+"/ws/room/lobby", bearer(token(t, "eve", 1500*time.Millisecond, nil)))
	if code := closeCode(t, short, 5*time.Second); code != contract.CloseTokenExpired {
		t.Fatalf("expiry: %d", code)
	}
	dial(t, g.url+"/ws/room/lobby", nil)
	r := dialRooms(t, g.url, nil)
	r.join("hall")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	nc := natsConn(t, url)
	evs := streamEvents(t, nc) // all in: Shutdown waits for the outbox
	reasons := pairing(t, evs)
	want := map[string]string{"1": contract.ReasonExpired, "2": contract.ReasonDrain, "3": contract.ReasonDrain}
	for conn, w := range want {
		if reasons[conn] != w {
			t.Errorf("conn %s: %q, want %q (%v)", conn, reasons[conn], w, reasons)
		}
	}
}
