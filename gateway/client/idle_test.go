package client

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/shared/contract"
)

// frames is a Handler that hands every data frame to the test.
type frames chan string

func (f frames) Frame(_ int, data []byte) { f <- string(data) }

// servedWith runs a Conn whose frames go to a frames handler, over a real
// socket; peer is the client's end.
func servedWith(t *testing.T, opts Options) (c *Conn, peer *websocket.Conn, got frames) {
	t.Helper()
	got = make(frames, 16)
	c, peer = servedBy(t, opts, got)
	return c, peer, got
}

// servedBy runs a Conn whose frames go to h (nil: forward to
// opts.Publisher).
func servedBy(t *testing.T, opts Options, h Handler) (c *Conn, peer *websocket.Conn) {
	t.Helper()
	m := metrics.NewGateway()
	opts.Metrics, opts.Outbound, opts.Inbox, opts.Log = m, NewOutbound(1<<20, m, quiet), "inbox", quiet
	opts.MaxMessageBytes, opts.SendQueueBytes = 1<<16, 1<<20
	opts.CloseGrace, opts.WriteTimeout = time.Second, time.Second
	opts.WorkerTimeout = 5 * time.Second
	conns := make(chan *Conn, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := New("1", "nowhere", Identity{Gateway: "gw"}, nil, &opts)
		if c.Upgrade(&websocket.Upgrader{}, w, r, nil) != nil {
			close(done)
			return
		}
		conns <- c
		c.Run(h, func() { close(done) })
	}))
	t.Cleanup(srv.Close)
	peer, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); <-done })
	return <-conns, peer
}

// reader returns the stack of the goroutine reading for a client (the one
// in readFrames), or "" when there is none yet.
func reader() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "client.(*Conn).readFrames") {
			return g
		}
	}
	return ""
}

// pongs collects the payloads of the pongs the peer gets; the peer must be
// read for them to arrive.
func pongs(peer *websocket.Conn) chan string {
	ch, _ := peerReads(peer)
	return ch
}

// peerReads reads the peer: the payloads of its pongs, and its messages.
func peerReads(peer *websocket.Conn) (pongs, msgs chan string) {
	pongs, msgs = make(chan string, 16), make(chan string, 16)
	peer.SetPongHandler(func(data string) error { pongs <- data; return nil })
	go func() {
		for {
			_, m, err := peer.ReadMessage()
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(m)
		}
	}()
	return pongs, msgs
}

// receive checks that the next value on ch, within 5 s, is want.
func receive(t *testing.T, what string, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s %q, want %q", what, got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s %q", what, want)
	}
}

// An idle reader waits in await, not inside gorilla (where its stack needs
// 4 KiB): at first, after answering pings itself, and, once quiet after a
// data frame, on a fresh goroutine. Bytes await read reach gorilla intact.
func TestIdleReaderWaitsShallow(t *testing.T) {
	// With a heartbeat, as in production: moving the read deadline counts
	// as work that may grow a stack.
	_, peer, got := servedWith(t, Options{PingInterval: time.Minute, PongTimeout: time.Minute})
	ch := pongs(peer)
	parked := func() string {
		t.Helper()
		var g string
		eventually(t, "the reader parked", func() bool {
			g = reader()
			return strings.Contains(g, "IO wait")
		})
		if !strings.Contains(g, "client.(*Conn).await") || strings.Contains(g, "NextReader") {
			t.Fatalf("the idle reader waits elsewhere than in await:\n%s", g)
		}
		return g
	}
	if g := parked(); !strings.Contains(g, "created by github.com/wsgate/wsgate/gateway/client.(*Conn).Run") {
		t.Fatalf("first reader not started by Run:\n%s", g)
	}

	// A ping is answered with its payload, and the reader waits in await
	// again (gorilla never saw the ping).
	if err := peer.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	receive(t, "pong", ch, "p1")
	parked()

	// A data frame goes through gorilla; once the client is quiet for
	// quietFor, its next wake-up (a ping) hands the reader over.
	if err := peer.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	receive(t, "frame", got, "hello")
	waitHandOver(t, peer, ch)
	parked()

	// The fresh reader still reads frames.
	if err := peer.WriteMessage(websocket.TextMessage, []byte("again")); err != nil {
		t.Fatal(err)
	}
	receive(t, "frame", got, "again")
}

// What await cannot judge whole is gorilla's: a ping split across reads is
// still answered, a ping followed by a data frame in one read delivers
// both, and an unmasked ping (a protocol error) fails the connection with
// 1002.
func TestAwaitLeavesTheRestToGorilla(t *testing.T) {
	masked := func(op byte, payload string) []byte {
		key := [4]byte{1, 2, 3, 4}
		b := []byte{0x80 | op, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
		for i := range len(payload) {
			b = append(b, payload[i]^key[i%4])
		}
		return b
	}
	t.Run("split ping", func(t *testing.T) {
		_, peer, _ := servedWith(t, Options{})
		ch := pongs(peer)
		ping := masked(websocket.PingMessage, "split")
		raw := peer.UnderlyingConn()
		if _, err := raw.Write(ping[:4]); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first bytes were read", func() bool { return !strings.Contains(reader(), "client.(*Conn).await") })
		if _, err := raw.Write(ping[4:]); err != nil {
			t.Fatal(err)
		}
		receive(t, "pong", ch, "split")
	})
	t.Run("ping then data", func(t *testing.T) {
		_, peer, got := servedWith(t, Options{})
		ch := pongs(peer)
		b := append(masked(websocket.PingMessage, "first"), masked(websocket.TextMessage, "then data")...)
		if _, err := peer.UnderlyingConn().Write(b); err != nil {
			t.Fatal(err)
		}
		receive(t, "pong", ch, "first")
		receive(t, "frame", got, "then data")
	})
	t.Run("unmasked ping", func(t *testing.T) {
		_, peer, _ := servedWith(t, Options{})
		if _, err := peer.UnderlyingConn().Write([]byte{0x89, 0x01, 'x'}); err != nil {
			t.Fatal(err)
		}
		_, _, err := peer.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseProtocolError) {
			t.Fatalf("got %v, want close 1002", err)
		}
	})
}

// published hands the test the reply subject of every frame forwarded.
type published chan string

func (p published) PublishMsg(m *nats.Msg) error { p <- m.Reply; return nil }

// waitHandOver pings until the reader was handed over to a fresh goroutine.
func waitHandOver(t *testing.T, peer *websocket.Conn, ch chan string) {
	t.Helper()
	// A hand-over needs quietFor to pass first: more than eventually's 3 s
	// would be needed on a loaded machine, so poll for 10 s.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the reader to hand over")
		}
		if err := peer.WriteControl(websocket.PingMessage, []byte("tick"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		receive(t, "pong", ch, "tick")
		if g := reader(); strings.Contains(g, "created by github.com/wsgate/wsgate/gateway/client.(*Conn).read") && strings.Contains(g, "IO wait") {
			return
		}
	}
}

// A client that went quiet holds no frames-in-flight state; its next
// frame makes it again, numbering on, so a late answer to a frame from
// before is still recognised as late and dropped.
func TestQuietClientDropsItsPipe(t *testing.T) {
	pub := make(published, 4)
	c, peer := servedBy(t, Options{Publisher: pub, Inbox: "inbox"}, nil)
	ch, msgs := peerReads(peer)
	answer := func(seq uint64, body string) {
		c.Reply(seq, &nats.Msg{Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}, Data: []byte(body)})
	}
	send := func(body, wantReply string) {
		t.Helper()
		if err := peer.WriteMessage(websocket.TextMessage, []byte(body)); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-pub:
			if r != wantReply {
				t.Fatalf("frame %q sent with reply subject %q, want %q", body, r, wantReply)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("frame %q not forwarded", body)
		}
	}
	send("a", "inbox.1.1")
	send("b", "inbox.1.2")
	answer(2, "B")
	answer(1, "A") // releases both, in order
	receive(t, "message", msgs, "A")
	receive(t, "message", msgs, "B")
	waitHandOver(t, peer, ch)
	if c.pipe.Load() != nil {
		t.Fatal("a quiet client kept its pipe")
	}
	answer(2, "late") // no window: dropped
	send("c", "inbox.1.3")
	answer(1, "late") // from the old window: dropped by the new one
	answer(3, "C")
	receive(t, "message", msgs, "C") // not "late" first
}
