package server

import (
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

// moderator is a room worker that moderates: it broadcasts what is
// polite, declines spam silently, answers rudeness to the sender alone,
// and closes the socket of whoever asks to be kicked.
func moderator(req *nats.Msg) *nats.Msg {
	body := string(req.Data)
	frame := req.Header.Get(contract.HeaderFrame)
	switch {
	case body == "spam":
		return msgWith("") // acknowledged, nothing sent
	case body == "rude":
		return msgWith("refused: be nice", contract.HeaderFrame, contract.FrameText)
	case body == "\x00rude":
		return msgWith("\x01refused", contract.HeaderFrame, contract.FrameBinary)
	case body == "kick me":
		return msgWith("kicked", contract.HeaderFrame, contract.FrameText, contract.HeaderClose, "4000")
	}
	return msgWith(body, contract.HeaderFrame, frame, contract.HeaderBroadcast, "1")
}

// A room worker decides: a declined publish is answered with
// "broadcast":false and reaches nobody; a frame it sends the sender alone
// arrives as a "direct" room message, in the same frame before the reply;
// Wsgw-Close on its answer closes the socket after the reply.
func TestRoomsModeration(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	hostileWorker(t, url, contract.RoomInWildcard(contract.RoomSubject), moderator)
	g := gateway(t, url)
	sender := dialRooms(t, g.url, bearer("secret"))
	sender.join("mod")
	watcher := dialRooms(t, g.url, nil)
	watcher.join("mod")
	raw := dial(t, g.url+"/ws/room/mod", nil)

	if got := sender.publish("mod", "spam"); got != `{"broadcast":false}` {
		t.Fatalf("declined: %s", got)
	}
	// A direct answer and the reply in one frame, in that order.
	id := sender.cmd("publish", map[string]string{"room": "mod", "data": "rude"})
	_, frame := read(t, sender.ws)
	want := `{"room":"mod","data":"refused: be nice","direct":true}` + "\n" + `{"id":` + itoa(id) + `,"ok":{"broadcast":false}}`
	if frame != want {
		t.Fatalf("direct answer:\n got %s\nwant %s", frame, want)
	}
	sender.publishBin("mod", []byte("\x00rude"))
	sender.expect("mod", "\x01refused", true, "", true)
	if got := sender.publish("mod", "polite"); got != `{"broadcast":true}` {
		t.Fatalf("accepted: %s", got)
	}
	// The others saw the polite message only.
	for _, c := range []*rc{sender, watcher} {
		c.expect("mod", "polite", false, "alice", false)
	}
	if _, got := read(t, raw); got != "polite" {
		t.Fatalf("raw member got %q first", got)
	}

	id = sender.cmd("publish", map[string]string{"room": "mod", "data": "kick me"})
	_, frame = read(t, sender.ws)
	if !strings.HasSuffix(frame, `{"id":`+itoa(id)+`,"ok":{"broadcast":false}}`) {
		t.Fatalf("kick: %s", frame)
	}
	if ce := closeOf(t, sender.ws); ce.Code != 4000 || ce.Text != "kicked" {
		t.Fatalf("kick: close %d %q", ce.Code, ce.Text)
	}
	// A raw member's rude frame gets the same treatment, as a frame.
	send(t, raw, websocket.TextMessage, "rude")
	if _, got := read(t, raw); got != "refused: be nice" {
		t.Fatalf("raw member: %q", got)
	}
	watcher.publish("mod", "after")
	watcher.expect("mod", "after", false, "", false)
}
