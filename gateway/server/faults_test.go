package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/shared/natstest"
	"github.com/wsgate/wsgate/worker/echo"
)

// Shutdown closes every client with 1001, spread over the drain window so
// they do not all come back in the same instant.
func TestDrainSpreadsCloses(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, func(c *Config) { c.DrainWindow = time.Second })
	const n = 20
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		ws := dial(t, g.url+"/ws", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _, err := ws.ReadMessage()
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
				t.Errorf("client closed with %v", err)
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	wg.Wait()
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	// 20 uniform draws over 1 s fall within 300 ms of each other with a
	// probability below 1e-8.
	if span := at[n-1].Sub(at[0]); span < 300*time.Millisecond {
		t.Fatalf("closes spread over only %v", span)
	}
	if g.Clients() != 0 {
		t.Fatalf("%d clients left", g.Clients())
	}
}

// NATS goes away and comes back on the same port. Meanwhile /readyz is 503,
// connected clients stay connected, a frame fails fast with 1013 and new
// upgrades are refused; afterwards rooms and workers work again without any
// restart.
func TestNATSOutage(t *testing.T) {
	ns := natstest.Start(t)
	url := ns.ClientURL()
	port := ns.Addr().(*net.TCPAddr).Port
	worker(t, url, "echo")
	worker(t, url, "room")
	g := gateway(t, url)

	member := dial(t, g.url+"/ws/room/outage", nil)
	other := dial(t, g.url+"/ws/room/outage", nil)
	echoer := dial(t, g.url+"/ws", nil)
	send(t, member, websocket.TextMessage, "before")
	read(t, member)
	read(t, other)

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, 5*time.Second, "/readyz to turn 503", func() bool { return readyz(t, g) == 503 })
	send(t, echoer, websocket.TextMessage, "during")
	if code := closeCode(t, echoer, 3*time.Second); code != 1013 {
		t.Fatalf("frame during outage: close %d", code)
	}
	if st := dialStatus(t, g.url+"/ws", nil); st != 503 {
		t.Fatalf("upgrade during outage: %d", st)
	}

	natstest.StartOn(t, port)
	eventually(t, 15*time.Second, "/readyz to turn 200", func() bool { return readyz(t, g) == 200 })
	// The workers reconnect on their own schedule: wait until both answer.
	probe := natsConn(t, url)
	for _, svc := range []string{"echo", "room"} {
		eventually(t, 15*time.Second, svc+" worker to be back", func() bool {
			_, err := probe.Request("$SRV.PING."+svc, nil, 200*time.Millisecond)
			return err == nil
		})
	}
	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "after")
	if _, got := read(t, ws); got != "echo: after" {
		t.Fatalf("new client after outage: %q", got)
	}
	// The members that stayed connected get broadcasts again: the room
	// subscription came back with the connection.
	send(t, member, websocket.TextMessage, "after")
	for _, m := range []*websocket.Conn{member, other} {
		if _, got := read(t, m); got != "after" {
			t.Fatalf("member after outage: %q", got)
		}
	}
}

func readyz(t *testing.T, g *gw) int {
	resp, err := http.Get(g.ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Killing one of two echo workers while frames flow loses at most the frame
// in flight at it per connection; the other worker serves the rest, in order.
func TestWorkerLoss(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	victim, err := natsconn.Connect(url, "victim", quiet)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := echo.Add(victim, "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	defer victim.Close()
	_ = victim.Flush()
	// One frame in flight per connection: at most that one is lost.
	g := gateway(t, url, noRateLimit, inFlight(1), func(c *Config) { c.WorkerTimeout = 300 * time.Millisecond })

	const conns, n = 3, 600
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var killOnce sync.Once
	for c := 0; c < conns; c++ {
		ws := dial(t, g.url+"/ws", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			go func() {
				for i := 0; i < n; i++ {
					if ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))) != nil {
						return
					}
				}
			}()
			last, got := -1, 0
			for last < n-1 {
				_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, msg, err := ws.ReadMessage()
				if err != nil {
					t.Errorf("after %d answers: %v", got, err)
					return
				}
				var i int
				fmt.Sscanf(string(msg), "echo: %d", &i)
				if i <= last {
					t.Errorf("answer %d after %d: out of order", i, last)
					return
				}
				last, got = i, got+1
				if got == n/3 {
					killOnce.Do(func() { victim.Close(); close(killed) }) // a crash: no drain
				}
			}
			if lost := n - got; lost > 1 {
				t.Errorf("lost %d frames on one connection; at most the one in flight may go", lost)
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the worker was never killed")
	}
}
