package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/shared/contract"
)

// A /ws/rooms client may join a room exactly when a handshake to
// /ws/room/<room> with the same credential is admitted, with the same
// refusal (401 or 403), and publish there exactly when such a member could
// (listen-only: 403). Real tokens, the real auth worker with protected rooms
// team-* and JWT rooms and publish claims.
func TestRoomsJoinAndPublishLikeHandshakes(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url)

	creds := map[string]string{
		"anonymous":       "",
		"static alice":    "secret",
		"team-blue":       token(t, "bo", time.Hour, map[string]any{"rooms": []string{"team-blue"}}),
		"listen-only":     token(t, "lee", time.Hour, map[string]any{"rooms": []string{"team-*"}, "publish": []string{}}),
		"publish lobby":   token(t, "pat", time.Hour, map[string]any{"publish": []string{"lobby"}}),
		"all teams":       token(t, "sam", time.Hour, map[string]any{"rooms": []string{"team-*"}}),
		"no rooms at all": token(t, "nia", time.Hour, nil),
	}
	rooms := []string{"lobby", "other", "team-blue", "team-red"}
	outcomes := map[string]int{}
	for name, tok := range creds {
		var hdr http.Header
		if tok != "" {
			hdr = bearer(tok)
		}
		c := dialRooms(t, g.url, hdr)
		for _, r := range rooms {
			// The handshake: refused (its status), or admitted and then
			// publishing (echoed: 200) or not (closed with 1008: 403).
			want := dialStatus(t, g.url+"/ws/room/"+r, hdr)
			if want == http.StatusSwitchingProtocols {
				ws := dial(t, g.url+"/ws/room/"+r, hdr)
				send(t, ws, websocket.TextMessage, "probe")
				_ = ws.SetReadDeadline(time.Now().Add(within))
				if _, _, err := ws.ReadMessage(); err == nil {
					want = 200
				} else if ce, ok := err.(*websocket.CloseError); ok && ce.Code == 1008 {
					want = 403
				} else {
					t.Fatalf("%s in %s: %v", name, r, err)
				}
				ws.Close()
			}
			// The same as a join, then a publish.
			var got int
			if _, e := c.result(c.cmd("join", inRoom(r))); e != nil {
				got = e.Code
			} else if _, e := c.result(c.cmd("publish", map[string]string{"room": r, "data": "probe"})); e != nil {
				got = e.Code
			} else {
				got = 200
			}
			if got != want {
				t.Errorf("%s in %s: /ws/rooms %d, handshake %d", name, r, got, want)
			}
			outcomes[fmt.Sprint(want)]++
		}
	}
	// Every outcome was met, so the comparison compared something.
	for _, o := range []string{"200", "401", "403"} {
		if outcomes[o] == 0 {
			t.Errorf("no case ended in %s: %v", o, outcomes)
		}
	}
	// Credentials refused at the handshake are refused on /ws/rooms too.
	for name, tok := range map[string]string{
		"denied user": "banned-token", "unknown": "nope", "expired": token(t, "jay", -time.Minute, nil),
	} {
		want := dialStatus(t, g.url+"/ws/room/lobby", bearer(tok))
		if got := dialStatus(t, g.url+"/ws/rooms", bearer(tok)); got != want || got < 400 {
			t.Errorf("%s: /ws/rooms %d, /ws/room %d", name, got, want)
		}
	}
}

// A route that requires an identity admits no anonymous /ws/rooms client,
// and with auth "none" every client is anonymous and joins any room.
func TestRoomsRouteAuthModes(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url, func(c *Config) {
		var err error
		c.Routes, err = route.Parse(`[{"path":"/ws/rooms","kind":"rooms","subject":"wsgw.room","auth":"required"},` +
			`{"path":"/open","kind":"rooms","subject":"wsgw.room","auth":"none"}]`)
		if err != nil {
			t.Fatal(err)
		}
	})
	if st := dialStatus(t, g.url+"/ws/rooms", nil); st != 401 {
		t.Fatalf("required, anonymous: %d", st)
	}
	c := dialRooms(t, g.url, bearer("secret"))
	c.join("team-x")
	c.publish("team-x", "hi")
	c.expect("team-x", "hi", false, "alice", false)

	open := &rc{t: t, ws: dial(t, g.url+"/open", bearer("secret")), replies: map[uint64]roomsproto.Received{}}
	open.join("team-x") // "none" ignores credentials: anonymous, and nobody is asked
	open.publish("team-x", "anon")
	open.expect("team-x", "anon", false, "", false)
	c.expect("team-x", "anon", false, "", false)
}

// A /ws/rooms socket is admitted, limited and ended like any other: a
// foreign origin is refused, the per-address limit holds, the credential's
// expiry closes it with 4001 and a revocation with 4003, leaving its rooms.
func TestRoomsAdmissionExpiryRevocation(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url, func(c *Config) { c.MaxConnsPerIP = 3 })
	if st := dialStatus(t, g.url+"/ws/rooms", http.Header{"Origin": {"https://evil.example"}}); st != 403 {
		t.Fatalf("foreign origin: %d", st)
	}
	eve := dialRooms(t, g.url, bearer(token(t, "eve", 2*time.Second, nil)))
	eve.join("lobby")
	alice := dialRooms(t, g.url, bearer("secret"))
	alice.join("lobby")
	anon := dialRooms(t, g.url, nil)
	if st := dialStatus(t, g.url+"/ws/rooms", nil); st != 429 {
		t.Fatalf("over the per-address limit: %d", st)
	}
	if code := closeCode(t, eve.ws, 5*time.Second); code != contract.CloseTokenExpired {
		t.Fatalf("at expiry: close %d", code)
	}
	body, _ := json.Marshal(contract.RevokeRequest{User: "alice", Reason: "account locked"})
	if err := natsConn(t, url).Publish(contract.RevokeSubject, body); err != nil {
		t.Fatal(err)
	}
	if ce := closeOf(t, alice.ws); ce.Code != contract.CloseRevoked || ce.Text != "account locked" {
		t.Fatalf("revoked: close %d %q", ce.Code, ce.Text)
	}
	eventually(t, within, "both to leave the room", func() bool { n, _ := g.Hub().Members("wsgw.room.out.lobby"); return n == 0 })
	anon.join("lobby")
	anon.publish("lobby", "alone")
	anon.expect("lobby", "alone", false, "", false)
}
