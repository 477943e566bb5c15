package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared"
	"github.com/wsgate/wsgate/shared/contract"
)

// One socket in three rooms, across two gateways: what it publishes in each
// room reaches that room's members on the other gateway, raw and protocol
// alike, and it receives every room's messages, each marked with its room;
// after a leave, nothing more from that room.
func TestRoomsOneSocketThreeRooms(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room")
	g1, g2 := gateway(t, url), gateway(t, url)

	multi := dialRooms(t, g1.url, nil)
	for _, room := range []string{"red", "green", "blue"} {
		multi.join(room)
	}
	rawRed := dial(t, g2.url+"/ws/room/red", nil)
	protoGreen := dialRooms(t, g2.url, nil)
	protoGreen.join("green")
	rawBlue := dial(t, g2.url+"/ws/room/blue", nil)

	if got := multi.publish("red", "to red"); got != `{"broadcast":true}` {
		t.Fatalf("publish: %s", got)
	}
	multi.expect("red", "to red", false, "", false) // its own message comes back, as to a raw member
	if typ, got := read(t, rawRed); typ != websocket.TextMessage || got != "to red" {
		t.Fatalf("raw red member got %d %q", typ, got)
	}
	multi.publishBin("green", []byte{0, 1, 2})
	multi.expect("green", "\x00\x01\x02", true, "", false)
	protoGreen.expect("green", "\x00\x01\x02", true, "", false)
	multi.publish("blue", "to blue")
	multi.expect("blue", "to blue", false, "", false)
	if typ, got := read(t, rawBlue); typ != websocket.TextMessage || got != "to blue" {
		t.Fatalf("raw blue member got %d %q", typ, got)
	}

	// From the other gateway into each room.
	send(t, rawRed, websocket.TextMessage, "from red")
	multi.expect("red", "from red", false, "", false)
	protoGreen.publish("green", "from green")
	multi.expect("green", "from green", false, "", false)
	send(t, rawBlue, websocket.BinaryMessage, "\xff")
	multi.expect("blue", "\xff", true, "", false)
	for _, ws := range []*websocket.Conn{rawRed, rawBlue} {
		read(t, ws) // their own
	}

	// After leaving red, red's messages no longer come: the next message
	// is blue's, sent after red's.
	multi.ok("leave", map[string]string{"room": "red"})
	send(t, rawRed, websocket.TextMessage, "red again")
	if _, got := read(t, rawRed); got != "red again" {
		t.Fatalf("raw red got %q", got)
	}
	send(t, rawBlue, websocket.TextMessage, "blue again")
	multi.expect("blue", "blue again", false, "", false)
	if n, _ := g1.Hub().Members("wsgw.room.out.red"); n != 0 || g1.Hub().Rooms() != 2 {
		t.Fatalf("after leave: %d red members on g1, %d rooms", n, g1.Hub().Rooms())
	}
}

// Raw and protocol members of one room see each other both ways, text and
// binary, with the sender's user when it has one; and the room worker sees
// the same NATS messages whichever kind of member sent them.
func TestRoomsRawAndProtocolMembers(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room")
	worker(t, url, "auth")
	g1, g2 := gateway(t, url), gateway(t, url)
	watch := natsConn(t, url)
	in, _ := watch.SubscribeSync(contract.RoomIn(contract.RoomSubject, "mix"))
	out, _ := watch.SubscribeSync(contract.RoomOut(contract.RoomSubject, "mix"))
	_ = watch.Flush()

	raw := dial(t, g1.url+"/ws/room/mix", bearer("secret")) // alice
	bo := dialRooms(t, g2.url, bearer(token(t, "bo", time.Hour, nil)))
	bo.join("mix")
	anon := dialRooms(t, g1.url, nil)
	anon.join("mix")

	send(t, raw, websocket.TextMessage, "hi")
	send(t, raw, websocket.BinaryMessage, "\x00\xff")
	for _, c := range []*rc{bo, anon} {
		c.expect("mix", "hi", false, "alice", false)
		c.expect("mix", "\x00\xff", true, "alice", false)
	}
	rawGets := func(typ int, body string) {
		t.Helper()
		if gt, got := read(t, raw); gt != typ || got != body {
			t.Fatalf("raw member got %d %q, want %d %q", gt, got, typ, body)
		}
	}
	rawGets(websocket.TextMessage, "hi")
	rawGets(websocket.BinaryMessage, "\x00\xff")
	// Order is promised per sender only: bo's broadcasts leave g2 after its
	// ok, so anon (on g1) publishes once they have arrived.
	bo.publish("mix", "yo")
	bo.publishBin("mix", []byte{7, 8})
	rawGets(websocket.TextMessage, "yo")
	rawGets(websocket.BinaryMessage, "\x07\x08")
	anon.publish("mix", "anonymous")
	rawGets(websocket.TextMessage, "anonymous")
	for _, c := range []*rc{bo, anon} {
		c.expect("mix", "yo", false, "bo", false)
		c.expect("mix", "\x07\x08", true, "bo", false)
		c.expect("mix", "anonymous", false, "", false)
	}

	// What the room worker got, and what went out, by sender kind: the same
	// subjects, the same headers (values aside from the ids), reply
	// subjects of the same form.
	next := func(sub *nats.Subscription) *nats.Msg {
		m, err := sub.NextMsg(within)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var rawIn, rawOut, protoIn, protoOut []*nats.Msg
	for range 2 {
		rawIn, rawOut = append(rawIn, next(in)), append(rawOut, next(out))
	}
	for range 3 {
		protoIn, protoOut = append(protoIn, next(in)), append(protoOut, next(out))
	}
	shape := func(m *nats.Msg) string {
		var keys []string
		for k := range m.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		reply := regexp.MustCompile(`^wsgw\.gw\.[A-Za-z0-9]+\.[a-z0-9]+\.[0-9]+$`).MatchString(m.Reply)
		return fmt.Sprintf("%s %v frame=%s room=%s reply=%v", m.Subject, keys, m.Header.Get(contract.HeaderFrame), m.Header.Get(contract.HeaderRoom), reply || m.Reply == "")
	}
	pairs := [][2]*nats.Msg{{rawIn[0], protoIn[0]}, {rawIn[1], protoIn[1]}, {rawOut[0], protoOut[0]}, {rawOut[1], protoOut[1]}}
	for i, p := range pairs {
		if a, b := shape(p[0]), shape(p[1]); a != b {
			t.Errorf("pair %d: raw %s\nprotocol %s", i, a, b)
		}
	}
	for _, m := range slices.Concat(protoIn[:2], protoOut[:2]) {
		if m.Header.Get(contract.HeaderUser) != "bo" || m.Header.Get(contract.HeaderGateway) != g2.ID() {
			t.Errorf("headers of a protocol member's message: %v", m.Header)
		}
	}
	if protoIn[0].Reply == "" || !strings.HasPrefix(protoIn[0].Reply, "wsgw.gw."+g2.ID()+".") {
		t.Errorf("reply subject %q", protoIn[0].Reply)
	}
	if h := protoIn[2].Header; h.Get(contract.HeaderUser) != "" || len(h[contract.HeaderUser]) != 0 {
		t.Errorf("anonymous publish carries a user: %v", h)
	}
}

// A push to one connection (its gateway inbox) reaches a /ws/rooms client
// as a push; Wsgw-Close closes it.
func TestRoomsPushToConnection(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room")
	g := gateway(t, url)
	nc := natsConn(t, url)
	seen, _ := nc.SubscribeSync(contract.RoomInWildcard(contract.RoomSubject))
	_ = nc.Flush()
	c := dialRooms(t, g.url, nil)
	c.join("lobby")
	c.publish("lobby", "who am I")
	m, err := seen.NextMsg(within)
	if err != nil {
		t.Fatal(err)
	}
	inbox := contract.GatewayPrefix + "." + m.Header.Get(contract.HeaderGateway) + "." + m.Header.Get(contract.HeaderConn)
	c.expect("lobby", "who am I", false, "", false)
	_ = nc.PublishMsg(&nats.Msg{Subject: inbox, Header: nats.Header{contract.HeaderFrame: {contract.FrameBinary}}, Data: []byte{0xfb, 0xff}})
	c.expect("", "\xfb\xff", true, "", false)
	_ = nc.PublishMsg(&nats.Msg{Subject: inbox, Header: nats.Header{contract.HeaderClose: {"4000"}}, Data: []byte("bye")})
	if ce := closeOf(t, c.ws); ce.Code != 4000 || ce.Text != "bye" {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	eventually(t, within, "the session to leave its room", func() bool { return g.Hub().Rooms() == 0 && g.Clients() == 0 })
}

// The gateway serves the AsyncAPI document it was built with.
func TestAsyncAPIServed(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	resp, err := http.Get(g.ts.URL + "/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" || !bytes.Equal(body, shared.AsyncAPI) ||
		!bytes.Contains(body, []byte("asyncapi: 3.")) {
		t.Fatalf("%d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}
