package hub

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/wsgate/wsgate/shared/natstest"
)

// fakeBus is NATS without sockets: publish hands a message to every
// subscription of its subject without blocking, dropping it (and counting
// the drop) when the channel is full, as nats.go does.
type fakeBus struct {
	mu       sync.Mutex
	subs     map[*nats.Subscription]*fakeSub
	made     int   // subscriptions ever taken
	flushErr error // what FlushTimeout returns
	gate     chan struct{}
	flushes  atomic.Int32
	flushing chan struct{} // signalled when a flush starts
}

type fakeSub struct {
	subject string
	ch      chan *nats.Msg
	dropped int
}

func newFakeBus() *fakeBus {
	return &fakeBus{subs: map[*nats.Subscription]*fakeSub{}, flushing: make(chan struct{}, 1000)}
}

func (b *fakeBus) ChanSubscribe(subject string, ch chan *nats.Msg) (*nats.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &nats.Subscription{Subject: subject}
	b.subs[s] = &fakeSub{subject: subject, ch: ch}
	b.made++
	return s, nil
}

func (b *fakeBus) Unsubscribe(s *nats.Subscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[s] == nil {
		return nats.ErrBadSubscription
	}
	delete(b.subs, s)
	return nil
}

func (b *fakeBus) Dropped(s *nats.Subscription) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fs := b.subs[s]
	if fs == nil {
		return -1, nats.ErrBadSubscription
	}
	return fs.dropped, nil
}

// FlushTimeout waits for gate, when one is set, as a slow server would.
func (b *fakeBus) FlushTimeout(timeout time.Duration) error {
	b.flushes.Add(1)
	select {
	case b.flushing <- struct{}{}:
	default:
	}
	b.mu.Lock()
	gate, err := b.gate, b.flushErr
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-time.After(timeout):
			return nats.ErrTimeout
		}
	}
	return err
}

func (b *fakeBus) publish(subject, data string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s, fs := range b.subs {
		if fs.subject != subject {
			continue
		}
		select {
		case fs.ch <- &nats.Msg{Subject: subject, Data: []byte(data), Sub: s}:
		default:
			fs.dropped++
		}
	}
}

// publishSeq publishes a message as a history stream republishes it: with
// its sequence number and the previous one on the same subject.
func (b *fakeBus) publishSeq(subject, data string, seq, last uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s, fs := range b.subs {
		if fs.subject != subject {
			continue
		}
		h := nats.Header{"Nats-Sequence": {fmt.Sprint(seq)}, "Nats-Last-Sequence": {fmt.Sprint(last)}}
		select {
		case fs.ch <- &nats.Msg{Subject: subject, Data: []byte(data), Sub: s, Header: h}:
		default:
			fs.dropped++
		}
	}
}

// active counts the live subscriptions to subject.
func (b *fakeBus) active(subject string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, fs := range b.subs {
		if fs.subject == subject {
			n++
		}
	}
	return n
}

func (b *fakeBus) total() (live, made int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs), b.made
}

// member records what a client would receive.
type member struct {
	name    string
	mu      sync.Mutex
	got     []string
	ch      chan struct{}
	block   chan struct{} // when set, SendPrepared waits for it to close
	entered chan struct{} // signalled when SendPrepared starts
}

func newMember(name string) *member {
	return &member{name: name, ch: make(chan struct{}, 1000), entered: make(chan struct{}, 1000)}
}

// stuck makes SendPrepared wait until the returned func is called.
func (m *member) stuck() (release func()) {
	m.block = make(chan struct{})
	return sync.OnceFunc(func() { close(m.block) })
}

func (m *member) Receive(b *Broadcast) {
	if b.Raw() == nil {
		panic("no prepared message")
	}
	data := b.Msg.Data
	m.entered <- struct{}{}
	if m.block != nil {
		<-m.block
	}
	m.mu.Lock()
	m.got = append(m.got, string(data))
	m.mu.Unlock()
	m.ch <- struct{}{}
}

func (m *member) wait(t *testing.T) {
	t.Helper()
	select {
	case <-m.ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no delivery", m.name)
	}
}

func (m *member) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

// logBuf is a log sink a test reads.
type logBuf struct{ natstest.LogBuffer }

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
