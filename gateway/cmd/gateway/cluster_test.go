package main

// The deployment the README describes, shrunk onto loopback: a three-node
// NATS cluster, two gateways and two instances of each worker as separate
// processes. Then one NATS node and one gateway go down.

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/natstest"
)

// instances counts the micro service instances of name that answer PING.
func instances(t *testing.T, nc *nats.Conn, name string) int {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = nc.PublishRequest("$SRV.PING."+name, inbox, nil)
	n := 0
	for {
		if _, err := sub.NextMsg(300 * time.Millisecond); err != nil {
			return n
		}
		n++
	}
}

// echoStream sends numbered frames through whichever gateway is up,
// reconnecting when closed, and counts frames that never came back.
type echoStream struct {
	t     *testing.T
	bases []string // gateway URLs to try, in order
	ws    *websocket.Conn
	lost  int
}

func (e *echoStream) connect() {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, b := range e.bases {
			if ws, _, err := websocket.DefaultDialer.Dial(b+"/ws", nil); err == nil {
				e.ws = ws
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatal("no gateway accepts connections")
}

// roundTrip sends frame i until it is answered or clearly lost in flight.
func (e *echoStream) roundTrip(i int) {
	want := fmt.Sprintf("echo: %d", i)
	for attempt := 0; attempt < 5; attempt++ {
		if e.ws == nil {
			e.connect()
		}
		if e.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))) != nil {
			e.ws.Close()
			e.ws = nil
			continue // refused before it went anywhere: send again
		}
		_ = e.ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, got, err := e.ws.ReadMessage()
		if err == nil && string(got) == want {
			return
		}
		e.ws.Close()
		e.ws = nil
		if _, closed := err.(*websocket.CloseError); closed {
			continue // 1013 (no NATS at that moment) or 1001 (gateway stopping): not taken, resend
		}
		e.lost++ // no answer: lost in flight at a stopped part
		return
	}
	e.t.Fatalf("frame %d never went through", i)
}

func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a cluster")
	}
	dir := t.TempDir()
	build(t, dir, ".", "github.com/wsgate/wsgate/worker/cmd/worker")
	nodes := natstest.Cluster(t, 3)
	env := []string{"NATS_URL=" + natstest.URLs(nodes), "GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DRAIN_WINDOW=300ms", "GATEWAY_RATE_PER_SECOND=0",
		"AUTH_TOKENS=s3cret:alice", "GATEWAY_WORKER_TIMEOUT=1s",
		// Room history on every node, as the README says for a three-node
		// cluster: a node going down takes no room with it.
		"ROOM_HISTORY_REPLICAS=3"}
	for _, role := range []string{"echo", "room", "auth"} {
		start(t, env, filepath.Join(dir, "worker"), role)
		start(t, env, filepath.Join(dir, "worker"), role)
	}
	var gws []*proc
	var bases []string
	for i := 0; i < 2; i++ {
		p := start(t, env, filepath.Join(dir, "gateway"))
		select {
		case addr := <-p.listen:
			bases = append(bases, "ws://"+addr)
		case <-time.After(20 * time.Second):
			t.Fatalf("gateway %d did not start:\n%s", i, p.log())
		}
		gws = append(gws, p)
	}
	nc, err := nats.Connect(natstest.URLs(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, name := range []string{"echo", "room", "auth"} {
		deadline := time.Now().Add(20 * time.Second)
		for instances(t, nc, name) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("two %s workers did not come up", name)
			}
		}
	}

	// Echo, a room across both gateways, and auth, through the cluster.
	e := &echoStream{t: t, bases: bases}
	for i := 0; i < 50; i++ {
		e.roundTrip(i)
	}
	a := dialOK(t, bases[0]+"/ws/room/cluster", nil)
	b := dialOK(t, bases[1]+"/ws/room/cluster", nil)
	roundTrip(t, a, "from a", "from a")
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, got, err := b.ReadMessage(); err != nil || string(got) != "from a" {
		t.Fatalf("member on the other gateway: %q %v", got, err)
	}
	// One sender's frames, handled by two room workers on a cluster, reach a
	// member on the other gateway in order.
	const n = 300
	go func() {
		for i := 0; i < n; i++ {
			if a.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, got, err := b.ReadMessage(); err != nil || string(got) != fmt.Sprint(i) {
			t.Fatalf("frame %d across the cluster: %q %v", i, got, err)
		}
	}
	for i := 0; i < n; i++ { // the sender's own copies, to keep its socket clean
		_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := a.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	priv := dialOK(t, bases[1]+"/ws/private", http.Header{"Authorization": {"Bearer s3cret"}})
	if _, got, err := priv.ReadMessage(); err != nil || string(got) != "ok" {
		t.Fatalf("private: %q %v", got, err)
	}

	// Stop the NATS node serving a gateway, and the first gateway, while
	// the echo stream runs through the first gateway.
	var victim *server.Server
	for _, s := range nodes {
		cz, _ := s.Connz(&server.ConnzOptions{})
		for _, c := range cz.Conns {
			if c.Name == "gateway" && victim == nil {
				victim = s
			}
		}
	}
	if victim == nil {
		t.Fatal("no node holds a gateway connection")
	}
	for i := 50; i < 100; i++ {
		e.roundTrip(i)
	}
	victim.Shutdown()
	for i := 100; i < 150; i++ {
		e.roundTrip(i)
	}
	if code := gws[0].stop(t, 15*time.Second); code != 0 {
		t.Fatalf("gateway exit %d:\n%s", code, gws[0].log())
	}
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := a.ReadMessage(); err == nil {
		t.Fatal("the stopped gateway's member was not closed")
	}
	for i := 150; i < 250; i++ {
		e.roundTrip(i)
	}
	// At most the frames in flight at the stopped node and gateway: a few.
	if e.lost > 4 {
		t.Fatalf("%d of 250 frames lost", e.lost)
	}

	// The member of the stopped gateway reconnects to the other one and the
	// room works across what is left.
	a2 := dialOK(t, bases[1]+"/ws/room/cluster", nil)
	eventuallyBroadcast(t, a2, b)
	t.Logf("lost %d of 250 echo frames across a NATS node and a gateway stopping", e.lost)
}

// eventuallyBroadcast sends from a until b receives it (after a NATS node
// stopped, workers may still be reconnecting for a moment).
func eventuallyBroadcast(t *testing.T, a, b *websocket.Conn) {
	// One reader: a gorilla connection that timed out cannot be read again.
	got := make(chan string, 64)
	_ = b.SetReadDeadline(time.Now().Add(15 * time.Second))
	go func() {
		defer close(got)
		for {
			_, m, err := b.ReadMessage()
			if err != nil {
				return
			}
			select {
			case got <- string(m):
			default: // nobody reads any more
			}
		}
	}()
	deadline := time.After(15 * time.Second)
	for i := 0; ; i++ {
		msg := fmt.Sprintf("after %d", i)
		if a.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
			t.Fatal("member lost its socket")
		}
		next := time.After(time.Second)
	wait:
		for {
			select {
			case m, ok := <-got:
				if !ok {
					t.Fatal("no broadcast after the failures")
				}
				if m == msg {
					return
				}
			case <-next:
				break wait
			case <-deadline:
				t.Fatal("no broadcast after the failures")
			}
		}
	}
}
