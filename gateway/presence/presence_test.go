package presence

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/shared/contract"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type memOut struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (o *memOut) Add(m ...*nats.Msg) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m...)
	return true
}

// lines renders each message as "<subject> <Nats-Msg-Id> [PURGE]".
func (o *memOut) lines() []string {
	var out []string
	for _, m := range o.msgs {
		s := m.Subject + " " + m.Header.Get(nats.MsgIdHdr)
		if m.Header.Get("KV-Operation") != "" {
			s += " " + m.Header.Get("KV-Operation")
		}
		out = append(out, s)
	}
	return out
}

// A connection's records: ids derived from gateway, connection and join
// number, each event paired with its key's write, leaves of the rooms
// still joined before the disconnect.
func TestRecorderIDsAndOrder(t *testing.T) {
	out := &memOut{}
	r := &Recorder{Gateway: "GW", Out: out}
	c := r.Connect("1a", "alice", "/ws/rooms", "192.0.2.1")
	c.Join("lobby")
	c.Join("lobby") // already in: nothing
	c.Leave("hall") // not in: nothing
	c.Join("hall")
	c.Leave("lobby")
	c.Join("lobby")
	c.Disconnect(1000, contract.ReasonClient)
	c.Disconnect(1000, contract.ReasonClient) // once
	c.Join("late")                            // after the end: nothing
	got := strings.Join(out.lines(), "\n")
	want := strings.Join([]string{
		"wsgw.events.connect GW.1a.c",
		"$KV.wsgw_presence.c.GW.1a GW.1a.c.kv",
		"wsgw.events.join GW.1a.j1",
		"$KV.wsgw_presence.m.lobby.GW.1a GW.1a.j1.kv",
		"wsgw.events.join GW.1a.j2",
		"$KV.wsgw_presence.m.hall.GW.1a GW.1a.j2.kv",
		"wsgw.events.leave GW.1a.l1",
		"$KV.wsgw_presence.m.lobby.GW.1a GW.1a.l1.kv PURGE",
		"wsgw.events.join GW.1a.j3",
		"$KV.wsgw_presence.m.lobby.GW.1a GW.1a.j3.kv",
	}, "\n")
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got\n%s\nwant first\n%s", got, want)
	}
	// Then the leaves of hall (j2) and lobby (j3), in any order, then the disconnect.
	rest := out.lines()[10:]
	if len(rest) != 6 || rest[4] != "wsgw.events.disconnect GW.1a.d" || rest[5] != "$KV.wsgw_presence.c.GW.1a GW.1a.d.kv PURGE" {
		t.Fatalf("end: %v", rest)
	}
	leaves := map[string]bool{rest[0]: true, rest[2]: true}
	if !leaves["wsgw.events.leave GW.1a.l2"] || !leaves["wsgw.events.leave GW.1a.l3"] {
		t.Fatalf("leaves: %v", rest)
	}
	var ev contract.Event
	if err := json.Unmarshal(out.msgs[len(out.msgs)-2].Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "GW.1a.d" || ev.Event != "disconnect" || ev.Gateway != "GW" || ev.Conn != "1a" || ev.User != "alice" ||
		ev.Route != "/ws/rooms" || ev.RemoteAddr != "192.0.2.1" || ev.Code != 1000 || ev.Reason != "client" || ev.Time == "" {
		t.Fatalf("disconnect %+v", ev)
	}
	// The ids a presence worker derives for the same events are the same.
	if contract.LeaveID("GW", "1a", 3) != "GW.1a.l3" || contract.DisconnectID("GW", "1a") != "GW.1a.d" {
		t.Fatal("derived ids differ")
	}
}

type recv struct {
	mu    sync.Mutex
	lines []string
}

func (r *recv) SendPrepared(b *client.Broadcast) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, string(b.Data()))
}

type nopSub struct{}

func (nopSub) Subscribe(string, nats.MsgHandler) (*nats.Subscription, error) {
	return &nats.Subscription{}, nil
}

func TestWatchersDropCopiesAndBadNotices(t *testing.T) {
	w := NewWatchers(nopSub{})
	a, b := &recv{}, &recv{}
	if err := w.Watch("lobby", a); err != nil {
		t.Fatal(err)
	}
	_ = w.Watch("lobby", b)
	rm := w.rooms["lobby"]
	for _, body := range []string{
		`{"event":"join","user":"bob","rev":5}`,
		`{"event":"join","user":"bob","rev":5}`,  // the other instance's copy
		`{"event":"leave","user":"bob","rev":3}`, // stale
		`{"event":"part","user":"bob","rev":9}`,  // unknown event
		`{"event":"join","user":" bob","rev":9}`, // not a valid user id
		`{"event":"join","user":"bob"}`,          // no rev
		"\xff",
		`{"event":"leave","user":"bob","rev":6}`,
	} {
		w.deliver("lobby", rm, &nats.Msg{Data: []byte(body)})
	}
	want := []string{`{"room":"lobby","event":"join","user":"bob"}`, `{"room":"lobby","event":"leave","user":"bob"}`}
	for _, r := range []*recv{a, b} {
		if strings.Join(r.lines, "|") != strings.Join(want, "|") {
			t.Fatalf("got %v", r.lines)
		}
	}
	w.Unwatch("lobby", a)
	if w.Rooms() != 1 {
		t.Fatal("room dropped with a watcher left")
	}
}
