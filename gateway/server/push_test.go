package server

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

// A push on wsgw.user.<token> reaches every connection of that user on
// every gateway, raw ones as a frame, /ws/rooms ones as a push, and nobody
// else; Wsgw-Close closes them. A user id with characters no subject token
// may hold ('.', '*', '>', spaces, Unicode) works the same. Each gateway
// holds a user's subscription exactly while it has a connection of theirs.
func TestPushToUsers(t *testing.T) {
	s, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	worker(t, url, "echo")
	g1, g2 := gateway(t, url), gateway(t, url)
	pub := natsConn(t, url)
	const odd = "zoë.*> a/b" // a JWT subject
	oddTok := token(t, odd, time.Hour, nil)
	aliceSubj, oddSubj := contract.UserSubject("alice"), contract.UserSubject(odd)
	if aliceSubj != "wsgw.user.YWxpY2U" || oddSubj != "wsgw.user.em_Dqy4qPiBhL2I" {
		t.Fatalf("subjects %s %s", aliceSubj, oddSubj)
	}
	if interest(t, s, aliceSubj) != 0 || interest(t, s, oddSubj) != 0 {
		t.Fatal("interest before any connection")
	}

	alicePriv := dial(t, g1.url+"/ws/private", bearer("secret"))
	if _, got := read(t, alicePriv); got != "ok" {
		t.Fatalf("welcome %q", got)
	}
	aliceRoom := dial(t, g1.url+"/ws/room/lobby", bearer("secret"))
	aliceRooms := dialRooms(t, g2.url, bearer("secret"))
	oddRaw := dial(t, g1.url+"/ws/private", bearer(oddTok))
	read(t, oddRaw)
	oddRooms := dialRooms(t, g2.url, bearer(oddTok))
	anon := dialRooms(t, g1.url, nil)
	anon.join("lobby")

	// One subscription per user per gateway, whatever its number of
	// connections there; none for anonymous clients.
	if n := interest(t, s, aliceSubj); n != 2 {
		t.Fatalf("alice: %d subscriptions, want one per gateway", n)
	}
	if n := interest(t, s, oddSubj); n != 2 || g1.Hub().Users() != 2 || g2.Hub().Users() != 2 {
		t.Fatalf("odd user: %d subscriptions; users %d %d", n, g1.Hub().Users(), g2.Hub().Users())
	}
	if n := userSubs(t, s); n != 4 {
		t.Fatalf("%d user subscriptions in all", n)
	}

	push := func(subject string, hdr nats.Header, body string) {
		t.Helper()
		if err := pub.PublishMsg(&nats.Msg{Subject: subject, Header: hdr, Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	text := nats.Header{contract.HeaderFrame: {contract.FrameText}}
	bin := nats.Header{contract.HeaderFrame: {contract.FrameBinary}}
	push(aliceSubj, nats.Header{}, "no frame: nothing to deliver")
	push(aliceSubj, text, "you have mail")
	push(aliceSubj, bin, "\x00\x01")
	push(oddSubj, text, "hello zoë")
	for _, ws := range []*websocket.Conn{alicePriv, aliceRoom} {
		if typ, got := read(t, ws); typ != websocket.TextMessage || got != "you have mail" {
			t.Fatalf("alice raw: %d %q", typ, got)
		}
		if typ, got := read(t, ws); typ != websocket.BinaryMessage || got != "\x00\x01" {
			t.Fatalf("alice raw: %d %q", typ, got)
		}
	}
	aliceRooms.expect("", "you have mail", false, "", false)
	aliceRooms.expect("", "\x00\x01", true, "", false)
	if _, got := read(t, oddRaw); got != "hello zoë" {
		t.Fatalf("odd raw: %q", got)
	}
	oddRooms.expect("", "hello zoë", false, "", false)

	// Wsgw-Close closes every connection of the user, and only those.
	push(aliceSubj, nats.Header{contract.HeaderClose: {"4000"}}, "signed out")
	for _, ws := range []*websocket.Conn{alicePriv, aliceRoom, aliceRooms.ws} {
		if ce := closeOf(t, ws); ce.Code != 4000 || ce.Text != "signed out" {
			t.Fatalf("close %d %q", ce.Code, ce.Text)
		}
	}
	eventually(t, within, "alice's subscriptions to go", func() bool {
		return interest(t, s, aliceSubj) == 0 && g1.Hub().Users() == 1 && g2.Hub().Users() == 1
	})
	push(oddSubj, text, "still here")
	if _, got := read(t, oddRaw); got != "still here" {
		t.Fatalf("odd raw: %q", got)
	}
	oddRooms.expect("", "still here", false, "", false)
	// The anonymous member got none of it: its next message is the room's.
	anon.publish("lobby", "room message")
	anon.expect("lobby", "room message", false, "", false)

	// The last connection of a user on a gateway releases that gateway's
	// subscription; the other gateway keeps its own.
	oddRaw.Close()
	eventually(t, within, "g1 to release the odd user", func() bool { return g1.Hub().Users() == 0 })
	eventually(t, within, "the server to drop g1's interest", func() bool { return interest(t, s, oddSubj) == 1 })
	push(oddSubj, text, "last one")
	oddRooms.expect("", "last one", false, "", false)
	oddRooms.ws.Close()
	eventually(t, within, "every user subscription to go", func() bool {
		return userSubs(t, s) == 0 && g2.Hub().Users() == 0
	})
}

// userSubs counts the NATS server's subscriptions to user subjects.
func userSubs(t testing.TB, s *server.Server) int {
	t.Helper()
	sz, err := s.Subsz(&server.SubszOptions{Subscriptions: true, Limit: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sub := range sz.Subs {
		if strings.HasPrefix(sub.Subject, contract.UserPrefix+".") {
			n++
		}
	}
	return n
}
