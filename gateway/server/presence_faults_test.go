package server

import (
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

// A presence worker that restarts loses nothing: the view is in the
// bucket, and what changed while no worker ran is in it too.
func TestPresenceWorkerRestart(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	stop := presenceWorker(t, url, 2*time.Second)
	g := gateway(t, url)

	alice := dialRooms(t, g.url, bearer("secret"))
	alice.join("lobby")
	bob := dialRooms(t, g.url, bearer(token(t, "bob", time.Hour, nil)))
	bob.join("lobby")
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1, "bob", 1)})

	stop()
	alice.fails(503, "presence", map[string]string{"room": "lobby"})
	bob.ok("leave", map[string]string{"room": "lobby"})
	anon := dial(t, g.url+"/ws/room/lobby", nil)
	defer anon.Close()

	presenceWorker(t, url, 2*time.Second)
	alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1), Anonymous: 1})
	// Two instances at once answer alike, from the same bucket.
	presenceWorker(t, url, 2*time.Second)
	for range 6 {
		alice.whoIs("lobby", contract.PresenceAnswer{Users: users("alice", 1), Anonymous: 1})
	}
}

// NATS restarted (the same port and store): connected clients stay, and
// what happened meanwhile reaches the stream once NATS is back.
func TestEventsSurviveNATSRestart(t *testing.T) {
	store := t.TempDir()
	opts := func(port int) func(*server.Options) {
		return func(o *server.Options) { o.Port, o.StoreDir = port, store }
	}
	ns := natstest.StartWith(t, opts(-1))
	url := ns.ClientURL()
	worker(t, url, "room")
	presenceWorker(t, url, 15*time.Second)
	g := gateway(t, url) // PRESENCE_TTL 15s: a restart of a few seconds is no loss
	stay := dialRooms(t, g.url, nil)
	stay.join("lobby")
	gone := dial(t, g.url+"/ws/room/lobby", nil)
	stay.whoIs("lobby", contract.PresenceAnswer{Users: users(), Anonymous: 2})

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, within, "the gateway to see NATS gone", func() bool { return !g.nc.IsConnected() })
	gone.Close() // its leave and disconnect wait in the outbox
	eventually(t, within, "the drop", func() bool { return g.Clients() == 1 })

	natstest.StartWith(t, opts(natsPort(t, url)))
	nc := natsConn(t, url)
	eventually(t, 15*time.Second, "the outbox to empty", func() bool { return g.out.Pending() == 0 })
	t0 := time.Now()
	stay.whoIsWithin("lobby", contract.PresenceAnswer{Users: users(), Anonymous: 1}, 30*time.Second)
	t.Log("presence caught up after", time.Since(t0))
	evs := streamEvents(t, nc)
	reasons := map[string]string{}
	for _, e := range byID(evs) {
		if e.Event == contract.EventDisconnect {
			reasons[e.Conn] = e.Reason
		}
	}
	if len(reasons) != 1 || reasons["2"] != contract.ReasonClient {
		t.Fatalf("disconnects: %v", reasons)
	}
}

// A gateway cut off from NATS past its TTL is declared lost: its members
// leave presence with events (gateway_lost), and when it comes back it
// closes those connections rather than keep ghosts; new ones count again.
func TestGatewayDeclaredLostFencesItself(t *testing.T) {
	ns, url := startNATS(t)
	worker(t, url, "room")
	presenceWorker(t, url, time.Second)
	proxy := natstest.NewProxy(t, ns.Addr().String())
	g := gateway(t, proxy.URL(), presenceTTL(time.Second))
	// The watcher's gateway has the default TTL: only the frozen one is lost.
	watcher := dialRooms(t, gateway(t, url).url, nil)
	watcher.join("lobby")
	eventually(t, within, "the gateway ready", g.Ready)
	held := dial(t, g.url+"/ws/room/lobby", nil)
	watcher.whoIs("lobby", contract.PresenceAnswer{Users: users(), Anonymous: 2})

	proxy.Freeze()
	watcher.whoIs("lobby", contract.PresenceAnswer{Users: users(), Anonymous: 1})
	nc := natsConn(t, url)
	lost := false
	for _, e := range byID(streamEvents(t, nc)) {
		if e.Event == contract.EventDisconnect && e.Gateway == g.ID() && e.Reason == contract.ReasonGatewayLost {
			lost = true
		}
	}
	if !lost {
		t.Fatal("no gateway_lost disconnect")
	}
	proxy.Thaw()
	if code := closeCode(t, held, 15*time.Second); code != contract.CloseTryAgainLater {
		t.Fatalf("fenced connection closed with %d", code)
	}
	eventually(t, 15*time.Second, "the gateway ready again", g.Ready)
	again := dial(t, g.url+"/ws/room/lobby", nil)
	defer again.Close()
	watcher.whoIs("lobby", contract.PresenceAnswer{Users: users(), Anonymous: 2})
	eventually(t, within, "the outbox to empty", func() bool { return g.out.Pending() == 0 })
	pairingOf(t, streamEvents(t, nc), g.ID(), 1)
}

// pairingOf checks pairing for gateway gw's connections, all but open of
// them ended.
func pairingOf(t testing.TB, evs []contract.Event, gw string, open int) {
	t.Helper()
	connects, disconnects := map[string]int{}, map[string]int{}
	for _, e := range byID(evs) {
		if e.Gateway != gw {
			continue
		}
		switch e.Event {
		case contract.EventConnect:
			connects[e.Conn]++
		case contract.EventDisconnect:
			disconnects[e.Conn]++
		}
	}
	for c := range disconnects {
		if connects[c] != 1 || disconnects[c] != 1 {
			t.Errorf("conn %s: %d connects, %d disconnects", c, connects[c], disconnects[c])
		}
	}
	if len(connects)-len(disconnects) != open {
		t.Errorf("%d connects, %d disconnects; want %d open", len(connects), len(disconnects), open)
	}
}

// Thousands of connections come and go, half of them dropped without a
// close frame: every connect has exactly one disconnect, every join one
// leave, and presence is empty at the end.
func TestEventsPairUnderChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of connections")
	}
	_, url := startNATS(t)
	presenceWorker(t, url, 2*time.Second)
	g := gateway(t, url, func(c *Config) { c.MaxConnsPerIP = 0 })
	const n, par = 2000, 8
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for w := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += par {
				ws, _, err := websocket.DefaultDialer.Dial(g.url+"/ws/room/churn", nil)
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
				}
				ws.UnderlyingConn().Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "every connection to end", func() bool { return g.Clients() == 0 })
	nc := natsConn(t, url)
	eventually(t, 30*time.Second, "the outbox to empty", func() bool { return g.out.Pending() == 0 })
	evs := streamEvents(t, nc)
	if len(byID(evs)) != 4*n {
		t.Fatalf("%d events, want %d", len(byID(evs)), 4*n)
	}
	reasons := pairing(t, evs)
	for conn, r := range reasons {
		if r != contract.ReasonClient {
			t.Fatalf("conn %s: reason %s", conn, r)
		}
	}
	watcher := dialRooms(t, g.url, nil)
	watcher.whoIs("churn", contract.PresenceAnswer{Users: users()})
}

// natsPort is the port of a nats:// URL.
func natsPort(t testing.TB, u string) int {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p.Port())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
