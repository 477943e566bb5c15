package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

// reverser answers the requests on subject k at a time, the last first,
// as answer makes them: a worker, or several, that overtake each other.
// The gateway must have k frames of a connection in flight at once, or
// the worker would wait forever.
func reverser(t *testing.T, url, subject string, k int, answer func(req *nats.Msg) *nats.Msg) {
	t.Helper()
	var mu sync.Mutex
	var held []*nats.Msg
	nc := natsConn(t, url)
	hostileWorker(t, url, subject, func(m *nats.Msg) *nats.Msg {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, m)
		if len(held) < k {
			return nil
		}
		for i := len(held) - 1; i >= 0; i-- {
			r := answer(held[i])
			r.Subject = held[i].Reply
			_ = nc.PublishMsg(r)
		}
		held = held[:0]
		return nil
	})
}

// Answers that come back out of order reach the client in the order its
// frames were sent.
func TestPipelinedEchoInOrder(t *testing.T) {
	_, url := startNATS(t)
	const k = 8
	reverser(t, url, contract.EchoSubject, k, func(req *nats.Msg) *nats.Msg {
		return msgWith("echo: "+string(req.Data), contract.HeaderFrame, contract.FrameText)
	})
	g := gateway(t, url, noRateLimit)
	ws := dial(t, g.url+"/ws", nil)
	for i := 0; i < 4*k; i++ {
		send(t, ws, websocket.TextMessage, strconv.Itoa(i))
	}
	for i := 0; i < 4*k; i++ {
		if _, got := read(t, ws); got != "echo: "+strconv.Itoa(i) {
			t.Fatalf("answer %d: %q", i, got)
		}
	}
}

// Broadcasts that a room worker answers out of order reach every member,
// on both gateways, in the order the sender sent its frames.
func TestPipelinedRoomInOrder(t *testing.T) {
	_, url := startNATS(t)
	const k = 8
	reverser(t, url, contract.RoomInWildcard(contract.RoomSubject), k, func(req *nats.Msg) *nats.Msg {
		return msgWith(string(req.Data), contract.HeaderFrame, contract.FrameText, contract.HeaderBroadcast, "1")
	})
	g1, g2 := gateway(t, url, noRateLimit), gateway(t, url, noRateLimit)
	sender := dial(t, g1.url+"/ws/room/rev", nil)
	near := dial(t, g1.url+"/ws/room/rev", nil)
	far := dial(t, g2.url+"/ws/room/rev", nil)
	for i := 0; i < 4*k; i++ {
		send(t, sender, websocket.TextMessage, strconv.Itoa(i))
	}
	for _, ws := range []*websocket.Conn{sender, near, far} {
		for i := 0; i < 4*k; i++ {
			if _, got := read(t, ws); got != strconv.Itoa(i) {
				t.Fatalf("broadcast %d: %q", i, got)
			}
		}
	}
}

// watcher answers requests after a random few milliseconds and records,
// from the sequence numbers in their reply subjects, how far apart the
// frames it holds at once are: with in_flight n, the gateway sends frame
// s only after it released frame s-n, so never further apart than n-1.
type watcher struct {
	mu      sync.Mutex
	held    map[uint64]bool
	maxHeld int
	spread  uint64 // largest seq - smallest held seq seen
}

func watch(t *testing.T, url string) *watcher {
	w := &watcher{held: map[uint64]bool{}}
	nc := natsConn(t, url)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	hostileWorker(t, url, contract.EchoSubject, func(m *nats.Msg) *nats.Msg {
		seq, _ := strconv.ParseUint(m.Reply[strings.LastIndexByte(m.Reply, '.')+1:], 10, 64)
		w.mu.Lock()
		w.held[seq] = true
		w.maxHeld = max(w.maxHeld, len(w.held))
		for s := range w.held {
			if seq > s {
				w.spread = max(w.spread, seq-s)
			}
		}
		w.mu.Unlock()
		wg.Add(1)
		time.AfterFunc(time.Duration(rand.IntN(3000))*time.Microsecond, func() {
			defer wg.Done()
			w.mu.Lock()
			delete(w.held, seq)
			w.mu.Unlock()
			r := msgWith("echo: "+string(m.Data), contract.HeaderFrame, contract.FrameText)
			r.Subject = m.Reply
			_ = nc.PublishMsg(r)
		})
		return nil
	})
	return w
}

// A route's in_flight bounds how many of a connection's frames its
// workers hold at once; 1 hands them over one after another.
func TestInFlightBoundsWhatWorkersHold(t *testing.T) {
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, url := startNATS(t)
			w := watch(t, url)
			g := gateway(t, url, noRateLimit, inFlight(n))
			ws := dial(t, g.url+"/ws", nil)
			const frames = 60
			for i := 0; i < frames; i++ {
				send(t, ws, websocket.TextMessage, strconv.Itoa(i))
			}
			for i := 0; i < frames; i++ {
				if _, got := read(t, ws); got != "echo: "+strconv.Itoa(i) {
					t.Fatalf("answer %d: %q", i, got)
				}
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.spread >= uint64(n) || w.maxHeld > n {
				t.Fatalf("in_flight %d: frames %d apart held at once, %d held at once", n, w.spread, w.maxHeld)
			}
			if n > 1 && w.maxHeld < 2 {
				t.Fatalf("in_flight %d: never more than one frame in flight", n)
			}
		})
	}
}

// A frame whose worker never answers is dropped after the worker timeout,
// counted and logged with its route; the frames after it, answered long
// before, are released then, in order.
func TestMiddleFrameTimesOut(t *testing.T) {
	_, url := startNATS(t)
	echoWorker(t, url, contract.EchoSubject, func(body string) time.Duration {
		if body == "2" {
			return -1
		}
		return 0
	})
	var logs natstest.LogBuffer
	g := gatewayLogging(t, url, slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) {
		noRateLimit(c)
		c.WorkerTimeout = 300 * time.Millisecond
	})
	ws := dial(t, g.url+"/ws", nil)
	for i := 0; i < 6; i++ {
		send(t, ws, websocket.TextMessage, strconv.Itoa(i))
	}
	for _, want := range []string{"0", "1", "3", "4", "5"} {
		if _, got := read(t, ws); got != "echo: "+want {
			t.Fatalf("got %q, want echo: %s", got, want)
		}
	}
	if n := testutil.ToFloat64(g.m.WorkerTimeouts); n != 1 {
		t.Fatalf("%v timeouts counted", n)
	}
	if l := logs.String(); !strings.Contains(l, "worker did not answer in time") || !strings.Contains(l, "route=/ws ") {
		t.Fatalf("timeout not logged with its route:\n%s", l)
	}
	send(t, ws, websocket.TextMessage, "after")
	if _, got := read(t, ws); got != "echo: after" {
		t.Fatalf("after the timeout: %q", got)
	}
}

// Frames in flight when no worker listens: the client is closed with 1013
// once, and the other answers are dropped with its window.
func TestNoRespondersWithFramesInFlight(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url, noRateLimit)
	ws := dial(t, g.url+"/ws", nil)
	for i := 0; i < 10; i++ {
		if ws.WriteMessage(websocket.TextMessage, []byte(strconv.Itoa(i))) != nil {
			break // closed already
		}
	}
	if code := closeCode(t, ws, 3*time.Second); code != 1013 {
		t.Fatalf("close %d, want 1013", code)
	}
	eventually(t, 3*time.Second, "the client to go", func() bool { return g.Clients() == 0 })
	if n := testutil.ToFloat64(g.m.NoResponders); n != 1 {
		t.Fatalf("%v no-responders counted", n)
	}
}

// A client that goes while its frames are in flight leaves nothing behind:
// the answers that come later are dropped (goleak checks the goroutines).
func TestCloseWithFramesInFlight(t *testing.T) {
	_, url := startNATS(t)
	var mu sync.Mutex
	var held []*nats.Msg
	nc := hostileWorker(t, url, contract.EchoSubject, func(m *nats.Msg) *nats.Msg {
		mu.Lock()
		held = append(held, m)
		mu.Unlock()
		return nil
	})
	g := gateway(t, url, noRateLimit)
	ws := dial(t, g.url+"/ws", nil)
	for i := 0; i < 10; i++ {
		send(t, ws, websocket.TextMessage, strconv.Itoa(i))
	}
	eventually(t, 3*time.Second, "frames in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(held) == 10
	})
	ws.Close()
	eventually(t, 3*time.Second, "the client to go", func() bool { return g.Clients() == 0 })
	mu.Lock()
	for _, m := range held {
		r := msgWith("late", contract.HeaderFrame, contract.FrameText)
		r.Subject = m.Reply
		_ = nc.PublishMsg(r)
	}
	mu.Unlock()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(g.m.FramesOut); n != 0 {
		t.Fatalf("%v frames written after the client went", n)
	}
}

// requestsPerInstance asks every instance of a NATS micro service how many
// requests it handled.
func requestsPerInstance(t *testing.T, url, service string, instances int) []int {
	t.Helper()
	nc := natsConn(t, url)
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SRV.STATS."+service, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var counts []int
	for len(counts) < instances {
		m, err := sub.NextMsg(3 * time.Second)
		if err != nil {
			t.Fatalf("stats of %d of %d instances: %v", len(counts), instances, err)
		}
		var st micro.Stats
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range st.Endpoints {
			n += e.NumRequests
		}
		counts = append(counts, n)
	}
	return counts
}

// One connection's frames, several in flight at once, are spread over two
// echo workers and two room workers, and every answer and broadcast still
// comes in the order sent.
func TestPipelinedOrderAcrossTwoWorkers(t *testing.T) {
	_, url := startNATS(t)
	for _, role := range []string{"echo", "echo", "room", "room"} {
		worker(t, url, role)
	}
	g1, g2 := gateway(t, url, noRateLimit), gateway(t, url, noRateLimit)
	const n = 2000
	flood := func(ws *websocket.Conn) {
		go func() {
			for i := 0; i < n; i++ {
				if ws.WriteMessage(websocket.TextMessage, []byte(strconv.Itoa(i))) != nil {
					return
				}
			}
		}()
	}
	echo := dial(t, g1.url+"/ws", nil)
	flood(echo)
	for i := 0; i < n; i++ {
		if _, got := read(t, echo); got != "echo: "+strconv.Itoa(i) {
			t.Fatalf("echo %d: %q", i, got)
		}
	}
	sender := dial(t, g1.url+"/ws/room/two", nil)
	far := dial(t, g2.url+"/ws/room/two", nil)
	flood(sender)
	for _, ws := range []*websocket.Conn{sender, far} {
		for i := 0; i < n; i++ {
			if _, got := read(t, ws); got != strconv.Itoa(i) {
				t.Fatalf("broadcast %d: %q", i, got)
			}
		}
	}
	for _, service := range []string{"echo", "room"} {
		counts := requestsPerInstance(t, url, service, 2)
		if counts[0] == 0 || counts[1] == 0 || counts[0]+counts[1] != n {
			t.Fatalf("%s instances handled %v of %d frames", service, counts, n)
		}
	}
}

// A member that does not read is closed as a slow consumer once its queue
// is full: counted, and logged with its route and room.
func TestSlowConsumerLogged(t *testing.T) {
	_, url := startNATS(t)
	var logs natstest.LogBuffer
	g := gatewayLogging(t, url, slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) {
		c.SendQueueBytes = 64 << 10
		c.WriteTimeout = time.Hour // only the queue's bound can close it
	})
	slowDialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := slowDialer.Dial(g.url+"/ws/room/stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	out := contract.RoomOut(contract.RoomSubject, "stuck")
	pub := natsConn(t, url)
	payload := []byte(strings.Repeat("p", 1000))
	for i := 0; testutil.ToFloat64(g.m.SlowConsumers) == 0; i++ {
		if i == 100_000 {
			t.Fatal("never closed")
		}
		msg := &nats.Msg{Subject: out, Data: payload, Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}}
		if err := pub.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			_ = pub.Flush()
		}
	}
	eventually(t, 3*time.Second, "the slow consumer logged", func() bool {
		l := logs.String()
		return strings.Contains(l, "client too slow") && strings.Contains(l, "route=/ws/room ") && strings.Contains(l, "room=stuck")
	})
}

// With GATEWAY_COMPRESSION, clients that negotiated permessage-deflate get
// answers and broadcasts compressed by gorilla, the others plain, through
// the same coalesced writes.
func TestCompressionWithCoalescedWrites(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	worker(t, url, "room")
	g := gateway(t, url, noRateLimit, func(c *Config) { c.Compression = true })
	var plainBytes, deflateBytes atomic.Int64
	counting := func(n *atomic.Int64, compress bool) *websocket.Dialer {
		return &websocket.Dialer{EnableCompression: compress, NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			return countingConn{c, n}, err
		}}
	}
	deflate := websocket.Dialer{EnableCompression: true}
	dialWith := func(d *websocket.Dialer, path string, compressed bool) *websocket.Conn {
		ws, resp, err := d.Dial(g.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		if got := strings.Contains(resp.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate"); got != compressed {
			t.Fatalf("%s: compression negotiated %v", path, got)
		}
		return ws
	}
	echo := dialWith(&deflate, "/ws", true)
	sender := dialWith(counting(&deflateBytes, true), "/ws/room/z", true)
	plain := dialWith(counting(&plainBytes, false), "/ws/room/z", false)
	const n = 50
	body := func(i int) string { return strings.Repeat(strconv.Itoa(i%10), 200+i) }
	for i := 0; i < n; i++ {
		send(t, echo, websocket.TextMessage, body(i))
		send(t, sender, websocket.TextMessage, body(i))
	}
	for i := 0; i < n; i++ {
		if _, got := read(t, echo); got != "echo: "+body(i) {
			t.Fatalf("echo %d: %.20q", i, got)
		}
	}
	for _, ws := range []*websocket.Conn{sender, plain} {
		for i := 0; i < n; i++ {
			if _, got := read(t, ws); got != body(i) {
				t.Fatalf("broadcast %d: %.20q", i, got)
			}
		}
	}
	if d, p := deflateBytes.Load(), plainBytes.Load(); d*4 > p {
		t.Fatalf("the compressed member read %d bytes, the plain one %d", d, p)
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
