package client

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/wsclose"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// served runs a Conn over a real socket; peer is the client's end. The
// Conn publishes nowhere: the tests here send it no data frames.
func served(t *testing.T, opts Options) (c *Conn, peer *websocket.Conn, done chan struct{}) {
	t.Helper()
	m := metrics.NewGateway()
	opts.Metrics, opts.Outbound, opts.Inbox, opts.Log = m, NewOutbound(1<<20, m, quiet), "inbox", quiet
	opts.MaxMessageBytes, opts.SendQueueBytes = 1<<16, 1<<20
	opts.CloseGrace = time.Second
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = time.Second
	}
	got := make(chan *Conn, 1)
	done = make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := New("1", "nowhere", Identity{Gateway: "gw"}, nil, &opts)
		if c.Upgrade(&websocket.Upgrader{}, w, r, nil) != nil {
			return
		}
		got <- c
		go func() { defer close(done); c.Serve() }()
	}))
	t.Cleanup(srv.Close)
	peer, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); <-done })
	return <-got, peer, done
}

// armed reports whether the ping timer is running, leaving it as it was.
func armed(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinger == nil || !c.pinger.Stop() {
		return false
	}
	c.pinger.Reset(c.opts.PingInterval)
	return true
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The ping timer stops with its connection's close and is never re-armed
// after it, even by a tick that fired as the close happened.
func TestPingTimerStopsWhenClosed(t *testing.T) {
	c, peer, done := served(t, Options{PingInterval: 20 * time.Millisecond, PongTimeout: time.Second})
	pinged := make(chan struct{}, 1)
	peer.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	go func() {
		for {
			if _, _, err := peer.ReadMessage(); err != nil {
				return
			}
		}
	}()
	<-pinged // the timer runs and re-arms itself
	<-pinged
	if !armed(c) {
		t.Fatal("ping timer not armed on an open connection")
	}
	c.Close(wsclose.New(1000, "bye"))
	if armed(c) {
		t.Fatal("ping timer still armed after Close")
	}
	c.ping() // a tick that fired just before the close runs after it
	if armed(c) {
		t.Fatal("ping timer re-armed after Close")
	}
	<-done
	if armed(c) {
		t.Fatal("ping timer armed after the connection ended")
	}
}

// Likewise when the peer goes without a close frame.
func TestPingTimerStopsWhenPeerGoes(t *testing.T) {
	c, peer, done := served(t, Options{PingInterval: time.Hour, PongTimeout: time.Second})
	eventually(t, "the ping timer to be armed", func() bool { return armed(c) })
	_ = peer.UnderlyingConn().Close()
	<-done
	if armed(c) {
		t.Fatal("ping timer armed after the connection ended")
	}
	if st := c.Stats(); st.CloseCode != 0 {
		t.Fatalf("close code %d for a connection that ended without one", st.CloseCode)
	}
}
