package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestPrivateOutcomes(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	g := gateway(t, url)
	u := g.url + "/ws/private"

	if st := dialStatus(t, u, nil); st != 401 {
		t.Errorf("no credentials: %d", st)
	}
	if st := dialStatus(t, u, bearer("wrong")); st != 401 {
		t.Errorf("unknown token: %d", st)
	}
	if st := dialStatus(t, u, http.Header{"Authorization": {"Basic c2VjcmV0"}}); st != 401 {
		t.Errorf("basic scheme: %d", st)
	}
	if st := dialStatus(t, u, bearer("banned-token")); st != 403 {
		t.Errorf("known but not allowed: %d", st)
	}

	ws := dial(t, u, bearer("secret"))
	if typ, got := read(t, ws); typ != websocket.TextMessage || got != "ok" {
		t.Fatalf("first frame %q", got)
	}
	send(t, ws, websocket.TextMessage, "x")
	if _, got := read(t, ws); got != "echo: x" {
		t.Fatalf("got %q", got)
	}
}

// Browsers cannot set headers on a WebSocket: the token rides in the
// subprotocol offer, and the gateway answers with the other protocol.
func TestPrivateSubprotocolToken(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	g := gateway(t, url)
	d := websocket.Dialer{Subprotocols: []string{"wsgw", "bearer.secret"}}
	ws, resp, err := d.Dial(g.url+"/ws/private", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if p := resp.Header.Get("Sec-Websocket-Protocol"); p != "wsgw" || ws.Subprotocol() != "wsgw" {
		t.Fatalf("answered subprotocol %q", p)
	}
	if _, got := read(t, ws); got != "ok" {
		t.Fatalf("first frame %q", got)
	}
	d.Subprotocols = []string{"wsgw", "bearer.nope"}
	if _, resp, err := d.Dial(g.url+"/ws/private", nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("bad subprotocol token: %v", err)
	}
}

// Fail closed: no auth worker, or one that does not answer, is 503.
func TestPrivateAuthWorkerDownOrSilent(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url, func(c *Config) { c.AuthTimeout = 300 * time.Millisecond })
	u := g.url + "/ws/private"
	if st := dialStatus(t, u, bearer("secret")); st != 503 {
		t.Fatalf("no auth worker: %d", st)
	}

	// A responder that takes requests and never answers.
	nc := natsConn(t, url)
	sub, err := nc.Subscribe(contract.AuthSubject, func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = nc.Flush()
	start := time.Now()
	if st := dialStatus(t, u, bearer("secret")); st != 503 {
		t.Fatalf("silent auth worker: %d", st)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusal took %v", d)
	}

	// A garbled answer is no decision either.
	_ = sub.Unsubscribe()
	sub2, _ := nc.Subscribe(contract.AuthSubject, func(m *nats.Msg) { _ = m.Respond([]byte("{not json")) })
	defer sub2.Unsubscribe()
	_ = nc.Flush()
	if st := dialStatus(t, u, bearer("secret")); st != 503 {
		t.Fatalf("garbled auth answer: %d", st)
	}
}

// Workers learn who sent a frame from headers only the gateway writes.
func TestIdentityHeaders(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	worker(t, url, "room")
	g := gateway(t, url)
	nc := natsConn(t, url)
	seen, err := nc.SubscribeSync(contract.EchoSubject)
	if err != nil {
		t.Fatal(err)
	}
	bcast, err := nc.SubscribeSync(contract.RoomOut(contract.RoomSubject, "idroom"))
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()

	ws := dial(t, g.url+"/ws/private", bearer("secret"))
	read(t, ws) // ok
	send(t, ws, websocket.BinaryMessage, "payload")
	read(t, ws)
	msg, err := seen.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if h.Get(contract.HeaderUser) != "alice" || h.Get(contract.HeaderGateway) != g.ID() ||
		h.Get(contract.HeaderConn) == "" || h.Get(contract.HeaderFrame) != contract.FrameBinary || string(msg.Data) != "payload" {
		t.Fatalf("frame as a worker sees it: %q %v", msg.Data, h)
	}

	// Anonymous room members carry no user; the room is named.
	r := dial(t, g.url+"/ws/room/idroom", nil)
	send(t, r, websocket.TextMessage, "Wsgw-User: alice\r\n")
	read(t, r)
	msg, err = bcast.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get(contract.HeaderUser) != "" || msg.Header.Get(contract.HeaderRoom) != "idroom" || string(msg.Data) != "Wsgw-User: alice\r\n" {
		t.Fatalf("broadcast: %q %v", msg.Data, msg.Header)
	}
}
