package hub

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type member struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{}
}

func newMember() *member { return &member{ch: make(chan struct{}, 100)} }

// SendPrepared records what a client would receive.
func (m *member) SendPrepared(b *client.Broadcast) {
	m.mu.Lock()
	if b == nil {
		panic("no broadcast")
	}
	m.got = append(m.got, string(b.Data()))
	m.mu.Unlock()
	m.ch <- struct{}{}
}

func (m *member) wait(t *testing.T) {
	t.Helper()
	select {
	case <-m.ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no delivery")
	}
}

func TestJoinFanOutLeave(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := New(nc, 2, 16, nil)
	defer h.Close()

	a, b := newMember(), newMember()
	subj := contract.RoomOut(contract.RoomSubject, "r")
	if err := h.Join(subj, a, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.Join(subj, b, time.Second); err != nil {
		t.Fatal(err)
	}
	if n, sub := h.Members(subj); n != 2 || !sub {
		t.Fatalf("members %d sub %v", n, sub)
	}
	pub, _ := nats.Connect(s.ClientURL())
	defer pub.Close()
	_ = pub.PublishMsg(&nats.Msg{Subject: subj, Data: []byte("x"), Header: nats.Header{contract.HeaderFrame: {contract.FrameBinary}}})
	a.wait(t)
	b.wait(t)
	if a.got[0] != "x" || b.got[0] != "x" {
		t.Fatalf("got %v %v", a.got, b.got)
	}

	h.Leave(subj, a)
	h.Leave(subj, a) // twice is harmless
	_ = pub.Publish(subj, []byte("y"))
	b.wait(t)
	if len(a.got) != 1 || b.got[1] != "y" {
		t.Fatalf("after leave: %v %v", a.got, b.got)
	}
	h.Leave(subj, b)
	if h.Rooms() != 0 {
		t.Fatalf("rooms left: %d", h.Rooms())
	}
	if n, sub := h.Members(subj); n != 0 || sub {
		t.Fatalf("members %d sub %v after last leave", n, sub)
	}
}
