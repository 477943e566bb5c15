package server

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

func inRoom(name string) map[string]string { return map[string]string{"room": name} }

// Every client error has its code, and none closes the socket.
func TestRoomsClientErrors(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url, func(c *Config) { c.MaxRooms = 3 })
	c := dialRooms(t, g.url, nil)

	// 400, with the frame's id when it had one valid id, else 0.
	for frame, reason := range map[string]string{
		`not json`:                       "not JSON",
		`{"join":{"room":"a"}}`:          "missing id",
		`{"id":0,"join":{"room":"a"}}`:   "id must be",
		`{"id":"1","join":{"room":"a"}}`: "id must be",
	} {
		c.raw(frame)
		if e := c.zeroReply(); e.Code != 400 || !strings.Contains(e.Reason, reason) {
			t.Fatalf("%s: %+v", frame, e)
		}
	}
	send(t, c.ws, websocket.BinaryMessage, `{"id":1,"join":{"room":"a"}}`)
	if e := c.zeroReply(); e.Code != 400 || e.Reason != "binary frames are not commands" {
		t.Fatalf("binary frame: %+v", e)
	}
	c.fails(400, "subscribe", inRoom("a"))
	c.id++
	c.raw(`{"id":` + itoa(c.id) + `,"join":{"room":"a"},"leave":{"room":"a"}}`)
	if r := c.failsID(400, c.id); r != "several commands" {
		t.Fatalf("several commands: %q", r)
	}
	for _, bad := range []string{"a.b", "*", ">", "", strings.Repeat("r", 65), "café"} {
		if r := c.fails(400, "join", inRoom(bad)); r != "bad room name" {
			t.Fatalf("room %q: %q", bad, r)
		}
	}
	if r := c.fails(400, "publish", map[string]string{"room": "lobby", "b64": "AAE"}); r != "bad base64" {
		t.Fatalf("bad base64: %q", r)
	}
	if g.Hub().Rooms() != 0 {
		t.Fatalf("refused commands took %d rooms", g.Hub().Rooms())
	}

	// 401: a protected room needs an identity.
	c.fails(401, "join", inRoom("team-x"))
	// 404: not joined.
	c.fails(404, "leave", inRoom("lobby"))
	c.fails(404, "publish", map[string]string{"room": "lobby", "data": "x"})
	// 409: joined twice.
	c.join("lobby")
	c.fails(409, "join", inRoom("lobby"))
	// 429: over GATEWAY_MAX_ROOMS_PER_CONNECTION (3), until one is left.
	c.join("b")
	c.join("c")
	c.fails(429, "join", inRoom("d"))
	c.ok("leave", inRoom("b"))
	c.join("d")

	// After all that, the socket works.
	if got := c.publish("lobby", "still here"); got != `{"broadcast":true}` {
		t.Fatalf("publish: %s", got)
	}
	c.expect("lobby", "still here", false, "", false)
	if n := g.Clients(); n != 1 {
		t.Fatalf("%d clients", n)
	}
}

// 503 when there is no room worker, when it does not answer in time (its
// late answer is dropped), when it answers with a NATS micro error; replies
// still come in the order of the commands.
func TestRoomsWorkerFailures(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url, func(c *Config) { c.WorkerTimeout = 300 * time.Millisecond })
	// The first request to "silent" is not answered in time; the others
	// are, with a broadcast.
	late := make(chan *nats.Msg, 1)
	var first atomic.Bool
	slow := hostileWorker(t, url, contract.RoomIn(contract.RoomSubject, "silent"), func(m *nats.Msg) *nats.Msg {
		if first.CompareAndSwap(false, true) {
			late <- m
			return nil
		}
		return msgWith("on time", contract.HeaderBroadcast, "1")
	})
	hostileWorker(t, url, contract.RoomIn(contract.RoomSubject, "broken"), func(*nats.Msg) *nats.Msg {
		return msgWith("", micro.ErrorCodeHeader, "500", micro.ErrorHeader, "database on fire")
	})
	c := dialRooms(t, g.url, nil)
	for _, r := range []string{"nobody", "silent", "broken"} {
		c.join(r)
	}
	if r := c.fails(503, "publish", map[string]string{"room": "nobody", "data": "x"}); r != "no room worker" {
		t.Fatalf("no worker: %q", r)
	}
	if r := c.fails(503, "publish", map[string]string{"room": "broken", "data": "x"}); r != "worker error" {
		t.Fatalf("micro error: %q", r)
	}

	// A publish that times out holds back the replies of the commands sent
	// after it, which the gateway decided at once.
	slowID := c.cmd("publish", map[string]string{"room": "silent", "data": "x"})
	leaveID := c.cmd("leave", inRoom("nobody"))
	badID := c.cmd("leave", inRoom("nobody"))
	if r := c.failsID(503, slowID); r != "worker timeout" {
		t.Fatalf("timeout: %q", r)
	}
	c.result(leaveID)
	c.failsID(404, badID)
	if got := c.order[len(c.order)-3:]; got[0] != slowID || got[1] != leaveID || got[2] != badID {
		t.Fatalf("replies in order %v, want %d %d %d", got, slowID, leaveID, badID)
	}
	// The late answer, with a broadcast, is dropped: nothing is broadcast.
	// The worker's next answer comes after it on the same connection.
	req := <-late
	_ = slow.PublishMsg(&nats.Msg{Subject: req.Reply, Header: nats.Header{contract.HeaderBroadcast: {"1"}}, Data: []byte("too late")})
	if got := c.publish("silent", "x"); got != `{"broadcast":true}` {
		t.Fatalf("publish after the timeout: %s", got)
	}
	c.expect("silent", "on time", false, "", false)
}

// Without a decision there is no join (503, fail closed): the auth worker
// gone, for a client with a credential and for a protected room.
func TestRoomsAuthWorkerDown(t *testing.T) {
	_, url := startNATS(t)
	stopAuth := worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url, func(c *Config) { c.AuthTimeout = 300 * time.Millisecond })
	alice := dialRooms(t, g.url, bearer("secret"))
	anon := dialRooms(t, g.url, nil)
	alice.join("lobby")
	anon.join("lobby")
	stopAuth()
	alice.fails(503, "join", inRoom("other"))
	anon.fails(503, "join", inRoom("team-x"))
	// Open rooms need no decision for anonymous clients.
	anon.join("other")
	// The rooms already joined work on.
	alice.publish("lobby", "still")
	alice.expect("lobby", "still", false, "alice", false)
}

// Without NATS, joins and publishes fail with 503 and the socket stays; with
// NATS back, they work again.
func TestRoomsNATSDown(t *testing.T) {
	ns := natstest.Start(t)
	url := ns.ClientURL()
	port := ns.Addr().(*net.TCPAddr).Port
	worker(t, url, "room")
	g := gateway(t, url, func(c *Config) { c.WorkerTimeout = time.Second })
	c := dialRooms(t, g.url, nil)
	c.join("lobby")

	ns.Shutdown()
	ns.WaitForShutdown()
	c.fails(503, "join", inRoom("other"))
	c.fails(503, "publish", map[string]string{"room": "lobby", "data": "lost"})
	if g.Hub().Rooms() != 1 {
		t.Fatalf("%d rooms held; the failed join must not keep one", g.Hub().Rooms())
	}

	natstest.StartOn(t, port)
	probe := natsConn(t, url)
	eventually(t, 15*time.Second, "the room worker to be back", func() bool {
		_, err := probe.Request("$SRV.PING.room", nil, 200*time.Millisecond)
		return err == nil
	})
	eventually(t, 15*time.Second, "the gateway to reconnect", func() bool { return g.nc.IsConnected() })
	c.join("other")
	c.publish("lobby", "back")
	c.expect("lobby", "back", false, "", false)
}

// The frame-level rules close a /ws/rooms socket as they close any other:
// a command over GATEWAY_MAX_MESSAGE_BYTES with 1009, a text frame that is
// not UTF-8 with 1007, a client over its rate with 1008.
func TestRoomsFrameRulesClose(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room")
	g := gateway(t, url, func(c *Config) { c.MaxMessageBytes = 1024; c.RatePerSecond = 1; c.RateBurst = 20 })

	big := dialRooms(t, g.url, nil)
	big.join("lobby")
	big.raw(`{"id":2,"publish":{"room":"lobby","data":"` + strings.Repeat("x", 1024) + `"}}`)
	if code := closeCode(t, big.ws, within); code != 1009 {
		t.Fatalf("oversized command: close %d", code)
	}
	bad := dialRooms(t, g.url, nil)
	bad.raw("{\"id\":1,\"join\":{\"room\":\"\xff\"}}")
	if code := closeCode(t, bad.ws, within); code != 1007 {
		t.Fatalf("invalid UTF-8: close %d", code)
	}
	fast := dialRooms(t, g.url, nil)
	for i := 0; i < 40; i++ {
		if fast.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"leave":{"room":"x"}}`)) != nil {
			break
		}
	}
	if code := closeCode(t, fast.ws, within); code != 1008 {
		t.Fatalf("over the rate: close %d", code)
	}
}
