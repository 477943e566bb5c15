package client

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/shared/contract"
)

// workerPub stands in for NATS and a worker: a frame published to the
// client's subject is answered at once with reply; a broadcast published
// to the room goes back to the client as the hub sends it. Apart from
// the hub's Broadcast, it allocates nothing per message, so what a
// benchmark counts is the gateway's own.
type workerPub struct {
	c     *Conn
	reply *nats.Msg
	typ   int
}

func (p *workerPub) PublishMsg(m *nats.Msg) error {
	if m.Reply == "" { // a broadcast
		p.c.SendPrepared(NewBroadcast(p.typ, m.Data)) // as the hub makes one per broadcast
		return nil
	}
	seq, err := strconv.ParseUint(m.Reply[strings.LastIndexByte(m.Reply, '.')+1:], 10, 64)
	if err != nil {
		return err
	}
	p.c.Reply(seq, p.reply)
	return nil
}

// benchConn serves one client over a real loopback socket and returns its
// raw end, past the handshake.
func benchConn(b *testing.B, ident Identity, pub *workerPub) net.Conn {
	b.Helper()
	m := metrics.NewGateway()
	opts := &Options{
		MaxMessageBytes: 1 << 16, SendQueueBytes: 1 << 20, WriteTimeout: time.Second, WorkerTimeout: 5 * time.Second,
		CloseGrace: time.Second, Metrics: m, Outbound: NewOutbound(1<<20, m, quiet),
		Publisher: pub, Inbox: "inbox", Log: quiet,
	}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := New("1", "subject", ident, &route.Route{Path: "/bench"}, opts)
		pub.c = c
		if c.Upgrade(&websocket.Upgrader{ReadBufferSize: 512, WriteBufferPool: &sync.Pool{}}, w, r, nil) != nil {
			close(done)
			return
		}
		go func() { defer close(done); c.Serve() }()
	}))
	b.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close(); <-done })
	return ws.UnderlyingConn()
}

// clientFrame is a masked text frame as a browser sends it.
func clientFrame(payload string) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i := 0; i < len(payload); i++ {
		f = append(f, payload[i]^key[i%4])
	}
	return f
}

// roundTrips sends frame and reads an answer of want bytes (header
// included), b.N times.
func roundTrips(b *testing.B, raw net.Conn, frame []byte, want int) {
	buf := make([]byte, want)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
	for i := 0; i < b.N; i++ {
		if _, err := raw.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(raw, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// An echo frame: read, published with its identity, answered, written.
func BenchmarkEchoFrame(b *testing.B) {
	reply := &nats.Msg{Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}, Data: []byte("echo: hello")}
	pub := &workerPub{reply: reply}
	raw := benchConn(b, Identity{Gateway: "gw", User: "alice"}, pub)
	roundTrips(b, raw, clientFrame("hello"), 2+len(reply.Data))
}

// A room frame: read, published, answered with Wsgw-Broadcast, the
// broadcast published with the sender's identity, and delivered back to
// the sender as a member.
func BenchmarkRoomFrame(b *testing.B) {
	reply := &nats.Msg{Header: nats.Header{contract.HeaderFrame: {contract.FrameText}, contract.HeaderBroadcast: {"1"}},
		Data: []byte("hello")}
	pub := &workerPub{reply: reply, typ: websocket.TextMessage}
	raw := benchConn(b, Identity{Gateway: "gw", User: "alice", Room: "r", Broadcast: "room.out.r"}, pub)
	roundTrips(b, raw, clientFrame("hello"), 2+len(reply.Data))
}

// cpuTime is the CPU time the process used so far, in ns: the benchmark's
// client end included.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
