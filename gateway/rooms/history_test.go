package rooms

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/history"
	"github.com/wsgate/wsgate/gateway/hub"
	"github.com/wsgate/wsgate/shared/contract"
)

// fakeStore is a room history in memory: messages by room subject.
type fakeStore struct {
	msgs  map[string][]history.Msg
	limit int64
	// during runs inside the first Range, as messages published while a
	// join reads the stream would arrive.
	during func()
}

func (f *fakeStore) Range(_ context.Context, subject string, from uint64, fn func(history.Msg) bool) error {
	if d := f.during; d != nil {
		f.during = nil
		d()
	}
	for _, m := range f.msgs[subject] {
		if m.Seq >= from && !fn(m) {
			return nil
		}
	}
	return nil
}

func (f *fakeStore) Last(_ context.Context, subject string) (uint64, error) {
	ms := f.msgs[subject]
	if len(ms) == 0 {
		return 0, nil
	}
	return ms[len(ms)-1].Seq, nil
}

func (f *fakeStore) Limit(context.Context) (int64, error) { return f.limit, nil }

func stored(seq uint64, body string) history.Msg {
	return history.Msg{Seq: seq, Data: []byte(body), Header: nats.Header{contract.HeaderFrame: {"text"}}}
}

// live is a room message as the hub hands it to members.
func live(room string, seq uint64, body string) *hub.Broadcast {
	return &hub.Broadcast{Msg: &nats.Msg{Data: []byte(body), Header: nats.Header{}}, Room: room, Type: websocket.TextMessage, Seq: seq}
}

func historyFixture(t *testing.T, st *fakeStore) *fixture {
	f := newFixture(t, 16, time.Minute)
	f.s.cfg.History = st
	return f
}

// A join with since delivers what was missed, then what arrived live
// meanwhile, each once, then its ok; afterwards a message already
// delivered is not delivered again.
func TestJoinSinceCatchesUp(t *testing.T) {
	st := &fakeStore{msgs: map[string][]history.Msg{"wsgw.room.log.a": {stored(3, "c"), stored(5, "e"), stored(8, "h")}}, limit: 100}
	f := historyFixture(t, st)
	st.during = func() {
		f.s.Receive(live("a", 8, "h")) // stored and live: once
		f.s.Receive(live("a", 9, "i")) // live only
	}
	f.frame(`{"id":1,"join":{"room":"a","since":3}}`)
	for _, want := range []string{
		`{"room":"a","data":"e","seq":5}` + "\n" + `{"room":"a","data":"h","seq":8}`,
		`{"room":"a","data":"i","seq":9}`,
		`{"id":1,"ok":{"seq":9,"recovered":true}}`,
	} {
		if got := f.conn.next(t); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	f.s.Receive(live("a", 9, "i"))
	f.s.Receive(live("a", 10, "j"))
	if got := f.conn.next(t); got != `{"room":"a","data":"j","seq":10}` {
		t.Fatalf("live after catch-up: %s", got)
	}
	f.conn.idle(t)

	// since removed: recovered false; history: the last ones.
	f.frame(`{"id":2,"leave":{"room":"a"}}`)
	f.conn.next(t)
	f.frame(`{"id":3,"join":{"room":"a","since":4}}`)
	f.conn.next(t)
	if got := f.conn.next(t); got != `{"id":3,"ok":{"seq":8,"recovered":false}}` {
		t.Fatalf("since gone: %s", got)
	}
	// A since the room never had: recovered false, and where it stands.
	f.frame(`{"id":5,"leave":{"room":"a"}}`)
	f.conn.next(t)
	f.frame(`{"id":6,"join":{"room":"a","since":100}}`)
	if got := f.conn.next(t); got != `{"id":6,"ok":{"seq":8,"recovered":false}}` {
		t.Fatalf("since ahead: %s", got)
	}
	f.frame(`{"id":4,"history":{"room":"a","before":8,"limit":1}}`)
	if got := f.conn.next(t); got != `{"id":4,"ok":{"messages":[{"room":"a","data":"e","seq":5}]}}` {
		t.Fatalf("history: %s", got)
	}
}

// Stored publishes: each broadcast is published on the room's log subject
// as soon as its worker answered, in order, without waiting for the acks
// before it; replies wait for their ack and go out in order; a publish's
// msg_id becomes the stream's deduplication id; an ack that does not come
// fails the publish with 503 "not stored".
func TestStoredPublishes(t *testing.T) {
	st := &fakeStore{msgs: map[string][]history.Msg{}}
	f := historyFixture(t, st)
	f.s.cfg.WorkerTimeout = 500 * time.Millisecond
	f.frame(`{"id":1,"join":{"room":"a"}}`)
	if got := f.conn.next(t); got != `{"id":1,"ok":{"seq":0,"recovered":true}}` {
		t.Fatalf("join: %s", got)
	}
	f.frame(`{"id":2,"publish":{"room":"a","data":"x","msg_id":"m1"}}`)
	f.frame(`{"id":3,"publish":{"room":"a","data":"y"}}`)
	store := &nats.Msg{Header: nats.Header{contract.HeaderBroadcast: {"1"}, contract.HeaderStore: {"1"}, contract.HeaderFrame: {"text"}}}
	seqOf := func(m *nats.Msg) uint64 {
		var s uint64
		fmt.Sscan(m.Reply[strings.LastIndexByte(m.Reply, '.')+1:], &s)
		return s
	}
	reqs := f.pub.published()
	if reqs[0].Header.Get(contract.HeaderMsgID) != "m1" || reqs[1].Header.Get(contract.HeaderMsgID) != "" {
		t.Fatalf("msg_id to the worker: %v / %v", reqs[0].Header, reqs[1].Header)
	}
	f.s.Reply(seqOf(reqs[0]), &nats.Msg{Header: store.Header, Data: []byte("x")})
	f.s.Reply(seqOf(reqs[1]), &nats.Msg{Header: store.Header, Data: []byte("y")})
	logs := f.pub.published()[2:]
	if len(logs) != 2 || logs[0].Subject != "wsgw.room.log.a" || string(logs[0].Data) != "x" || string(logs[1].Data) != "y" {
		t.Fatalf("stored: %v", logs)
	}
	if id := logs[0].Header.Get(contract.HeaderNatsMsgID); len(id) != 64 || logs[1].Header.Get(contract.HeaderNatsMsgID) != "" {
		t.Fatalf("dedupe ids: %q %q", id, logs[1].Header.Get(contract.HeaderNatsMsgID))
	}
	f.conn.idle(t)
	f.s.Reply(seqOf(logs[1]), &nats.Msg{Data: []byte(`{"stream":"WSGW_ROOMS","seq":42}`)})
	f.conn.idle(t) // waits for the first ack
	f.s.Reply(seqOf(logs[0]), &nats.Msg{Data: []byte(`{"stream":"WSGW_ROOMS","seq":41,"duplicate":true}`)})
	for _, want := range []string{`{"id":2,"ok":{"broadcast":true,"seq":41}}`, `{"id":3,"ok":{"broadcast":true,"seq":42}}`} {
		if got := f.conn.next(t); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	// No ack, or a refusal.
	f.frame(`{"id":4,"publish":{"room":"a","data":"lost"}}`)
	f.frame(`{"id":5,"publish":{"room":"a","data":"refused"}}`)
	reqs = f.pub.published()[4:]
	f.s.Reply(seqOf(reqs[0]), &nats.Msg{Header: store.Header, Data: []byte("lost")})
	f.s.Reply(seqOf(reqs[1]), &nats.Msg{Header: store.Header, Data: []byte("refused")})
	logs = f.pub.published()[6:]
	f.s.Reply(seqOf(logs[1]), &nats.Msg{Data: []byte(`{"error":{"code":503,"description":"no quorum"}}`)})
	for _, want := range []string{`{"id":4,"error":{"code":503,"reason":"not stored"}}`, `{"id":5,"error":{"code":503,"reason":"history unavailable"}}`} {
		if got := f.conn.next(t); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}
