// Package policy follows the room patterns the auth worker protects, from
// the JetStream key-value bucket it publishes them in, so a gateway can let
// anonymous clients into open rooms without asking anyone, and asks the
// auth worker (failing closed) for everything else.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/shared/contract"
)

// Watcher holds the latest protected-room patterns.
//
// It fails closed on tampering: once it has read the key, a deleted or
// purged key, a malformed value, a vanished bucket, or a bucket that was
// written but no longer holds the key, all mean "unknown" (every room join
// asks the auth worker) until a valid value appears. A bucket never created
// and a key never written mean "no protected rooms": nobody published a
// policy, so there is nothing to enforce without the auth worker.
type Watcher struct {
	state  atomic.Pointer[[]string] // nil: unknown
	cancel context.CancelFunc
	done   sync.WaitGroup
	log    *slog.Logger
	retry  time.Duration
	ready  chan struct{} // closed at the first reading
	once   sync.Once
	seen   bool // a value was read once; owned by run
}

// Watch starts following the bucket on nc until Stop. It waits up to
// `first` for the first reading, so a gateway that starts with NATS up
// knows the policy before it serves anyone.
func Watch(nc *nats.Conn, log *slog.Logger, first time.Duration) *Watcher {
	return watch(nc, log, first, 2*time.Second)
}

func watch(nc *nats.Conn, log *slog.Logger, first, retry time.Duration) *Watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cancel: cancel, log: log, retry: retry, ready: make(chan struct{})}
	w.done.Add(1)
	go w.run(ctx, nc)
	select {
	case <-w.ready:
	case <-time.After(first):
	}
	return w
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.cancel()
	w.done.Wait()
}

// NeedsAuth reports whether an anonymous client must be checked by the auth
// worker before joining room: when the room matches a protected pattern,
// or when the patterns are unknown (no JetStream reachable yet, or the
// policy was tampered with), in which case every join is checked and fails
// closed.
func (w *Watcher) NeedsAuth(room string) bool {
	p := w.state.Load()
	if p == nil {
		return true
	}
	for _, pat := range *p {
		if contract.Glob(pat, room) {
			return true
		}
	}
	return false
}

func (w *Watcher) set(p []string) {
	if p == nil {
		p = []string{}
	}
	w.state.Store(&p)
	w.once.Do(func() { close(w.ready) })
}

// unknown makes every join ask the auth worker.
func (w *Watcher) unknown(why string) {
	if w.state.Swap(nil) != nil || !w.readyClosed() {
		w.log.Error("protected-room policy unknown; every room join asks the auth worker until a valid one is written", "why", why)
	}
	w.once.Do(func() { close(w.ready) })
}

func (w *Watcher) readyClosed() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

// absent is the reading when the bucket or the key is missing.
func (w *Watcher) absent(why string) {
	if w.seen {
		w.unknown(why)
		return
	}
	w.set(nil) // no auth worker ever published a policy: nothing is protected
}

func (w *Watcher) run(ctx context.Context, nc *nats.Conn) {
	defer w.done.Done()
	js, err := jetstream.New(nc)
	if err != nil {
		w.log.Warn("jetstream unavailable; every room join asks the auth worker", "err", err)
		return
	}
	for ctx.Err() == nil {
		kv, err := js.KeyValue(ctx, contract.PolicyBucket)
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			w.absent("bucket deleted")
		case err != nil:
			// JetStream off or NATS away: keep what we knew.
		default:
			w.follow(ctx, nc, kv)
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.retry):
		}
	}
}

// deletedAdvisory is what JetStream publishes when the bucket is deleted.
// A watch would notice only when its heartbeats stop, after seconds.
const deletedAdvisory = "$JS.EVENT.ADVISORY.STREAM.DELETED.KV_" + contract.PolicyBucket

// follow applies every update of the key until the watch ends or the
// bucket is deleted.
func (w *Watcher) follow(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	adv, err := nc.Subscribe(deletedAdvisory, func(*nats.Msg) { cancel() })
	if err != nil {
		return
	}
	defer func() { _ = adv.Unsubscribe() }()
	// Asked before the watch starts: a write after it comes through the
	// watch, so only one before it can make an empty start mean "removed".
	// (Asked after, an auth worker's first write racing the watch's start
	// read as a removal.)
	before := written(ctx, kv)
	kw, err := kv.Watch(ctx, contract.PolicyProtectedKey)
	if err != nil {
		return
	}
	defer func() { _ = kw.Stop() }()
	got := false // the initial values hold an entry for the key
	for e := range kw.Updates() {
		switch {
		case e == nil: // the initial values are in
			if got || ctx.Err() != nil {
				continue
			}
			if before {
				// Messages were stored, yet the key has none: purged.
				w.seen = true
			}
			w.absent("key removed")
		case e.Operation() != jetstream.KeyValuePut:
			got, w.seen = true, true
			w.unknown("key deleted or purged")
		default:
			got, w.seen = true, true
			var p []string
			if err := json.Unmarshal(e.Value(), &p); err != nil || p == nil { // null is no list either
				w.unknown("unreadable value")
				continue
			}
			w.set(p)
			w.log.Info("protected rooms", "patterns", strings.Join(p, ","))
		}
	}
}

// written tells whether the bucket ever stored a message; when it cannot
// tell, it says yes, which fails closed.
func written(ctx context.Context, kv jetstream.KeyValue) bool {
	st, err := kv.Status(ctx)
	if err != nil {
		return true
	}
	b, ok := st.(*jetstream.KeyValueBucketStatus)
	return !ok || b.StreamInfo().State.LastSeq > 0
}
