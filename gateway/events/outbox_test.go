package events

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSink stores what it accepts, deduplicating by Nats-Msg-Id as
// JetStream does, and fails the batches it is told to.
type fakeSink struct {
	mu      sync.Mutex
	fail    int // fail the next fail batches: the first half of each is stored anyway
	stored  []string
	ids     map[string]bool
	batches [][]*nats.Msg
}

func (f *fakeSink) Publish(_ context.Context, batch []*nats.Msg) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, batch)
	errs := make([]error, len(batch))
	failing := f.fail > 0
	if failing {
		f.fail--
	}
	for i, m := range batch {
		if failing && i >= len(batch)/2 {
			errs[i] = errors.New("no ack")
			continue
		}
		id := m.Header.Get(nats.MsgIdHdr)
		if !f.ids[id] {
			f.ids[id] = true
			f.stored = append(f.stored, m.Subject+" "+id)
		}
	}
	return errs
}

func (f *fakeSink) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stored...)
}

func msg(subject, id string) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: nats.Header{nats.MsgIdHdr: {id}}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOutboxDeliversEveryMessageOnceDespiteFailures(t *testing.T) {
	sink := &fakeSink{ids: map[string]bool{}, fail: 3}
	o := New(sink, Options{Batch: 8, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	defer o.Close(context.Background())
	const n = 100
	for i := range n {
		o.Add(msg("wsgw.events.join", "e"+strconv.Itoa(i)))
	}
	waitFor(t, "every message", func() bool { return len(sink.snapshot()) == n && o.Pending() == 0 })
	got := sink.snapshot()
	seen := map[string]bool{}
	for _, s := range got {
		if seen[s] {
			t.Fatalf("stored twice: %s", s)
		}
		seen[s] = true
	}
	if len(sink.batches) < 3+n/8 {
		t.Fatalf("%d batches: the failed ones were not sent again", len(sink.batches))
	}
}

// A key's writes never share a batch, so a failed batch sent again cannot
// put a later write of a key before an earlier one.
func TestOutboxKeepsAKeysWritesInSeparateBatches(t *testing.T) {
	sink := &fakeSink{ids: map[string]bool{}, fail: 1}
	o := New(sink, Options{Batch: 64, MinBackoff: time.Millisecond})
	// Queued before the outbox reads them, so they could share a batch.
	for i := range 4 {
		o.Add(msg("$KV.wsgw_presence.m.lobby.G.1", "put"+strconv.Itoa(i)), msg("wsgw.events.join", "j"+strconv.Itoa(i)))
	}
	waitFor(t, "every message", func() bool { return o.Pending() == 0 })
	o.Close(context.Background())
	for _, b := range sink.batches {
		keys := map[string]bool{}
		for _, m := range b {
			if keyed(m) && keys[m.Subject] {
				t.Fatalf("two writes of %s in one batch", m.Subject)
			}
			keys[m.Subject] = true
		}
	}
	// The key's writes were stored in the order added.
	var order []string
	for _, s := range sink.snapshot() {
		if s[0] == '$' {
			order = append(order, s)
		}
	}
	for i, s := range order {
		if want := "$KV.wsgw_presence.m.lobby.G.1 put" + strconv.Itoa(i); s != want {
			t.Fatalf("write %d: %s, want %s", i, s, want)
		}
	}
}

func TestOutboxBoundsItsQueue(t *testing.T) {
	block := make(chan struct{})
	sink := sinkFunc(func(ctx context.Context, b []*nats.Msg) []error {
		<-block
		return make([]error, len(b))
	})
	dropped := 0
	o := New(sink, Options{Queue: 4, Batch: 1, Dropped: func(n int) { dropped += n }})
	o.Add(msg("wsgw.events.connect", "a")) // taken by the sender, which blocks
	waitFor(t, "the first message taken", func() bool { return o.q.len() == 0 })
	for i := range 4 {
		if !o.Add(msg("wsgw.events.connect", "q"+strconv.Itoa(i))) {
			t.Fatalf("message %d refused below the bound", i)
		}
	}
	if o.Add(msg("wsgw.events.connect", "x"), msg("wsgw.events.connect", "y")) || dropped != 2 {
		t.Fatalf("past the bound: dropped %d, want 2", dropped)
	}
	close(block)
	o.Close(context.Background())
	if o.Pending() != 0 {
		t.Fatalf("%d pending after close", o.Pending())
	}
}

// Closing gives up on what JetStream does not take, counting it.
func TestOutboxCloseDropsWhatCannotGo(t *testing.T) {
	sink := sinkFunc(func(ctx context.Context, b []*nats.Msg) []error {
		errs := make([]error, len(b))
		for i := range errs {
			errs[i] = errors.New("no responders")
		}
		return errs
	})
	var mu sync.Mutex
	dropped := 0
	o := New(sink, Options{Batch: 2, MinBackoff: time.Millisecond, Dropped: func(n int) { mu.Lock(); dropped += n; mu.Unlock() }})
	for i := range 5 {
		o.Add(msg("wsgw.events.connect", strconv.Itoa(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o.Close(ctx)
	mu.Lock()
	defer mu.Unlock()
	if dropped != 5 || o.Pending() != 0 {
		t.Fatalf("dropped %d, pending %d; want 5, 0", dropped, o.Pending())
	}
}

type sinkFunc func(context.Context, []*nats.Msg) []error

func (f sinkFunc) Publish(ctx context.Context, b []*nats.Msg) []error { return f(ctx, b) }

// Nothing leaves before Ready is closed (the gateway's heartbeat key is
// written); then everything, in order. An outbox closed before it was
// ready drops what it holds.
func TestOutboxWaitsForReady(t *testing.T) {
	sink := &fakeSink{ids: map[string]bool{}}
	ready := make(chan struct{})
	o := New(sink, Options{Ready: ready})
	o.Add(msg("$KV.wsgw_presence.c.gw.1", "a"), msg("wsgw.events.connect", "b"))
	// A later message's ack proves the earlier ones were not held back by
	// chance: nothing at all may arrive while not ready.
	probe := New(sink, Options{})
	probe.Add(msg("probe", "p"))
	waitFor(t, "the probe", func() bool { return len(sink.snapshot()) == 1 })
	if got := sink.snapshot(); got[0] != "probe p" {
		t.Fatalf("sent before ready: %v", got)
	}
	close(ready)
	waitFor(t, "the held messages", func() bool { return len(sink.snapshot()) == 3 })
	if got := sink.snapshot()[1:]; got[0] != "$KV.wsgw_presence.c.gw.1 a" || got[1] != "wsgw.events.connect b" {
		t.Fatalf("after ready: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o.Close(ctx)
	probe.Close(ctx)

	var mu sync.Mutex
	dropped := 0
	never := New(sink, Options{Ready: make(chan struct{}), Dropped: func(n int) { mu.Lock(); dropped += n; mu.Unlock() }})
	never.Add(msg("wsgw.events.connect", "c"))
	never.Close(context.Background()) // returns at once: nothing can go

	mu.Lock()
	defer mu.Unlock()
	if dropped != 1 || never.Pending() != 0 {
		t.Fatalf("closed before ready: dropped %d, pending %d", dropped, never.Pending())
	}
}

// A full queue drops every record past it, counted, but logs once a
// second at most: it drops at the rate records come.
func TestOutboxLogsDropsOnceASecond(t *testing.T) {
	block := make(chan struct{})
	sink := sinkFunc(func(ctx context.Context, b []*nats.Msg) []error {
		<-block
		return make([]error, len(b))
	})
	var logs bytes.Buffer
	dropped := 0
	o := New(sink, Options{Queue: 1, Batch: 1, Log: slog.New(slog.NewTextHandler(&logs, nil)), Dropped: func(n int) { dropped += n }})
	o.Add(msg("wsgw.events.connect", "a")) // taken by the sender, which blocks
	waitFor(t, "the first message taken", func() bool { return o.q.len() == 0 })
	o.Add(msg("wsgw.events.connect", "b"))
	for i := range 100 {
		o.Add(msg("wsgw.events.connect", "x"+strconv.Itoa(i)))
	}
	if dropped != 100 {
		t.Fatalf("dropped %d, want 100", dropped)
	}
	if n := strings.Count(logs.String(), "events outbox full"); n != 1 {
		t.Fatalf("%d warnings for 100 drops within a second, want 1:\n%s", n, logs.String())
	}
	close(block)
	o.Close(context.Background())
}
