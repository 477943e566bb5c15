package client

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(10, 3)
	b.last = now
	for i := 0; i < 3; i++ {
		if !b.allow(now) {
			t.Fatalf("burst frame %d refused", i)
		}
	}
	if b.allow(now) {
		t.Fatal("frame over the burst allowed")
	}
	if !b.allow(now.Add(100 * time.Millisecond)) {
		t.Fatal("a token should be back after 1/rate")
	}
	if b.allow(now.Add(150 * time.Millisecond)) {
		t.Fatal("half a token is not a token")
	}
	// Saving up stops at the burst.
	later := now.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if !b.allow(later) {
			t.Fatalf("after a pause, frame %d refused", i)
		}
	}
	if b.allow(later) {
		t.Fatal("saved more than the burst")
	}
	if !newBucket(0, 0).allow(now) {
		t.Fatal("rate 0 means no limit")
	}
}
