package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsgate/wsgate/shared/contract"
)

// hostileWorker answers every request on subject with what answer makes of
// it (nil: no answer), as a buggy or malicious worker could.
func hostileWorker(t testing.TB, url, subject string, answer func(req *nats.Msg) *nats.Msg) *nats.Conn {
	t.Helper()
	nc := natsConn(t, url)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if r := answer(m); r != nil {
			r.Subject = m.Reply
			_ = nc.PublishMsg(r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return nc
}

func msgWith(body string, hdr ...string) *nats.Msg {
	m := &nats.Msg{Header: nats.Header{}, Data: []byte(body)}
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	return m
}

// closeOf reads until the gateway closes and returns the close frame. A
// close frame that RFC 6455 does not allow fails as a protocol error in
// gorilla, as it does in browsers.
func closeOf(t testing.TB, ws *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok || ce.Code == websocket.CloseAbnormalClosure {
			t.Fatalf("expected a valid close frame, got %v", err)
		}
		return ce
	}
}

// A worker's Wsgw-Close becomes a close frame every client accepts: codes
// RFC 6455 does not allow on the wire become 1000, reasons are valid UTF-8
// cut at a character boundary within 123 bytes.
func TestWorkerCloseIsMadeValid(t *testing.T) {
	_, url := startNATS(t)
	hostileWorker(t, url, contract.EchoSubject, func(m *nats.Msg) *nats.Msg {
		code, reason, _ := strings.Cut(string(m.Data), " ")
		return msgWith(reason, contract.HeaderClose, code)
	})
	g := gateway(t, url)
	long := strings.Repeat("é", 100) // 200 bytes
	for _, tc := range []struct {
		send       string
		code       int
		wantReason string
	}{
		{"1004 reserved", 1000, "reserved"},
		{"1005 x", 1000, "x"},
		{"1006 x", 1000, "x"},
		{"1014 x", 1000, "x"},
		{"1015 x", 1000, "x"},
		{"1016 x", 1000, "x"},
		{"2999 x", 1000, "x"},
		{"999 x", 1000, "x"},
		{"5000 x", 1000, "x"},
		{"65536 x", 1000, "x"},
		{"-1 x", 1000, "x"},
		{"abc x", 1000, "x"},
		{"1003 ok", 1003, "ok"},
		{"1012 ok", 1012, "ok"},
		{"3000 ok", 3000, "ok"},
		{"4999 ok", 4999, "ok"},
		{"4000 " + long, 4000, strings.Repeat("é", 61)},
		{"4000 bad\xff\xfeutf8", 4000, "bad\uFFFDutf8"},
	} {
		ws := dial(t, g.url+"/ws", nil)
		send(t, ws, websocket.BinaryMessage, tc.send) // binary: some are not UTF-8
		ce := closeOf(t, ws)
		if ce.Code != tc.code || ce.Text != tc.wantReason {
			t.Errorf("%.20q: close %d %q, want %d %q", tc.send, ce.Code, ce.Text, tc.code, tc.wantReason)
		}
	}
}

// Pushes and revocations go through the same checks.
func TestPushAndRevocationClosesAreMadeValid(t *testing.T) {
	_, url := startNATS(t)
	nc := natsConn(t, url)
	seen, _ := nc.SubscribeSync(contract.EchoSubject)
	_ = nc.Flush()
	g := gateway(t, url)
	inboxOf := func(ws *websocket.Conn) (string, *nats.Msg) {
		send(t, ws, websocket.TextMessage, "hi")
		m, err := seen.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Respond(nil)
		return contract.GatewayPrefix + "." + m.Header.Get(contract.HeaderGateway) + "." + m.Header.Get(contract.HeaderConn), m
	}

	ws := dial(t, g.url+"/ws", nil)
	inbox, _ := inboxOf(ws)
	push := msgWith("gone\xff", contract.HeaderClose, "1006")
	push.Subject = inbox
	_ = nc.PublishMsg(push)
	if ce := closeOf(t, ws); ce.Code != 1000 || ce.Text != "gone\uFFFD" {
		t.Fatalf("push close: %d %q", ce.Code, ce.Text)
	}

	ws = dial(t, g.url+"/ws", nil)
	_, m := inboxOf(ws)
	body, _ := json.Marshal(map[string]string{
		"gateway": m.Header.Get(contract.HeaderGateway), "conn": m.Header.Get(contract.HeaderConn),
		"reason": strings.Repeat("ü", 70) + "\xff",
	})
	_ = nc.Publish(contract.RevokeSubject, body)
	ce := closeOf(t, ws)
	if ce.Code != contract.CloseRevoked || !utf8.ValidString(ce.Text) || ce.Text != strings.Repeat("ü", 61) {
		t.Fatalf("revocation: %d %q", ce.Code, ce.Text)
	}
}

// A text body that is not UTF-8 never reaches a client as a text frame, on
// a reply, a push or a broadcast; the client is not harmed and the next
// frame comes through. Other bodies a client could not take (an unknown
// Wsgw-Frame, larger than both GATEWAY_MAX_MESSAGE_BYTES and
// GATEWAY_SEND_QUEUE_BYTES) are dropped the same way.
func TestBadWorkerMessagesAreDropped(t *testing.T) {
	_, url := startNATS(t)
	pusher := natsConn(t, url)
	hostileWorker(t, url, contract.EchoSubject, func(m *nats.Msg) *nats.Msg {
		switch string(m.Data) {
		case "badtext":
			return msgWith("bad\xff", contract.HeaderFrame, contract.FrameText)
		case "kind":
			return msgWith("what", contract.HeaderFrame, "TEXT")
		case "big":
			return msgWith(strings.Repeat("b", 1025), contract.HeaderFrame, contract.FrameBinary)
		case "push":
			push := msgWith("bad\xc0", contract.HeaderFrame, contract.FrameText)
			push.Subject = contract.GatewayPrefix + "." + m.Header.Get(contract.HeaderGateway) + "." + m.Header.Get(contract.HeaderConn)
			_ = pusher.PublishMsg(push)
			_ = pusher.Flush() // the push is there before the reply
			return msgWith("pushed", contract.HeaderFrame, contract.FrameText)
		}
		return msgWith("echo: "+string(m.Data), contract.HeaderFrame, contract.FrameText)
	})
	g := gateway(t, url, func(c *Config) { c.MaxMessageBytes, c.SendQueueBytes = 1024, 512 })
	ws := dial(t, g.url+"/ws", nil)
	for _, bad := range []string{"badtext", "kind", "big", "push"} {
		send(t, ws, websocket.TextMessage, bad)
		send(t, ws, websocket.TextMessage, "next")
		want := "echo: next"
		if bad == "push" {
			if _, got := read(t, ws); got != "pushed" {
				t.Fatalf("after %s: got %q", bad, got)
			}
		}
		if _, got := read(t, ws); got != want {
			t.Fatalf("after %s: got %.40q, want %q", bad, got, want)
		}
	}
	for _, reason := range []string{"invalid_utf8", "frame_type", "too_big"} {
		want := 1.0
		if reason == "invalid_utf8" {
			want = 2 // the reply and the push
		}
		if n := testutil.ToFloat64(g.m.WorkerDropped.WithLabelValues(reason)); n != want {
			t.Errorf("dropped %s: %v, want %v", reason, n, want)
		}
	}
}

// A broadcast is checked once per message, whoever published it: members
// never see invalid text, an unknown frame type, or a body over their limit.
func TestBadBroadcastsAreDropped(t *testing.T) {
	_, url := startNATS(t)
	// A room worker whose moderation turns "evil" into invalid UTF-8.
	hostileWorker(t, url, contract.RoomInWildcard(contract.RoomSubject), func(m *nats.Msg) *nats.Msg {
		if string(m.Data) == "evil" {
			return msgWith("bad\xff", contract.HeaderFrame, contract.FrameText, contract.HeaderBroadcast, "1")
		}
		return msgWith(string(m.Data), contract.HeaderFrame, m.Header.Get(contract.HeaderFrame), contract.HeaderBroadcast, "1")
	})
	g := gateway(t, url, func(c *Config) { c.MaxMessageBytes, c.SendQueueBytes = 1024, 1024 })
	a := dial(t, g.url+"/ws/room/bad", nil)
	b := dial(t, g.url+"/ws/room/bad", nil)
	members := []*websocket.Conn{a, b}
	out := contract.RoomOut(contract.RoomSubject, "bad")
	pub := natsConn(t, url)
	for _, m := range []*nats.Msg{
		msgWith("bad\xff", contract.HeaderFrame, contract.FrameText),
		msgWith("bad\xff"), // no Wsgw-Frame: text
		msgWith("what", contract.HeaderFrame, "bin"),
		msgWith(strings.Repeat("x", 1025), contract.HeaderFrame, contract.FrameBinary),
		msgWith("fine", contract.HeaderFrame, contract.FrameText), // after the others: one publisher keeps its order
	} {
		m.Subject = out
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, ws := range members {
		if typ, got := read(t, ws); typ != websocket.TextMessage || got != "fine" {
			t.Fatalf("member got %d %.40q", typ, got)
		}
	}
	// Through the sender's gateway: never published.
	send(t, a, websocket.TextMessage, "evil")
	send(t, a, websocket.TextMessage, "fine again")
	for _, ws := range members {
		if typ, got := read(t, ws); typ != websocket.TextMessage || got != "fine again" {
			t.Fatalf("member got %d %.40q", typ, got)
		}
	}
	// Five bad broadcasts, each counted once although two members got it.
	want := map[string]float64{"invalid_utf8": 3, "frame_type": 1, "too_big": 1}
	for r, n := range want {
		if got := testutil.ToFloat64(g.m.WorkerDropped.WithLabelValues(r)); got != n {
			t.Errorf("%s: %v drops counted, want %v", r, got, n)
		}
	}
}

// A room worker's reply with both Wsgw-Broadcast and Wsgw-Close broadcasts
// the body, then closes the sender with the code.
func TestBroadcastAndClose(t *testing.T) {
	_, url := startNATS(t)
	hostileWorker(t, url, contract.RoomInWildcard(contract.RoomSubject), func(m *nats.Msg) *nats.Msg {
		if string(m.Data) == "kick me" {
			return msgWith("bye all", contract.HeaderFrame, contract.FrameText, contract.HeaderBroadcast, "1", contract.HeaderClose, "4008")
		}
		return msgWith(string(m.Data), contract.HeaderFrame, contract.FrameText, contract.HeaderBroadcast, "1")
	})
	g := gateway(t, url)
	kicked := dial(t, g.url+"/ws/room/k", nil)
	other := dial(t, g.url+"/ws/room/k", nil)
	send(t, kicked, websocket.TextMessage, "kick me")
	if _, got := read(t, other); got != "bye all" {
		t.Fatalf("other member got %q", got)
	}
	if ce := closeOf(t, kicked); ce.Code != 4008 || ce.Text != "bye all" {
		t.Fatalf("sender closed with %d %q", ce.Code, ce.Text)
	}
	send(t, other, websocket.TextMessage, "still here")
	if _, got := read(t, other); got != "still here" {
		t.Fatalf("other member got %q", got)
	}
}

// A NATS micro error reply (the room worker's answer to a bad room) closes
// the client with 1011: the worker could not handle its frame.
func TestMicroErrorReplyCloses1011(t *testing.T) {
	_, url := startNATS(t)
	hostileWorker(t, url, contract.EchoSubject, func(m *nats.Msg) *nats.Msg {
		return msgWith("", micro.ErrorCodeHeader, "400", micro.ErrorHeader, "invalid room")
	})
	g := gateway(t, url)
	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "x")
	if ce := closeOf(t, ws); ce.Code != 1011 {
		t.Fatalf("close %d %q, want 1011", ce.Code, ce.Text)
	}
	if n := testutil.ToFloat64(g.m.WorkerErrors); n != 1 {
		t.Fatalf("worker errors %v", n)
	}
}
