package rooms

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// These tests drive a session through fakes: no socket, no NATS.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeConn records what the session sends.
type fakeConn struct {
	mu     sync.Mutex
	frames []string
	closes []int
	done   chan struct{}
	once   sync.Once
	sent   chan struct{}
}

func newFakeConn() *fakeConn {
	return &fakeConn{done: make(chan struct{}), sent: make(chan struct{}, 1000)}
}

func (c *fakeConn) Send(_ int, data []byte) {
	c.mu.Lock()
	c.frames = append(c.frames, string(data))
	c.mu.Unlock()
	c.sent <- struct{}{}
}

func (c *fakeConn) SendPrepared(b *client.Broadcast) { c.Send(0, b.Data()) }

func (c *fakeConn) Close(cl wsclose.Close) {
	c.mu.Lock()
	c.closes = append(c.closes, cl.Code())
	c.mu.Unlock()
	c.once.Do(func() { close(c.done) })
}

func (c *fakeConn) Abort()                { c.Close(wsclose.New(1000, "")) }
func (c *fakeConn) Done() <-chan struct{} { return c.done }

// next waits for the next frame.
func (c *fakeConn) next(t *testing.T) string {
	t.Helper()
	select {
	case <-c.sent:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.frames[0]
	c.frames = c.frames[1:]
	return f
}

func (c *fakeConn) idle(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.frames) > 0 {
		t.Fatalf("unexpected frames %q", c.frames)
	}
}

// fakeRooms records memberships; join fails for rooms in fail.
type fakeRooms struct {
	mu     sync.Mutex
	joined map[string]bool
	fail   map[string]bool
}

func (r *fakeRooms) Join(subject string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[subject] {
		return errors.New("flush: timeout")
	}
	r.joined[subject] = true
	return nil
}

func (r *fakeRooms) Leave(subject string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.joined, subject)
}

// fakeAuth answers by room.
type fakeAuth map[string]error

func (a fakeAuth) Authorize(_ context.Context, room string) (bool, error) {
	if room == "quiet" {
		return false, nil
	}
	return true, a[room]
}

// fakePub records what is published, and fails while failing is set.
type fakePub struct {
	mu      sync.Mutex
	msgs    []*nats.Msg
	failing bool
}

func (p *fakePub) PublishMsg(m *nats.Msg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing {
		return nats.ErrConnectionClosed
	}
	c := *m
	c.Header = nats.Header{}
	for k, v := range m.Header {
		c.Header[k] = slices.Clone(v)
	}
	c.Data = slices.Clone(m.Data)
	p.msgs = append(p.msgs, &c)
	return nil
}

func (p *fakePub) published() []*nats.Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

type fixture struct {
	s     *Session
	conn  *fakeConn
	rooms *fakeRooms
	pub   *fakePub
}

func newFixture(t *testing.T, window int, timeout time.Duration) *fixture {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.NewGateway()
	f := &fixture{conn: newFakeConn(), rooms: &fakeRooms{joined: map[string]bool{}, fail: map[string]bool{}}, pub: &fakePub{}}
	opts := &Options{
		Gateway: "gw", Base: "wsgw.room", Inbox: "wsgw.gw.gw", MaxRooms: 2, Window: window, WorkerTimeout: timeout,
		Pub: f.pub, Outbound: client.NewOutbound(1<<16, m, quiet), Metrics: m, Log: quiet,
	}
	auth := fakeAuth{"team": roomsproto.ErrUnauthorized, "secret": roomsproto.ErrForbidden, "down": errors.New("no responders")}
	f.s = New(f.conn, "c1", "alice", f.rooms, auth, opts)
	t.Cleanup(f.s.End)
	return f
}

func (f *fixture) frame(s string) { f.s.Frame(websocket.TextMessage, []byte(s)) }

func TestCommandErrors(t *testing.T) {
	f := newFixture(t, 16, time.Second)
	f.rooms.fail["wsgw.room.out.broken"] = true
	for _, tc := range []struct{ frame, want string }{
		{`{"id":1,"join":{"room":"a"}}`, `{"id":1,"ok":{}}`},
		{`{"id":2,"join":{"room":"a"}}`, `{"id":2,"error":{"code":409,"reason":"room already joined"}}`},
		{`{"id":3,"join":{"room":"team"}}`, `{"id":3,"error":{"code":401,"reason":"identity required"}}`},
		{`{"id":4,"join":{"room":"secret"}}`, `{"id":4,"error":{"code":403,"reason":"not allowed"}}`},
		{`{"id":5,"join":{"room":"down"}}`, `{"id":5,"error":{"code":503,"reason":"unavailable"}}`},
		{`{"id":6,"join":{"room":"broken"}}`, `{"id":6,"error":{"code":503,"reason":"unavailable"}}`},
		{`{"id":7,"join":{"room":"quiet"}}`, `{"id":7,"ok":{}}`},
		{`{"id":8,"join":{"room":"c"}}`, `{"id":8,"error":{"code":429,"reason":"too many rooms"}}`},
		{`{"id":9,"publish":{"room":"quiet","data":"x"}}`, `{"id":9,"error":{"code":403,"reason":"not allowed"}}`},
		{`{"id":10,"publish":{"room":"c","data":"x"}}`, `{"id":10,"error":{"code":404,"reason":"room not joined"}}`},
		{`{"id":11,"leave":{"room":"c"}}`, `{"id":11,"error":{"code":404,"reason":"room not joined"}}`},
		{`{"id":12,"leave":{"room":"quiet"}}`, `{"id":12,"ok":{}}`},
		{`{"id":13}`, `{"id":13,"error":{"code":400,"reason":"unknown or missing command"}}`},
		{`nope`, `{"id":0,"error":{"code":400,"reason":"not JSON"}}`},
	} {
		f.frame(tc.frame)
		if got := f.conn.next(t); got != tc.want {
			t.Fatalf("%s:\n got %s\nwant %s", tc.frame, got, tc.want)
		}
	}
	f.s.Frame(websocket.BinaryMessage, []byte(`{"id":14,"leave":{"room":"a"}}`))
	if got := f.conn.next(t); got != `{"id":0,"error":{"code":400,"reason":"binary frames are not commands"}}` {
		t.Fatalf("binary: %s", got)
	}
	if len(f.pub.published()) != 0 {
		t.Fatal("refused commands published something")
	}
	f.s.End()
	if len(f.rooms.joined) != 0 || f.s.Joined() != 0 {
		t.Fatalf("End left rooms: %v", f.rooms.joined)
	}
}

// Publishes wait for their workers together; answers that come out of
// order are released in order, with their broadcasts, and replies decided
// at once wait for the publishes before them.
func TestRepliesInOrder(t *testing.T) {
	f := newFixture(t, 16, time.Minute)
	f.frame(`{"id":1,"join":{"room":"a"}}`)
	f.conn.next(t)
	f.frame(`{"id":2,"publish":{"room":"a","data":"first"}}`)
	f.frame(`{"id":3,"publish":{"room":"a","b64":"AAE="}}`)
	f.frame(`{"id":4,"leave":{"room":"nope"}}`)
	f.frame(`{"id":5,"publish":{"room":"a","data":"declined"}}`)
	reqs := f.pub.published()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		h := r.Header
		if r.Subject != "wsgw.room.in.a" || r.Reply != "wsgw.gw.gw.c1."+itoa(i+1) || h.Get(contract.HeaderRoom) != "a" ||
			h.Get(contract.HeaderConn) != "c1" || h.Get(contract.HeaderGateway) != "gw" || h.Get(contract.HeaderUser) != "alice" {
			t.Fatalf("request %d: %s %s %v", i, r.Subject, r.Reply, h)
		}
	}
	if reqs[0].Header.Get(contract.HeaderFrame) != "text" || reqs[1].Header.Get(contract.HeaderFrame) != "binary" || string(reqs[1].Data) != "\x00\x01" {
		t.Fatalf("frame kinds: %v %v %q", reqs[0].Header, reqs[1].Header, reqs[1].Data)
	}
	f.conn.idle(t)
	bcast := func(body, kind string) *nats.Msg {
		return &nats.Msg{Data: []byte(body), Header: nats.Header{contract.HeaderBroadcast: {"1"}, contract.HeaderFrame: {kind}}}
	}
	f.s.Reply(3, &nats.Msg{Data: []byte("no"), Header: nats.Header{}})
	f.s.Reply(2, bcast("\x00\x01", "binary"))
	f.conn.idle(t) // 1 is not answered
	f.s.Reply(1, bcast("first", "text"))
	f.s.Reply(1, bcast("again", "text")) // a second answer is dropped
	for _, want := range []string{
		`{"id":2,"ok":{"broadcast":true}}`, `{"id":3,"ok":{"broadcast":true}}`,
		`{"id":4,"error":{"code":404,"reason":"room not joined"}}`, `{"id":5,"ok":{"broadcast":false}}`,
	} {
		if got := f.conn.next(t); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	out := f.pub.published()[3:]
	if len(out) != 2 || out[0].Subject != "wsgw.room.out.a" || string(out[0].Data) != "first" || string(out[1].Data) != "\x00\x01" ||
		out[1].Header.Get(contract.HeaderFrame) != "binary" || out[0].Header.Get(contract.HeaderUser) != "alice" {
		t.Fatalf("broadcasts: %v", out)
	}
}

// Past the window, the reader waits until a reply leaves; a close frees
// it. A publish not answered in time fails with 503, and NATS refusing the
// request too.
func TestWindowTimeoutAndClose(t *testing.T) {
	f := newFixture(t, 2, 50*time.Millisecond)
	f.frame(`{"id":1,"join":{"room":"a"}}`)
	f.conn.next(t)
	f.frame(`{"id":2,"publish":{"room":"a","data":"x"}}`)
	f.frame(`{"id":3,"publish":{"room":"a","data":"y"}}`)
	start := time.Now()
	f.frame(`{"id":4,"leave":{"room":"a"}}`) // waits for room: both publishes time out first
	for _, want := range []string{
		`{"id":2,"error":{"code":503,"reason":"worker timeout"}}`, `{"id":3,"error":{"code":503,"reason":"worker timeout"}}`,
		`{"id":4,"ok":{}}`,
	} {
		if got := f.conn.next(t); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("the reader did not wait for room")
	}
	f.frame(`{"id":5,"join":{"room":"a"}}`)
	f.conn.next(t)
	f.pub.failing = true
	f.frame(`{"id":6,"publish":{"room":"a","data":"x"}}`)
	if got := f.conn.next(t); got != `{"id":6,"error":{"code":503,"reason":"unavailable"}}` {
		t.Fatalf("NATS refused: %s", got)
	}
	f.pub.failing = false

	// A full window and a close: the reader returns.
	f2 := newFixture(t, 1, time.Hour)
	f2.frame(`{"id":1,"join":{"room":"a"}}`)
	f2.conn.next(t)
	f2.frame(`{"id":2,"publish":{"room":"a","data":"x"}}`)
	done := make(chan struct{})
	go func() {
		f2.frame(`{"id":3,"leave":{"room":"a"}}`)
		close(done)
	}()
	f2.conn.Close(wsclose.New(1000, ""))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader stayed blocked after the close")
	}
	f2.s.Reply(1, &nats.Msg{Header: nats.Header{contract.HeaderBroadcast: {"1"}}, Data: []byte("x")})
	if n := len(f2.pub.published()); n != 1 {
		t.Fatalf("a broadcast was published for a closed client: %d messages", n)
	}
}

// A reply that addresses the sender alone comes as a direct message, then
// the reply, in one frame; Wsgw-Close closes after.
func TestDirectAndClose(t *testing.T) {
	f := newFixture(t, 4, time.Minute)
	f.frame(`{"id":1,"join":{"room":"a"}}`)
	f.conn.next(t)
	f.frame(`{"id":2,"publish":{"room":"a","data":"x"}}`)
	f.s.Reply(1, &nats.Msg{Data: []byte("only you"), Header: nats.Header{contract.HeaderFrame: {"text"}, contract.HeaderClose: {"4000"}}})
	want := `{"room":"a","data":"only you","direct":true}` + "\n" + `{"id":2,"ok":{"broadcast":false}}`
	if got := f.conn.next(t); got != want {
		t.Fatalf("got %s", got)
	}
	if !slices.Equal(f.conn.closes, []int{4000}) {
		t.Fatalf("closes %v", f.conn.closes)
	}
	if strings.Contains(want, "user") {
		t.Fatal("direct message names a user")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
