package presence

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/shared/contract"
)

// Heart announces that a gateway lives: it writes the gateway's key of the
// presence bucket every TTL/4, each write conditional on the last one
// (compare and set). A presence worker that hears nothing for TTL/2
// declares the gateway lost: it deletes the key, then emits the gateway's
// leaves and disconnects itself. The next write then fails, which is how
// a gateway that is in fact alive (cut off from NATS, frozen) learns it:
// it registers again and calls Lost, which closes every connection it
// had, whose events the worker already emitted (with the same ids).
type Heart struct {
	nc      *nats.Conn
	gateway string
	ttl     time.Duration
	lost    func()
	log     *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{} // closed at the first heartbeat written

	// run only
	kv   jetstream.KeyValue
	rev  uint64
	beat uint64
}

// StartHeart starts beating; lost is called (on the heart's goroutine)
// each time the gateway finds it was declared lost.
func StartHeart(nc *nats.Conn, gateway string, ttl time.Duration, log *slog.Logger, lost func()) *Heart {
	ctx, cancel := context.WithCancel(context.Background())
	h := &Heart{nc: nc, gateway: gateway, ttl: ttl, lost: lost, log: log, cancel: cancel, ready: make(chan struct{})}
	h.wg.Add(1)
	go h.run(ctx)
	return h
}

// Ready is closed once the gateway's heartbeat key was first written: its
// presence records must come after it (see events.Options.Ready).
func (h *Heart) Ready() <-chan struct{} { return h.ready }

// Stop stops beating and deletes the key, so presence workers do not wait
// for the TTL: the gateway's own events said everything.
func (h *Heart) Stop() {
	h.cancel()
	h.wg.Wait()
	if h.kv != nil && h.rev != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = h.kv.Purge(ctx, contract.PresenceGatewayKey(h.gateway), jetstream.LastRevision(h.rev), jetstream.PurgeTTL(contract.PresenceMarkerTTL))
	}
}

func (h *Heart) run(ctx context.Context) {
	defer h.wg.Done()
	every := max(h.ttl/4, 10*time.Millisecond)
	// Until the first beat is written (the bucket may not exist yet), try
	// often: the gateway's presence records wait for it.
	first := min(every, 250*time.Millisecond)
	for h.rev == 0 {
		h.once(ctx, every)
		if h.rev != 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(first):
		}
	}
	close(h.ready)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.once(ctx, every)
	}
}

// once writes one heartbeat, each step bounded by one beat's time.
func (h *Heart) once(parent context.Context, every time.Duration) {
	ctx, cancel := context.WithTimeout(parent, max(every, time.Second))
	defer cancel()
	if h.kv == nil {
		js, err := jetstream.New(h.nc)
		if err != nil {
			return
		}
		kv, err := js.KeyValue(ctx, contract.PresenceBucket)
		if err != nil {
			return // no presence worker created the bucket yet; the outbox waits too
		}
		h.kv = kv
	}
	key := contract.PresenceGatewayKey(h.gateway)
	h.beat++
	val, _ := json.Marshal(contract.PresenceBeat{TTLMillis: h.ttl.Milliseconds(), Beat: h.beat})
	if h.rev == 0 {
		rev, err := h.kv.Create(ctx, key, val)
		if err == nil {
			h.rev = rev
		}
		return
	}
	rev, err := h.kv.Update(ctx, key, val, h.rev)
	if err == nil {
		h.rev = rev
		return
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return // NATS away or slow: try again at the next beat
	}
	// Someone else wrote the key since our last write, unless that last
	// write did arrive and only its answer was lost.
	e, gerr := h.kv.Get(ctx, key)
	switch {
	case gerr == nil:
		var b contract.PresenceBeat
		if json.Unmarshal(e.Value(), &b) == nil && b.Beat < h.beat && b.Beat+4 >= h.beat {
			h.rev = e.Revision() // ours
			return
		}
	case !errors.Is(gerr, jetstream.ErrKeyNotFound):
		return // cannot tell yet
	}
	h.log.Warn("presence: this gateway was declared lost; registering again and closing its connections")
	h.rev = 0
	if rev, err := h.kv.Create(ctx, key, val); err == nil {
		h.rev = rev
	}
	h.lost()
}
