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
type Watcher struct {
	state  atomic.Pointer[[]string] // nil: unknown
	cancel context.CancelFunc
	done   sync.WaitGroup
	log    *slog.Logger
	retry  time.Duration
	ready  chan struct{} // closed at the first reading
	once   sync.Once
}

// Watch starts following the bucket on nc until Stop. It waits up to
// `first` for the first reading, so a gateway that starts with NATS up
// knows the policy before it serves anyone.
func Watch(nc *nats.Conn, log *slog.Logger, first time.Duration) *Watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cancel: cancel, log: log, retry: 2 * time.Second, ready: make(chan struct{})}
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
// or when the patterns are unknown (no JetStream reachable yet), in which
// case every join is checked and fails closed.
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
			w.set(nil) // no auth worker ever published a policy: nothing is protected
		case err != nil:
			// JetStream off or NATS away: keep what we knew.
		default:
			w.follow(ctx, kv)
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.retry):
		}
	}
}

// follow applies every update of the key until the watch ends.
func (w *Watcher) follow(ctx context.Context, kv jetstream.KeyValue) {
	kw, err := kv.Watch(ctx, contract.PolicyProtectedKey)
	if err != nil {
		return
	}
	defer func() { _ = kw.Stop() }()
	seen := false
	for e := range kw.Updates() {
		switch {
		case e == nil: // the initial values are in
			if !seen {
				w.set(nil)
			}
		case e.Operation() != jetstream.KeyValuePut:
			w.set(nil)
		default:
			seen = true
			var p []string
			if err := json.Unmarshal(e.Value(), &p); err != nil {
				w.log.Error("unreadable protected-room policy; checking every join", "err", err)
				w.state.Store(nil)
				continue
			}
			w.set(p)
			w.log.Info("protected rooms", "patterns", strings.Join(p, ","))
		}
	}
}
