package server

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/roomsproto"
)

// testHistorySize is how many messages per room the "room-history" test
// worker keeps.
const testHistorySize = 20

// joined is a join's ok with history.
type joined struct {
	Seq       *uint64 `json:"seq"`
	Recovered *bool   `json:"recovered"`
}

func (c *rc) joinWith(args map[string]any) joined {
	c.t.Helper()
	var j joined
	if err := json.Unmarshal([]byte(c.ok("join", args)), &j); err != nil || j.Seq == nil || j.Recovered == nil {
		c.t.Fatalf("join reply without seq and recovered: %v", err)
	}
	return j
}

// published is a publish's ok with history.
func (c *rc) published(room, data string, extra map[string]any) uint64 {
	c.t.Helper()
	args := map[string]any{"room": room, "data": data}
	for k, v := range extra {
		args[k] = v
	}
	var ok struct {
		Broadcast bool   `json:"broadcast"`
		Seq       uint64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(c.ok("publish", args)), &ok); err != nil || !ok.Broadcast || ok.Seq == 0 {
		c.t.Fatalf("publish reply %+v, %v: want broadcast and a seq", ok, err)
	}
	return ok.Seq
}

// seqMessage waits for the next room message and checks its body and that
// its seq is s (or any seq when s is 0); it returns the seq.
func (c *rc) seqMessage(room, body string, s uint64) uint64 {
	c.t.Helper()
	m := c.message()
	got, _, err := m.Body()
	if err != nil || m.Room != room || string(got) != body || m.Seq == 0 || s != 0 && m.Seq != s {
		c.t.Fatalf("got %s seq %d; want room %q body %q seq %d", describe(m), m.Seq, room, body, s)
	}
	return m.Seq
}

// With history on, every member on every gateway gets a room's messages
// with the same seq and in the same order, whoever sent them and however;
// a publish is answered with its seq.
func TestHistorySeqAndOrder(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room-history")
	g1, g2 := gateway(t, url), gateway(t, url)
	a, b := dialRooms(t, g1.url, nil), dialRooms(t, g2.url, nil)
	ja, jb := a.joinWith(map[string]any{"room": "h"}), b.joinWith(map[string]any{"room": "h"})
	if *ja.Seq != 0 || *jb.Seq != 0 || !*ja.Recovered {
		t.Fatalf("joins of an empty room: %+v %+v", ja, jb)
	}
	raw := dial(t, g2.url+"/ws/room/h", nil)

	var want []uint64
	for i := range 5 {
		want = append(want, a.published("h", "a"+strconv.Itoa(i), nil))
		want = append(want, b.published("h", "b"+strconv.Itoa(i), nil))
	}
	send(t, raw, websocket.TextMessage, "raw")
	for i := 1; i < len(want); i++ {
		if want[i] <= want[i-1] {
			t.Fatalf("seqs do not increase: %v", want)
		}
	}
	// Everyone sees the same sequence: a's and b's publishes interleaved as
	// they were stored, then the raw member's frame.
	for _, c := range []*rc{a, b} {
		var last uint64
		for i := range 10 {
			body := map[bool]string{true: "a", false: "b"}[i%2 == 0] + strconv.Itoa(i/2)
			last = c.seqMessage("h", body, want[i])
		}
		if s := c.seqMessage("h", "raw", 0); s <= last {
			t.Fatalf("raw frame's seq %d after %d", s, last)
		}
	}
	for i := range 10 {
		body := map[bool]string{true: "a", false: "b"}[i%2 == 0] + strconv.Itoa(i/2)
		if _, got := read(t, raw); got != body {
			t.Fatalf("raw member got %q, want %q", got, body)
		}
	}
}

// A client that comes back with since gets exactly what it missed, then
// the live messages, with nothing twice; history gives the last messages.
func TestHistoryResume(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room-history")
	g1, g2 := gateway(t, url), gateway(t, url)
	pub := dialRooms(t, g1.url, nil)
	pub.join("r")
	first := dialRooms(t, g2.url, nil)
	first.join("r")
	var seqs []uint64
	for i := range 3 {
		seqs = append(seqs, pub.published("r", fmt.Sprint("m", i), nil))
	}
	last := first.seqMessage("r", "m0", seqs[0])
	first.ws.Close() // gone: what follows it misses
	for i := 3; i < 8; i++ {
		seqs = append(seqs, pub.published("r", fmt.Sprint("m", i), nil))
	}

	back := dialRooms(t, g2.url, nil)
	j := back.joinWith(map[string]any{"room": "r", "since": last})
	if *j.Seq != seqs[7] || !*j.Recovered {
		t.Fatalf("resume reply %+v, want seq %d recovered", j, seqs[7])
	}
	for i := 1; i < 8; i++ {
		back.seqMessage("r", fmt.Sprint("m", i), seqs[i])
	}
	s := pub.published("r", "live", nil)
	back.seqMessage("r", "live", s)

	// Up to date: nothing to deliver, recovered.
	same := dialRooms(t, g1.url, nil)
	if j := same.joinWith(map[string]any{"room": "r", "since": s}); *j.Seq != s || !*j.Recovered {
		t.Fatalf("resume at the end: %+v", j)
	}
	// The last 3.
	h := dialRooms(t, g1.url, nil)
	if j := h.joinWith(map[string]any{"room": "r", "history": 3}); *j.Seq != s {
		t.Fatalf("history join: %+v", j)
	}
	h.seqMessage("r", "m6", seqs[6])
	h.seqMessage("r", "m7", seqs[7])
	h.seqMessage("r", "live", s)
	// since wins over history.
	both := dialRooms(t, g1.url, nil)
	both.joinWith(map[string]any{"room": "r", "since": seqs[6], "history": 5})
	both.seqMessage("r", "m7", seqs[7])
	both.seqMessage("r", "live", s)

	// The history command: before and limit, oldest first; for members and
	// for whoever may join.
	var got struct {
		Messages []roomsproto.Received `json:"messages"`
	}
	out := dialRooms(t, g2.url, nil)
	if err := json.Unmarshal([]byte(out.ok("history", map[string]any{"room": "r", "before": seqs[5], "limit": 2})), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 || got.Messages[0].Seq != seqs[3] || got.Messages[1].Seq != seqs[4] || *got.Messages[1].Data != "m4" {
		t.Fatalf("history before %d limit 2: %+v", seqs[5], got.Messages)
	}
	out.fails(400, "history", map[string]any{"room": "r", "limit": 101})
}

// since older than what is kept: recovered false, and what is still there.
func TestHistoryNotRecovered(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room-history")
	g := gateway(t, url)
	pub := dialRooms(t, g.url, nil)
	pub.join("old")
	var seqs []uint64
	for i := range testHistorySize + 5 {
		seqs = append(seqs, pub.published("old", fmt.Sprint(i), nil))
	}
	c := dialRooms(t, g.url, nil)
	j := c.joinWith(map[string]any{"room": "old", "since": seqs[2]})
	if *j.Recovered || *j.Seq != seqs[len(seqs)-1] {
		t.Fatalf("resume from a removed message: %+v", j)
	}
	for i := 5; i < len(seqs); i++ {
		c.seqMessage("old", fmt.Sprint(i), seqs[i])
	}
	// since 0 on a room that is full: some may have been pushed out.
	z := dialRooms(t, g.url, nil)
	if j := z.joinWith(map[string]any{"room": "old", "since": 0}); *j.Recovered {
		t.Fatalf("since 0 on a full room: %+v", j)
	}
	// ...on a room that is not: everything, recovered.
	pub.join("young")
	s := pub.published("young", "x", nil)
	y := dialRooms(t, g.url, nil)
	if j := y.joinWith(map[string]any{"room": "young", "since": 0}); !*j.Recovered || *j.Seq != s {
		t.Fatalf("since 0 on a room with one message: %+v", j)
	}
	y.seqMessage("young", "x", s)
}

// A publish retried with the same msg_id is stored once and answered with
// the first one's seq; the same msg_id from another user is another
// message.
func TestHistoryMsgIDDedupe(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "room-history")
	worker(t, url, "auth")
	g := gateway(t, url)
	alice := dialRooms(t, g.url, bearer("secret"))
	alice.join("d")
	bo := dialRooms(t, g.url, bearer(token(t, "bo", time.Hour, nil)))
	bo.join("d")
	s1 := alice.published("d", "once", map[string]any{"msg_id": "m-1"})
	s2 := alice.published("d", "once", map[string]any{"msg_id": "m-1"})
	if s1 != s2 {
		t.Fatalf("retry stored again: seq %d then %d", s1, s2)
	}
	s3 := bo.published("d", "bo's", map[string]any{"msg_id": "m-1"})
	if s3 <= s1 {
		t.Fatalf("another user's msg_id was deduplicated: %d", s3)
	}
	bo.seqMessage("d", "once", s1)
	bo.seqMessage("d", "bo's", s3) // the retry was not delivered again
}
