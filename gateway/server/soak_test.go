//go:build soak

package server

// The soak: thousands of clients with mixed traffic for minutes, then a
// check that goroutines, heap and file descriptors return to their
// baseline. Run it with `task soak` (SOAK_CONNS, SOAK_DURATION).

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type usage struct {
	goroutines int
	heapMiB    float64
	fds        int
}

func measure() usage {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return usage{runtime.NumGoroutine(), float64(ms.HeapInuse) / (1 << 20), len(fds)}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestSoak(t *testing.T) {
	conns := envInt("SOAK_CONNS", 3000)
	dur, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || dur <= 0 {
		dur = 2 * time.Minute
	}
	_, url := startNATS(t)
	worker(t, url, "echo")
	worker(t, url, "room")
	worker(t, url, "auth")
	g := gateway(t, url, func(c *Config) { c.PingInterval = 5 * time.Second; c.MaxConnsPerIP = 0 })

	base := measure()
	var sent, received, closedByPeer atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup

	// One client: connect, talk or idle, and sometimes drop abruptly and
	// come back, until stop.
	run := func(i int) {
		defer wg.Done()
		kind := i % 3
		for {
			path := "/ws"
			switch kind {
			case 1:
				path = fmt.Sprintf("/ws/room/soak-%d", i%50)
			case 2:
				path = "/ws" // idle
			}
			ws, _, err := websocket.DefaultDialer.Dial(g.url+path, nil)
			if err != nil {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					continue
				}
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						if _, ok := err.(*websocket.CloseError); ok {
							closedByPeer.Add(1)
						}
						return
					}
					received.Add(1)
				}
			}()
			life := time.NewTimer(time.Duration(10+rand.IntN(50)) * time.Second)
			tick := time.NewTicker(time.Duration(1+kind*4) * time.Second)
			alive := true
			for alive {
				select {
				case <-stop:
					_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
					ws.Close()
					<-done
					tick.Stop()
					return
				case <-done:
					alive = false
				case <-life.C:
					if rand.IntN(2) == 0 {
						_ = ws.UnderlyingConn().(*net.TCPConn).SetLinger(0) // abrupt drop
					}
					ws.Close()
					<-done
					alive = false
				case <-tick.C:
					if kind != 2 {
						if ws.WriteMessage(websocket.TextMessage, []byte("soak traffic")) == nil {
							sent.Add(1)
						}
					}
				}
			}
			tick.Stop()
		}
	}
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go run(i)
	}
	eventually(t, time.Minute, "clients to connect", func() bool { return g.Clients() >= conns*9/10 })
	peak := measure()
	peakClients := g.Clients()
	time.Sleep(dur) // the soak itself: let traffic run
	close(stop)
	wg.Wait()
	eventually(t, 30*time.Second, "every client to go", func() bool { return g.Clients() == 0 && g.Hub().Rooms() == 0 })
	after := measure()

	t.Logf("soak: %d clients for %v; frames sent %d, received %d", peakClients, dur, sent.Load(), received.Load())
	t.Logf("%-12s %10s %10s %10s", "", "goroutines", "heap MiB", "fds")
	for _, r := range []struct {
		name string
		u    usage
	}{{"before", base}, {"under load", peak}, {"after", after}} {
		t.Logf("%-12s %10d %10.1f %10d", r.name, r.u.goroutines, r.u.heapMiB, r.u.fds)
	}
	if after.goroutines > base.goroutines+5 {
		t.Errorf("goroutines: %d after, %d before", after.goroutines, base.goroutines)
	}
	if after.fds > base.fds+5 {
		t.Errorf("file descriptors: %d after, %d before", after.fds, base.fds)
	}
	if after.heapMiB > base.heapMiB+16 {
		t.Errorf("heap: %.1f MiB after, %.1f MiB before", after.heapMiB, base.heapMiB)
	}
	if received.Load() == 0 {
		t.Error("no traffic flowed")
	}
}
