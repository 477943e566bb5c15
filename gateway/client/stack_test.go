package client

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/metrics"
)

// Idle readers fit the 2 KiB stack a goroutine starts with, heartbeat
// included: what keeps an idle connection small (issue 12.6). A deeper
// wait, or a larger frame on the way to it, doubles every reader's stack.
func TestIdleReadersFit2KiB(t *testing.T) {
	const n = 200
	m := metrics.NewGateway()
	opts := &Options{Metrics: m, Outbound: NewOutbound(1<<20, m, quiet), Inbox: "inbox", Log: quiet,
		MaxMessageBytes: 1 << 16, SendQueueBytes: 1 << 20, CloseGrace: time.Second, WriteTimeout: time.Second,
		WorkerTimeout: time.Second, PingInterval: time.Minute, PongTimeout: time.Minute}
	done := make(chan struct{}, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := New("1", "nowhere", Identity{Gateway: "gw"}, nil, opts)
		if c.Upgrade(&websocket.Upgrader{}, w, r, nil) != nil {
			done <- struct{}{}
			return
		}
		c.Run(nil, func() { done <- struct{}{} })
	}))
	defer srv.Close()
	stacks := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.StackInuse
	}
	before := stacks()
	// The peers never read: they start no goroutine of their own.
	var peers []*websocket.Conn
	for range n {
		p, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	defer func() {
		for _, p := range peers {
			p.Close()
		}
		for range n {
			<-done
		}
	}()
	parked := func() int {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		k := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "client.(*Conn).await") && strings.Contains(g, "IO wait") {
				k++
			}
		}
		return k
	}
	eventually(t, "every reader parked", func() bool { return parked() == n })
	per := float64(stacks()-before) / n
	t.Logf("%.0f bytes of stack per idle reader", per)
	if per > stackFactor*3<<10 {
		t.Fatalf("%.0f bytes of stack per idle reader, want about %d KiB", per, stackFactor*2)
	}
}
