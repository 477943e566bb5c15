package server

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/shared/contract"
)

// Members of a room on two gateways see every frame, the sender too, with
// its type kept; members of another room see nothing.
func TestRoomAcrossTwoGateways(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room")
	g1, g2 := gateway(t, url), gateway(t, url)

	a := dial(t, g1.url+"/ws/room/lobby", nil)
	b := dial(t, g2.url+"/ws/room/lobby", nil)
	other := dial(t, g2.url+"/ws/room/elsewhere", nil)
	def := dial(t, g1.url+"/ws/room", nil)

	send(t, a, websocket.TextMessage, "hi from a")
	for _, ws := range []*websocket.Conn{a, b} {
		if typ, got := read(t, ws); typ != websocket.TextMessage || got != "hi from a" {
			t.Fatalf("got %d %q", typ, got)
		}
	}
	send(t, b, websocket.BinaryMessage, "\x01\x02")
	for _, ws := range []*websocket.Conn{a, b} {
		if typ, got := read(t, ws); typ != websocket.BinaryMessage || got != "\x01\x02" {
			t.Fatalf("got %d %q", typ, got)
		}
	}
	// The other rooms saw nothing: the next frame each gets is its own.
	send(t, other, websocket.TextMessage, "mine")
	if _, got := read(t, other); got != "mine" {
		t.Fatalf("other room got %q", got)
	}
	send(t, def, websocket.TextMessage, "default room")
	if _, got := read(t, def); got != "default room" {
		t.Fatalf("default room got %q", got)
	}
}

// One sender's frames reach every member in order with two room workers.
func TestRoomOrderWithTwoWorkers(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room")
	worker(t, url, "room")
	g1, g2 := gateway(t, url, noRateLimit), gateway(t, url, noRateLimit)
	sender := dial(t, g1.url+"/ws/room/order", nil)
	near := dial(t, g1.url+"/ws/room/order", nil)
	far := dial(t, g2.url+"/ws/room/order", nil)

	const n = 1000
	go func() {
		for i := 0; i < n; i++ {
			if sender.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
	}()
	for _, ws := range []*websocket.Conn{sender, near, far} {
		for i := 0; i < n; i++ {
			if _, got := read(t, ws); got != fmt.Sprint(i) {
				t.Fatalf("frame %d: got %q", i, got)
			}
		}
	}
}

// Room names are user input: anything but 1-64 of [A-Za-z0-9_-] is refused
// before the upgrade, and no NATS interest is taken for it.
func TestRoomNameAttacks(t *testing.T) {
	s, url := startNATS(t)
	worker(t, url, "room")
	g := gateway(t, url)
	for _, path := range []string{
		"/ws/room/a.b", "/ws/room/*", "/ws/room/%3E", "/ws/room/>", "/ws/room/%2A", "/ws/room/%2E",
		"/ws/room/a%2Eb", "/ws/room/", "/ws/room/" + strings.Repeat("r", 65), "/ws/room/a%20b",
		"/ws/room/caf%C3%A9", "/ws/room/a%2Fb", "/ws/room/a/b", "/ws/room/%00",
	} {
		if st := dialStatus(t, g.url+path, nil); st != 400 {
			t.Errorf("%s: HTTP %d, want 400", path, st)
		}
	}
	if n := g.Hub().Rooms(); n != 0 {
		t.Fatalf("gateway holds %d rooms after refused joins", n)
	}
	if n := interest(t, s, "wsgw.room.out.x"); n != 0 {
		t.Fatalf("a wildcard subscription exists: %d", n)
	}
	ws := dial(t, g.url+"/ws/room/"+strings.Repeat("r", 64), nil)
	send(t, ws, websocket.TextMessage, "longest name")
	if _, got := read(t, ws); got != "longest name" {
		t.Fatalf("got %q", got)
	}
}

// A gateway holds a room's subscription only while it has members there,
// and a member that vanishes (clean close or dropped TCP) leaves no trace.
func TestRoomSubscriptionLifecycle(t *testing.T) {
	s, url := startNATS(t)
	worker(t, url, "room")
	g := gateway(t, url)
	out := contract.RoomOut(contract.RoomSubject, "life")

	if n := interest(t, s, out); n != 0 {
		t.Fatalf("interest before join: %d", n)
	}
	a := dial(t, g.url+"/ws/room/life", nil)
	b := dial(t, g.url+"/ws/room/life", nil)
	if n, sub := g.Hub().Members(out); n != 2 || !sub {
		t.Fatalf("members %d subscribed %v", n, sub)
	}
	if n := interest(t, s, out); n != 1 {
		t.Fatalf("want one subscription for two members, server has %d", n)
	}

	// a goes cleanly, b drops its TCP connection without a close frame.
	_ = a.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
	eventually(t, 3*time.Second, "a to leave", func() bool { n, _ := g.Hub().Members(out); return n == 1 })
	if n := interest(t, s, out); n != 1 {
		t.Fatalf("subscription gone with a member left: %d", n)
	}
	_ = b.UnderlyingConn().(*net.TCPConn).SetLinger(0)
	_ = b.UnderlyingConn().Close()
	eventually(t, 3*time.Second, "b to leave", func() bool { return g.Hub().Rooms() == 0 && g.Clients() == 0 })
	eventually(t, 3*time.Second, "the server to drop interest", func() bool { return interest(t, s, out) == 0 })

	// Rejoining takes it again.
	c := dial(t, g.url+"/ws/room/life", nil)
	send(t, c, websocket.TextMessage, "again")
	if _, got := read(t, c); got != "again" {
		t.Fatalf("got %q", got)
	}
}

func TestNoRoomWorkerCloses1013(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	ws := dial(t, g.url+"/ws/room/empty", nil)
	send(t, ws, websocket.TextMessage, "hello?")
	if code := closeCode(t, ws, 3*time.Second); code != 1013 {
		t.Fatalf("close %d, want 1013", code)
	}
	eventually(t, 3*time.Second, "room released", func() bool { return g.Hub().Rooms() == 0 })

	worker(t, url, "room")
	ws = dial(t, g.url+"/ws/room/empty", nil)
	send(t, ws, websocket.TextMessage, "now")
	if _, got := read(t, ws); got != "now" {
		t.Fatalf("got %q", got)
	}
}
