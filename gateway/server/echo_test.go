package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

func TestEchoTextAndBinary(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url)
	ws := dial(t, g.url+"/ws", nil)

	send(t, ws, websocket.TextMessage, "hello")
	if typ, got := read(t, ws); typ != websocket.TextMessage || got != "echo: hello" {
		t.Fatalf("got %d %q", typ, got)
	}
	send(t, ws, websocket.BinaryMessage, "\x00\xff\x01")
	if typ, got := read(t, ws); typ != websocket.BinaryMessage || got != "echo: \x00\xff\x01" {
		t.Fatalf("got %d %q", typ, got)
	}
	send(t, ws, websocket.TextMessage, "")
	if _, got := read(t, ws); got != "echo: " {
		t.Fatalf("empty frame: got %q", got)
	}
}

// Frames are answered in the order sent, even with two echo workers taking
// turns and a client that does not wait for answers.
func TestEchoOrderWithTwoWorkers(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	worker(t, url, "echo")
	g := gateway(t, url, noRateLimit)
	ws := dial(t, g.url+"/ws", nil)

	const n = 1000
	go func() {
		for i := 0; i < n; i++ {
			if ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		if _, got := read(t, ws); got != fmt.Sprintf("echo: %d", i) {
			t.Fatalf("answer %d: got %q", i, got)
		}
	}
}

func TestNoEchoWorkerCloses1013ThenRecovers(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "anyone?")
	start := time.Now()
	if code := closeCode(t, ws, 3*time.Second); code != 1013 {
		t.Fatalf("close code %d, want 1013", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1013 took %v; no-responders should be immediate", d)
	}

	worker(t, url, "echo")
	ws2 := dial(t, g.url+"/ws", nil)
	send(t, ws2, websocket.TextMessage, "back")
	if _, got := read(t, ws2); got != "echo: back" {
		t.Fatalf("got %q", got)
	}
}

func TestHealthAndReady(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	base := g.ts.URL
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	g.StopAccepting()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/readyz while shutting down: %d", resp.StatusCode)
	}
	if st := dialStatus(t, g.url+"/ws", nil); st != 503 {
		t.Fatalf("upgrade while shutting down: %d", st)
	}
}

func TestUnknownPathAndPlainHTTP(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	if st := dialStatus(t, g.url+"/nope", nil); st != 404 {
		t.Fatalf("unknown path: %d", st)
	}
	resp, err := http.Get(g.ts.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("plain GET /ws: %d", resp.StatusCode)
	}
}

func TestInvalidUTF8Closes1007AndOversizeCloses1009(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, func(c *Config) { c.MaxMessageBytes = 1024 })

	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "ok\xff")
	if code := closeCode(t, ws, 3*time.Second); code != 1007 {
		t.Fatalf("invalid UTF-8: close %d", code)
	}

	ws = dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.BinaryMessage, strings.Repeat("x", 1024))
	if _, got := read(t, ws); len(got) != len("echo: ")+1024 {
		t.Fatalf("frame at the limit: %d bytes back", len(got))
	}
	send(t, ws, websocket.BinaryMessage, strings.Repeat("x", 1025))
	if code := closeCode(t, ws, 3*time.Second); code != 1009 {
		t.Fatalf("oversize: close %d", code)
	}
	eventually(t, 3*time.Second, "clients to go", func() bool { return g.Clients() == 0 })
}

// Cross-site WebSocket hijacking: a browser page from another origin is
// refused before the upgrade; no Origin (non-browser) and the same host pass.
func TestOriginCheck(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url)
	if st := dialStatus(t, g.url+"/ws", http.Header{"Origin": {"https://evil.example"}}); st != 403 {
		t.Fatalf("foreign origin: %d", st)
	}
	host := strings.TrimPrefix(g.ts.URL, "http://")
	dial(t, g.url+"/ws", http.Header{"Origin": {"http://" + host}})
	dial(t, g.url+"/ws", nil)
}

// Anyone may push a frame, or a close, to one connection through its
// gateway's inbox, with the ids its frames carry.
func TestPushToConnection(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url)
	nc := natsConn(t, url)
	seen, _ := nc.SubscribeSync(contract.EchoSubject)
	_ = nc.Flush()
	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "hi")
	read(t, ws)
	m, err := seen.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	inbox := contract.GatewayPrefix + "." + m.Header.Get(contract.HeaderGateway) + "." + m.Header.Get(contract.HeaderConn)

	push := nats.NewMsg(inbox)
	push.Header.Set(contract.HeaderFrame, contract.FrameBinary)
	push.Data = []byte("pushed")
	if err := nc.PublishMsg(push); err != nil {
		t.Fatal(err)
	}
	if typ, got := read(t, ws); typ != websocket.BinaryMessage || got != "pushed" {
		t.Fatalf("push: %d %q", typ, got)
	}
	bye := nats.NewMsg(inbox)
	bye.Header.Set(contract.HeaderClose, "4000")
	bye.Data = []byte("see you")
	_ = nc.PublishMsg(bye)
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, _, err = ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4000 || ce.Text != "see you" {
		t.Fatalf("close push: %v", err)
	}
}
