package client

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(10, 3, now)
	for i := 0; i < 3; i++ {
		if !b.take(now) {
			t.Fatalf("burst frame %d refused", i)
		}
	}
	if b.take(now) {
		t.Fatal("frame over the burst allowed")
	}
	if !b.take(now.Add(100 * time.Millisecond)) {
		t.Fatal("a token should be back after 1/rate")
	}
	if b.take(now.Add(150 * time.Millisecond)) {
		t.Fatal("half a token is not a token")
	}
	// Saving up stops at the burst.
	later := now.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if !b.take(later) {
			t.Fatalf("after a pause, frame %d refused", i)
		}
	}
	if b.take(later) {
		t.Fatal("saved more than the burst")
	}
	if !newBucket(0, 0, now).take(now) {
		t.Fatal("rate 0 means no limit")
	}
}

// A client is judged on when it sent, not on when the gateway read: frames
// that waited in the socket while the gateway waited for a worker are
// read at once afterwards, and a client under the rate is not refused.
func TestBucketForgivesTheGatewaysWait(t *testing.T) {
	const rate, burst, hz = 100, 200, 90
	now := time.Unix(1000, 0)
	b := newBucket(rate, burst, now)
	// Frame 0 goes to a worker that answers 5 s later; meanwhile the client
	// sent 450 frames, all in the socket when the gateway reads again.
	if !b.take(now) {
		t.Fatal("first frame")
	}
	now = now.Add(5 * time.Second)
	b.waited(now)
	for i := 0; i < 5*hz; i++ {
		now = now.Add(10 * time.Microsecond) // read from the socket's buffer
		if !b.take(now) {
			t.Fatalf("backlog frame %d refused", i)
		}
		b.read(now)
		now = now.Add(200 * time.Microsecond) // a fast worker now
		b.waited(now)
	}
	// The client goes on at 90 Hz.
	for i := 0; i < 10*hz; i++ {
		now = now.Add(time.Second / hz)
		if !b.take(now) {
			t.Fatalf("frame %d at %d Hz refused", i, hz)
		}
		b.read(now)
		now = now.Add(200 * time.Microsecond)
		b.waited(now)
	}
	// What the wait earned is gone once the gateway read for as long:
	// a flood now gets its burst and no more.
	now = now.Add(10 * time.Second)
	n := 0
	for b.take(now) {
		n++
	}
	if n != burst {
		t.Fatalf("flood after the catch-up got %d frames, want %d", n, burst)
	}
}

// Time spent waiting earns tokens, never more than the rate allows: over
// any stretch the client gets at most burst + rate × time frames.
func TestBucketWaitEarnsNoMoreThanTheRate(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(10, 5, now)
	b.waited(now.Add(3 * time.Second)) // 30 tokens without the cap
	n := 0
	for b.take(now.Add(3 * time.Second)) {
		n++
	}
	if n != 5+30 {
		t.Fatalf("%d frames after a 3 s wait, want 35", n)
	}
}
