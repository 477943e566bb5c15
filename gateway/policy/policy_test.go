package policy

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func setup(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func start(t *testing.T, nc *nats.Conn) *Watcher {
	t.Helper()
	w := watch(nc, quiet, 10*time.Second, 50*time.Millisecond)
	t.Cleanup(w.Stop)
	return w
}

func bucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: contract.PolicyBucket, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func put(t *testing.T, kv jetstream.KeyValue, v string) {
	t.Helper()
	if _, err := kv.Put(t.Context(), contract.PolicyProtectedKey, []byte(v)); err != nil {
		t.Fatal(err)
	}
}

// Readings, told apart by two rooms: "lobby" is open under the policy
// ["team-*"], "team-a" protected; unknown protects both, none neither.
const (
	none      = "no protected rooms"
	protected = `["team-*"]`
	unknown   = "unknown"
)

func reading(w *Watcher) string {
	switch lobby, team := w.NeedsAuth("lobby"), w.NeedsAuth("team-a"); {
	case lobby && team:
		return unknown
	case team:
		return protected
	case !lobby:
		return none
	}
	return "lobby protected, team-a open"
}

// now checks the reading right away: right after Watch, the first reading
// is in.
func now(t *testing.T, w *Watcher, want string) {
	t.Helper()
	if got := reading(w); got != want {
		t.Fatalf("reading %q, want %q", got, want)
	}
}

// eventually waits for the reading an update leads to.
func eventually(t *testing.T, w *Watcher, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for reading(w) != want {
		if time.Now().After(deadline) {
			t.Fatalf("reading %q, want %q", reading(w), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMissingBucketMeansNothingProtected(t *testing.T) {
	nc, _ := setup(t)
	now(t, start(t, nc), none)
}

func TestMissingKeyMeansNothingProtected(t *testing.T) {
	nc, js := setup(t)
	kv := bucket(t, js)
	w := start(t, nc)
	now(t, w, none)
	put(t, kv, protected)
	eventually(t, w, protected)
}

func TestValidPolicy(t *testing.T) {
	nc, js := setup(t)
	put(t, bucket(t, js), protected)
	w := start(t, nc)
	now(t, w, protected)
}

func TestDeletedKeyFailsClosed(t *testing.T) {
	nc, js := setup(t)
	kv := bucket(t, js)
	put(t, kv, protected)
	w := start(t, nc)
	now(t, w, protected)
	if err := kv.Delete(t.Context(), contract.PolicyProtectedKey); err != nil {
		t.Fatal(err)
	}
	eventually(t, w, unknown)
	// A gateway that starts now finds the delete marker: unknown too.
	now(t, start(t, nc), unknown)
	put(t, kv, `[]`)
	eventually(t, w, none)
}

func TestPurgedKeyFailsClosed(t *testing.T) {
	nc, js := setup(t)
	kv := bucket(t, js)
	put(t, kv, protected)
	w := start(t, nc)
	now(t, w, protected)
	if err := kv.Purge(t.Context(), contract.PolicyProtectedKey); err != nil {
		t.Fatal(err)
	}
	eventually(t, w, unknown)
	now(t, start(t, nc), unknown)
	put(t, kv, protected)
	eventually(t, w, protected)
}

func TestMalformedFailsClosed(t *testing.T) {
	nc, js := setup(t)
	kv := bucket(t, js)
	put(t, kv, protected)
	w := start(t, nc)
	now(t, w, protected)
	for _, bad := range []string{"not json", `{"team-*":true}`, `["team-*",1]`, "null", ""} {
		put(t, kv, bad)
		eventually(t, w, unknown)
		now(t, start(t, nc), unknown)
		put(t, kv, protected) // valid again
		eventually(t, w, protected)
	}
}

func TestStreamPurgedFailsClosed(t *testing.T) {
	// Purging the whole stream removes the key without a marker; the
	// stream's sequence still shows it was written.
	nc, js := setup(t)
	kv := bucket(t, js)
	put(t, kv, protected)
	s, err := js.Stream(t.Context(), "KV_"+contract.PolicyBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := start(t, nc)
	now(t, w, unknown)
	put(t, kv, protected)
	eventually(t, w, protected)
}

func TestDeletedBucketFailsClosed(t *testing.T) {
	nc, js := setup(t)
	kv := bucket(t, js)
	put(t, kv, protected)
	w := start(t, nc)
	now(t, w, protected)
	if err := js.DeleteKeyValue(t.Context(), contract.PolicyBucket); err != nil {
		t.Fatal(err)
	}
	eventually(t, w, unknown)
	// Created again and written: known again.
	put(t, bucket(t, js), `[]`)
	eventually(t, w, none)
}
