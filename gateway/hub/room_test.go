package hub

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wsgate/wsgate/gateway/client"
)

// These tests drive the hub through fakeBus: no sockets, no server.

func fakeHub(t *testing.T, opts Options) (*Hub[*member], *fakeBus) {
	return fakeHubOf[*member](t, opts)
}

func fakeHubOf[M memberKey](t testing.TB, opts Options) (*Hub[M], *fakeBus) {
	t.Helper()
	bus := newFakeBus()
	h := newHub[M](bus, opts)
	t.Cleanup(h.Close)
	return h, bus
}

// sameShard returns n subjects that share the shard (and so the shard lock)
// of subject "room.out.0", and a dispatcher other than its own, or the same
// one, as asked.
func sameShard(h *Hub[*member], n int, sameQueue bool) []string {
	first := "room.out.0"
	out := []string{first}
	for i := 1; len(out) < n; i++ {
		s := fmt.Sprintf("room.out.%d", i)
		if h.shard(s) == h.shard(first) && (h.queue(s) == h.queue(first)) == sameQueue {
			out = append(out, s)
		}
	}
	return out
}

func TestSubscriptionFollowsMembership(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 2, Queue: 16})
	const subj = "room.out.a"
	a, b := newMember("a"), newMember("b")
	if err := h.Join(subj, a, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.Join(subj, b, time.Second); err != nil {
		t.Fatal(err)
	}
	if n := bus.active(subj); n != 1 {
		t.Fatalf("%d subscriptions for one room", n)
	}
	if n, sub := h.Members(subj); n != 2 || !sub || h.Rooms() != 1 {
		t.Fatalf("members %d subscribed %v rooms %d", n, sub, h.Rooms())
	}
	h.Leave(subj, a)
	h.Leave(subj, a)
	h.Leave("room.out.nowhere", b)
	if n := bus.active(subj); n != 1 {
		t.Fatalf("subscription gone with a member left: %d", n)
	}
	h.Leave(subj, b)
	if n := bus.active(subj); n != 0 || h.Rooms() != 0 {
		t.Fatalf("after the last leave: %d subscriptions, %d rooms", n, h.Rooms())
	}
	if n, sub := h.Members(subj); n != 0 || sub {
		t.Fatalf("members %d subscribed %v", n, sub)
	}
	// Coming back takes a new subscription.
	if err := h.Join(subj, a, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, made := bus.total(); made != 2 || bus.active(subj) != 1 {
		t.Fatalf("made %d subscriptions, %d active", made, bus.active(subj))
	}
}

// Removal moves the last member into the gap: every remaining member still
// gets every broadcast, exactly once, in order.
func TestFanOutAfterRemovals(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 16})
	const subj = "room.out.a"
	var ms []*member
	for i := 0; i < 7; i++ {
		m := newMember(fmt.Sprint(i))
		ms = append(ms, m)
		if err := h.Join(subj, m, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 3, 6} { // the first, a middle one, the last
		h.Leave(subj, ms[i])
	}
	for _, s := range []string{"x", "y", "z"} {
		bus.publish(subj, s)
	}
	for i, m := range ms {
		if i == 0 || i == 3 || i == 6 {
			continue
		}
		for range 3 {
			m.wait(t)
		}
	}
	for i, m := range ms {
		want := []string{"x", "y", "z"}
		if i == 0 || i == 3 || i == 6 {
			want = nil
		}
		if got := m.received(); !slices.Equal(got, want) {
			t.Fatalf("member %d got %v, want %v", i, got, want)
		}
	}
	if n, _ := h.Members(subj); n != 4 {
		t.Fatalf("%d members", n)
	}
}

// A storm of joiners into a new room: one subscription, one flush, and no
// joiner returns before the server confirmed it; a joiner after that does
// not flush at all.
func TestJoinersShareOneFlush(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 16})
	gate := make(chan struct{})
	bus.gate = gate
	const subj, n = "room.out.storm", 200
	var returned atomic.Int32
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			err := h.Join(subj, newMember(fmt.Sprint(i)), 10*time.Second)
			returned.Add(1)
			errs <- err
		}()
	}
	<-bus.flushing
	eventually(t, 5*time.Second, "every joiner to be a member", func() bool { m, _ := h.Members(subj); return m == n })
	if r := returned.Load(); r != 0 {
		t.Fatalf("%d joiners returned before the subscription was confirmed", r)
	}
	close(gate)
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Join(subj, newMember("late"), time.Second); err != nil {
		t.Fatal(err)
	}
	if f := bus.flushes.Load(); f != 1 {
		t.Fatalf("%d flushes for one room", f)
	}
	if live, made := bus.total(); live != 1 || made != 1 {
		t.Fatalf("%d live of %d subscriptions", live, made)
	}
}

// A failed confirmation fails every waiting joiner and releases the room;
// the next join starts over with a new subscription.
func TestFailedFlushReleasesRoom(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 16})
	gate := make(chan struct{})
	bus.gate, bus.flushErr = gate, errors.New("nats away")
	const subj = "room.out.f"
	errs := make(chan error, 2)
	go func() { errs <- h.Join(subj, newMember("first"), 10*time.Second) }()
	<-bus.flushing
	go func() { errs <- h.Join(subj, newMember("second"), 10*time.Second) }()
	eventually(t, 5*time.Second, "the second joiner to wait", func() bool { m, _ := h.Members(subj); return m == 2 })
	close(gate)
	for range 2 {
		if err := <-errs; err == nil || err.Error() != "nats away" {
			t.Fatalf("join: %v", err)
		}
	}
	if live, _ := bus.total(); live != 0 || h.Rooms() != 0 {
		t.Fatalf("%d subscriptions, %d rooms after a failed join", live, h.Rooms())
	}
	bus.mu.Lock()
	bus.gate, bus.flushErr = nil, nil
	bus.mu.Unlock()
	if err := h.Join(subj, newMember("third"), time.Second); err != nil {
		t.Fatal(err)
	}
	if live, made := bus.total(); live != 1 || made != 2 || bus.flushes.Load() != 2 {
		t.Fatalf("%d live, %d made, %d flushes", live, made, bus.flushes.Load())
	}
}

// A joiner that gives up while the confirmation is pending leaves the room.
func TestJoinTimeoutLeaves(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 16})
	gate := make(chan struct{})
	bus.gate = gate
	const subj = "room.out.t"
	first := newMember("first")
	joined := make(chan error, 1)
	go func() { joined <- h.Join(subj, first, 10*time.Second) }()
	<-bus.flushing
	impatient := newMember("impatient")
	if err := h.Join(subj, impatient, 10*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("join: %v", err)
	}
	if n, _ := h.Members(subj); n != 1 {
		t.Fatalf("%d members, want only the first", n)
	}
	close(gate)
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	bus.publish(subj, "x")
	first.wait(t) // one fan-out serves every member
	if got := impatient.received(); len(got) != 0 {
		t.Fatalf("a member that gave up got %v", got)
	}
}

// A message still queued from a room's previous subscription does not
// reach the members of the room that replaced it.
func TestStaleSubscriptionIgnored(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 16})
	const subj = "room.out.s"
	blocker := newMember("blocker")
	release := blocker.stuck()
	other := "room.out.other"
	for h.queue(other) != h.queue(subj) {
		other += "x"
	}
	if err := h.Join(other, blocker, time.Second); err != nil {
		t.Fatal(err)
	}
	a := newMember("a")
	if err := h.Join(subj, a, time.Second); err != nil {
		t.Fatal(err)
	}
	bus.publish(other, "hold the dispatcher")
	bus.publish(subj, "old")
	h.Leave(subj, a)
	b := newMember("b")
	if err := h.Join(subj, b, time.Second); err != nil {
		t.Fatal(err)
	}
	bus.publish(subj, "new")
	release()
	b.wait(t)
	blocker.wait(t)
	if got := b.received(); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("got %v", got)
	}
}

// A room whose member is stuck in its fan-out holds only that room's lock:
// rooms of the same shard join, leave and (on the other dispatcher)
// broadcast meanwhile.
func TestStuckRoomBlocksNoOtherRoom(t *testing.T) {
	h, bus := fakeHub(t, Options{Dispatchers: 2, Queue: 16})
	subs := sameShard(h, 3, false)
	stuck := newMember("stuck")
	defer stuck.stuck()()
	if err := h.Join(subs[0], stuck, time.Second); err != nil {
		t.Fatal(err)
	}
	bus.publish(subs[0], "x")
	<-stuck.entered

	// Same shard, other dispatcher: joins, delivers and leaves.
	m := newMember("m")
	if err := h.Join(subs[1], m, time.Second); err != nil {
		t.Fatal(err)
	}
	bus.publish(subs[1], "y")
	m.wait(t)
	h.Leave(subs[1], m)
	// Same shard: a room created and released while the other is stuck.
	n := newMember("n")
	if err := h.Join(subs[2], n, time.Second); err != nil {
		t.Fatal(err)
	}
	h.Leave(subs[2], n)
	if h.Rooms() != 1 {
		t.Fatalf("%d rooms", h.Rooms())
	}
}

// Drops are counted once each, logged with the room at most once per
// interval, and the last ones are counted when the room goes.
func TestDropsCountedAndLogged(t *testing.T) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped_total", Help: "test"})
	var log logBuf
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 1, Dropped: dropped, Log: log.logger(), DropCheckEvery: time.Hour, DropLogEvery: time.Hour})
	const subj = "room.out.lobby"
	m := newMember("m")
	release := m.stuck()
	defer release()
	if err := h.Join(subj, m, time.Second); err != nil {
		t.Fatal(err)
	}
	bus.publish(subj, "1")
	<-m.entered            // the dispatcher holds "1"
	bus.publish(subj, "2") // queued
	for range 5 {
		bus.publish(subj, "dropped")
	}
	h.sweepDrops()
	h.sweepDrops() // counted once
	if got := testutil.ToFloat64(dropped); got != 5 {
		t.Fatalf("counted %v, want 5", got)
	}
	if n := strings.Count(log.String(), "room=lobby"); n != 1 || !strings.Contains(log.String(), "dropped=5") {
		t.Fatalf("log: %q", log.String())
	}
	for range 3 {
		bus.publish(subj, "dropped")
	}
	h.sweepDrops() // counted, not logged yet: one line per room per DropLogEvery
	if got := testutil.ToFloat64(dropped); got != 8 || strings.Count(log.String(), "room=lobby") != 1 {
		t.Fatalf("counted %v, log %q", got, log.String())
	}
	bus.publish(subj, "dropped")
	release()
	m.wait(t)
	m.wait(t)
	h.Leave(subj, m) // the room goes: its last drops are counted and logged
	if got := testutil.ToFloat64(dropped); got != 9 {
		t.Fatalf("counted %v, want 9", got)
	}
	if !strings.Contains(log.String(), "dropped=4") {
		t.Fatalf("log: %q", log.String())
	}
}

// Many clients join and leave rooms while broadcasts flow; at the end every
// room and subscription is gone and each member got only its rooms' messages.
func TestConcurrentJoinLeaveFanOut(t *testing.T) {
	h, bus := fakeHubOf[*counter](t, Options{Dispatchers: 3, Queue: 1 << 12})
	rooms := []string{"room.out.a", "room.out.b", "room.out.c", "room.out.d"}
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	pubs.Add(1)
	go func() {
		defer pubs.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := rooms[i%len(rooms)]
			bus.publish(r, r)
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				m := &counter{}
				r := rooms[rand.IntN(len(rooms))]
				if err := h.Join(r, m, 5*time.Second); err != nil {
					t.Error(err)
					return
				}
				m.room.Store(&r)
				h.Leave(r, m)
				if m.wrong.Load() != 0 {
					t.Errorf("a member of %s got another room's message", r)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	pubs.Wait()
	if live, _ := bus.total(); live != 0 || h.Rooms() != 0 {
		t.Fatalf("%d subscriptions and %d rooms left", live, h.Rooms())
	}
}

// counter is a member that only counts, for storms and benchmarks.
type counter struct {
	n     atomic.Int64
	room  atomic.Pointer[string]
	wrong atomic.Int64
}

func (c *counter) SendPrepared(b *client.Broadcast) {
	data := b.Data()
	c.n.Add(1)
	if r := c.room.Load(); r != nil && string(data) != *r {
		c.wrong.Add(1)
	}
}

func TestConnsAndUsers(t *testing.T) {
	h, _ := fakeHub(t, Options{})
	a, b, c := newMember("a"), newMember("b"), newMember("c")
	h.Connect("1", "alice", a)
	h.Connect("2", "alice", b)
	h.Connect("3", "", c)
	if h.Clients() != 3 || len(h.Conns()) != 3 {
		t.Fatalf("%d clients, %d conns", h.Clients(), len(h.Conns()))
	}
	if got, ok := h.Conn("2"); !ok || got != b {
		t.Fatal("conn 2")
	}
	if _, ok := h.Conn("4"); ok {
		t.Fatal("conn 4 exists")
	}
	got := h.UserConns("alice")
	if len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Fatalf("alice: %v", got)
	}
	h.Disconnect("1", "alice", a)
	h.Disconnect("1", "alice", a) // twice is harmless
	h.Disconnect("2", "", c)      // not the connection registered as 2
	if got := h.UserConns("alice"); len(got) != 1 || got[0] != b || h.Clients() != 2 {
		t.Fatalf("alice %v, %d clients", got, h.Clients())
	}
	h.Disconnect("2", "alice", b)
	h.Disconnect("3", "", c)
	if len(h.UserConns("alice")) != 0 || h.Clients() != 0 || len(h.Conns()) != 0 {
		t.Fatal("left behind")
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	bus := newFakeBus()
	h := newHub[*member](bus, Options{Dispatchers: 2, Queue: 4})
	for i := 0; i < 10; i++ {
		if err := h.Join(fmt.Sprintf("room.out.%d", i), newMember("m"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	h.Close()
	if live, _ := bus.total(); live != 0 || h.Rooms() != 0 {
		t.Fatalf("%d subscriptions, %d rooms after Close", live, h.Rooms())
	}
	if err := h.Join("room.out.x", newMember("late"), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("join after close: %v", err)
	}
}
