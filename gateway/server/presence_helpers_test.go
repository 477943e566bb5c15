package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/worker/presence"
)

// presenceWorker runs a presence worker in-process over its own NATS
// connection; the returned func stops it early.
func presenceWorker(t testing.TB, url string, ttl time.Duration) (stop func()) {
	t.Helper()
	nc, err := natsconn.Connect(url, "worker-presence", quiet)
	if err != nil {
		t.Fatal(err)
	}
	cfg := presence.Defaults()
	cfg.TTL = ttl
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := presence.Start(ctx, nc, cfg, "0.0.0-test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			w.Stop()
			nc.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

// presenceTTL makes a gateway beat with ttl.
func presenceTTL(ttl time.Duration) func(*Config) { return func(c *Config) { c.PresenceTTL = ttl } }

// streamEvents reads every event in WSGW_EVENTS.
func streamEvents(t testing.TB, nc *nats.Conn) []contract.Event {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []contract.Event
	if info.State.Msgs == 0 {
		return out
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(int(min(info.State.Msgs-uint64(len(out)), 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev contract.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatalf("event %q: %v", m.Data(), err)
			}
			if id := m.Headers().Get(nats.MsgIdHdr); id != ev.ID {
				t.Fatalf("event %s has Nats-Msg-Id %q", ev.ID, id)
			}
			if m.Subject() != contract.EventSubject(ev.Event) {
				t.Fatalf("event %s on %s", ev.Event, m.Subject())
			}
			out = append(out, ev)
		}
		if n == 0 {
			t.Fatalf("stream has %d events, read %d", info.State.Msgs, len(out))
		}
	}
	return out
}

// byID dedupes events by event_id, as a consumer would.
func byID(evs []contract.Event) map[string]contract.Event {
	m := map[string]contract.Event{}
	for _, e := range evs {
		if _, ok := m[e.ID]; !ok {
			m[e.ID] = e
		}
	}
	return m
}

// pairing checks, for the events (deduplicated by event_id), that every
// connect has exactly one disconnect and every join one leave, and returns
// the disconnect reasons by connection.
func pairing(t testing.TB, evs []contract.Event) map[string]string {
	t.Helper()
	type key struct{ gw, conn string }
	connects, disconnects := map[key]int{}, map[key]int{}
	reasons := map[string]string{}
	joins, leaves := map[string]int{}, map[string]int{}
	for _, e := range byID(evs) {
		k := key{e.Gateway, e.Conn}
		switch e.Event {
		case contract.EventConnect:
			connects[k]++
		case contract.EventDisconnect:
			disconnects[k]++
			reasons[e.Conn] = e.Reason
		case contract.EventJoin:
			joins[e.ID]++
		case contract.EventLeave:
			leaves[e.ID]++
		}
	}
	for k, n := range connects {
		if n != 1 || disconnects[k] != 1 {
			t.Errorf("connection %v: %d connects, %d disconnects", k, n, disconnects[k])
		}
	}
	for k := range disconnects {
		if connects[k] != 1 {
			t.Errorf("connection %v: a disconnect without a connect", k)
		}
	}
	if len(joins) != len(leaves) {
		t.Errorf("%d joins, %d leaves", len(joins), len(leaves))
	}
	for id := range joins {
		// j<n> pairs with l<n>.
		lid := id[:len(id)-len(id[lastDot(id)+1:])] + "l" + id[lastDot(id)+2:]
		if leaves[lid] != 1 {
			t.Errorf("join %s has no leave %s", id, lid)
		}
	}
	return reasons
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}
