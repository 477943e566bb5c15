package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/admit"
	"github.com/wsgate/wsgate/shared/contract"
)

// With permessage-deflate the limit holds for the inflated size: 1 MiB of
// zeros compresses to about a kilobyte and must still be refused.
func TestCompressedFrameCountsInflatedBytes(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, func(c *Config) { c.Compression = true; c.MaxMessageBytes = 64 << 10 })
	d := websocket.Dialer{EnableCompression: true}
	ws, resp, err := d.Dial(g.url+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if !strings.Contains(resp.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
		t.Fatalf("compression not negotiated: %v", resp.Header)
	}
	send(t, ws, websocket.TextMessage, "small")
	if _, got := read(t, ws); got != "echo: small" {
		t.Fatalf("got %q", got)
	}
	send(t, ws, websocket.BinaryMessage, string(make([]byte, 1<<20)))
	if code := closeCode(t, ws, 3*time.Second); code != 1009 {
		t.Fatalf("close %d, want 1009", code)
	}
}

// A flooding client is closed with 1008 and costs the backend no more than
// its budget; a well-behaved client next to it is served throughout.
func TestRateLimit(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, func(c *Config) { c.RatePerSecond = 20; c.RateBurst = 10 })
	nc := natsConn(t, url)
	var reached atomic.Int64
	flood := dial(t, g.url+"/ws", nil)
	calm := dial(t, g.url+"/ws", nil)

	// Count what the flooder gets through to NATS.
	sub, err := nc.Subscribe(contract.EchoSubject, func(m *nats.Msg) {
		if string(m.Data) == "flood" {
			reached.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = nc.Flush()

	start := time.Now()
	go func() {
		for i := 0; i < 500; i++ {
			if flood.WriteMessage(websocket.TextMessage, []byte("flood")) != nil {
				return
			}
		}
	}()
	_ = flood.SetReadDeadline(time.Now().Add(5 * time.Second))
	var closeErr *websocket.CloseError
	for {
		_, _, err := flood.ReadMessage()
		if err != nil {
			var ok bool
			if closeErr, ok = err.(*websocket.CloseError); !ok {
				t.Fatalf("flooder: %v", err)
			}
			break
		}
	}
	if closeErr.Code != 1008 || !strings.Contains(closeErr.Text, "rate") {
		t.Fatalf("flooder closed with %d %q", closeErr.Code, closeErr.Text)
	}
	budget := 10 + 20*time.Since(start).Seconds() + 1
	if n := reached.Load(); float64(n) > budget {
		t.Fatalf("flooder got %d frames to NATS, budget %.0f", n, budget)
	}
	for i := 0; i < 10; i++ {
		send(t, calm, websocket.TextMessage, fmt.Sprint(i))
		if _, got := read(t, calm); got != fmt.Sprintf("echo: %d", i) {
			t.Fatalf("calm client: %q", got)
		}
	}
}

// The gateway pings; a peer that never answers is dropped with all it held
// within interval+timeout; a peer that answers stays; a client's own pings
// are answered.
func TestHeartbeats(t *testing.T) {
	s, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, noRateLimit, func(c *Config) { c.PingInterval = 100 * time.Millisecond; c.PongTimeout = 150 * time.Millisecond })

	// A peer that never reads never answers pings.
	mute := dial(t, g.url+"/ws/room/hb", nil)
	_ = mute
	out := contract.RoomOut(contract.RoomSubject, "hb")
	eventually(t, 3*time.Second, "the mute peer to be dropped", func() bool { return g.Clients() == 0 && g.Hub().Rooms() == 0 })
	eventually(t, 3*time.Second, "its interest to go", func() bool { return interest(t, s, out) == 0 })

	// A live peer answers pings (gorilla does, while reading) and stays.
	live := dial(t, g.url+"/ws", nil)
	var pings atomic.Int32
	live.SetPingHandler(func(data string) error {
		pings.Add(1)
		return live.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	pongs := make(chan struct{}, 1)
	live.SetPongHandler(func(string) error { pongs <- struct{}{}; return nil })
	if err := live.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := 0; pings.Load() < 5; i++ {
		send(t, live, websocket.TextMessage, "x")
		if _, got := read(t, live); got != "echo: x" {
			t.Fatalf("got %q", got)
		}
	}
	select {
	case <-pongs:
	default:
		t.Fatal("the client's ping was not answered")
	}
	if g.Clients() != 1 {
		t.Fatalf("live client dropped")
	}
}

func TestAllowedOrigins(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	origins, err := admit.ParseOrigins("https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	g := gateway(t, url, func(c *Config) { c.AllowedOrigins = origins })
	dial(t, g.url+"/ws", http.Header{"Origin": {"https://app.example.com"}})
	dial(t, g.url+"/ws", nil)
	if st := dialStatus(t, g.url+"/ws", http.Header{"Origin": {"https://app.example.com.evil.io"}}); st != 403 {
		t.Fatalf("foreign origin: %d", st)
	}
}

func TestAdmissionLimits(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, func(c *Config) { c.MaxConnections = 2; c.MaxConnsPerIP = 2 })
	a := dial(t, g.url+"/ws", nil)
	dial(t, g.url+"/ws", nil)
	resp := refused(t, g.url+"/ws")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("gateway full: %d %v", resp.StatusCode, resp.Header)
	}
	a.Close()
	eventually(t, 3*time.Second, "the slot to come back", func() bool { return g.limiter.Open() == 1 })
	dial(t, g.url+"/ws", nil)

	p := gateway(t, url, func(c *Config) { c.MaxConnections = 100; c.MaxConnsPerIP = 1 })
	dial(t, p.url+"/ws", nil)
	resp = refused(t, p.url+"/ws")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("per-IP limit: %d %v", resp.StatusCode, resp.Header)
	}
}

func refused(t *testing.T, url string) *http.Response {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		ws.Close()
		t.Fatalf("%s: connection accepted", url)
	}
	if resp == nil {
		t.Fatal(err)
	}
	return resp
}

// Slowloris: a handshake that does not finish in time is dropped; a header
// block over the bound is refused.
func TestHandshakeBounds(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond; c.MaxHeaderBytes = 4 << 10 })
	addr := strings.TrimPrefix(g.ts.URL, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a handshake open past its timeout")
			}
			break // closed by the server
		}
	}

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	big := "GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n"
	_, _ = c2.Write([]byte(big))
	resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big header: %d", resp.StatusCode)
	}
}

// A member that stops reading is closed once its queue passes the bound,
// and the others in its room get every frame in order meanwhile.
func TestSlowConsumer(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url, func(c *Config) { c.SendQueueBytes = 64 << 10; c.WriteTimeout = 300 * time.Millisecond })
	slowDialer := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := slowDialer.Dial(g.url+"/ws/room/busy", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast := dial(t, g.url+"/ws/room/busy", nil)
	out := contract.RoomOut(contract.RoomSubject, "busy")

	pub := natsConn(t, url)
	const n = 4000
	payload := strings.Repeat("p", 1000)
	done := make(chan error, 1)
	credits := make(chan struct{}, 32) // frames the publisher may be ahead
	go func() {
		for i := 0; i < n; i++ {
			_ = fast.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, got, err := fast.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			if want := fmt.Sprintf("%04d", i); string(got[:4]) != want {
				done <- fmt.Errorf("frame %d: got %q", i, got[:4])
				return
			}
			<-credits
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		// Keep the room busy at the pace a healthy member sustains.
		credits <- struct{}{}
		msg := &nats.Msg{Subject: out, Data: []byte(fmt.Sprintf("%04d", i) + payload), Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}}
		if err := pub.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("fast member: %v", err)
	}
	eventually(t, 5*time.Second, "the slow member to be closed", func() bool {
		m, _ := g.Hub().Members(out)
		return m == 1
	})
}

// A reply slower than the heartbeat window does not cost a live client its
// socket: the wait for a worker is not silence.
func TestSlowWorkerWithShortHeartbeats(t *testing.T) {
	_, url := startNATS(t)
	nc := natsConn(t, url)
	sub, err := nc.Subscribe(contract.EchoSubject, func(m *nats.Msg) {
		time.Sleep(500 * time.Millisecond) // a slow worker
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(contract.HeaderFrame, contract.FrameText)
		reply.Data = append([]byte("slow: "), m.Data...)
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = nc.Flush()
	g := gateway(t, url, func(c *Config) {
		c.PingInterval, c.PongTimeout, c.WorkerTimeout = 100*time.Millisecond, 100*time.Millisecond, 2*time.Second
	})
	ws := dial(t, g.url+"/ws", nil)
	for i := 0; i < 2; i++ {
		send(t, ws, websocket.TextMessage, "x")
		if _, got := read(t, ws); got != "slow: x" {
			t.Fatalf("round %d: %q", i, got)
		}
	}
}
