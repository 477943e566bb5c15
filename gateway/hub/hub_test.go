package hub

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Over a real NATS server: members get what is published to their room, a
// member that left gets nothing more, and the last one out unsubscribes.
func TestJoinFanOutLeave(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := New[*member](nc, Options{Dispatchers: 2, Queue: 16})
	defer h.Close()

	a, b := newMember("a"), newMember("b")
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
	if a.received()[0] != "x" || b.received()[0] != "x" {
		t.Fatalf("got %v %v", a.received(), b.received())
	}

	h.Leave(subj, a)
	h.Leave(subj, a) // twice is harmless
	_ = pub.Publish(subj, []byte("y"))
	b.wait(t)
	if len(a.received()) != 1 || b.received()[1] != "y" {
		t.Fatalf("after leave: %v %v", a.received(), b.received())
	}
	h.Leave(subj, b)
	if h.Rooms() != 0 {
		t.Fatalf("rooms left: %d", h.Rooms())
	}
	if n, sub := h.Members(subj); n != 0 || sub {
		t.Fatalf("members %d sub %v after last leave", n, sub)
	}
}

// Over a real NATS server: when a room's broadcasts arrive faster than its
// dispatcher drains them, nats.go drops the excess; each one is counted and
// the log names the room.
func TestSlowRoomDropsCounted(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped_total", Help: "test"})
	var log logBuf
	h := New[*member](nc, Options{Dispatchers: 1, Queue: 2, Dropped: dropped, Log: log.logger(), DropCheckEvery: time.Hour})
	defer h.Close()

	slow := newMember("slow")
	release := slow.stuck()
	defer release()
	subj := contract.RoomOut(contract.RoomSubject, "busy")
	if err := h.Join(subj, slow, time.Second); err != nil {
		t.Fatal(err)
	}
	pub, _ := nats.Connect(s.ClientURL())
	defer pub.Close()
	// The dispatcher takes the first and blocks in it; two more fill the
	// queue; the rest can only be dropped.
	const sent = 20
	for i := 0; i < sent; i++ {
		_ = pub.Publish(subj, []byte("m"))
	}
	_ = pub.Flush()
	r := h.lookup(subj)
	eventually(t, 5*time.Second, "nats.go to drop", func() bool {
		n, _ := r.sub.Dropped()
		d, _ := r.sub.Delivered()
		return n > 0 && int(d)+n >= sent
	})
	want, _ := r.sub.Dropped()
	h.sweepDrops()
	if got := testutil.ToFloat64(dropped); got != float64(want) {
		t.Fatalf("counted %v drops, nats.go dropped %d", got, want)
	}
	if !strings.Contains(log.String(), "room=busy") || !strings.Contains(log.String(), "dropped="+strconv.Itoa(want)) {
		t.Fatalf("log: %q", log.String())
	}
	release()
	for i := 0; i < sent-want; i++ {
		slow.wait(t)
	}
	h.Leave(subj, slow)
	if got := testutil.ToFloat64(dropped); got != float64(want) {
		t.Fatalf("counted %v drops after leave, want %d", got, want)
	}
}
