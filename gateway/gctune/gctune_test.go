package gctune

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rec records what the Governor did to the runtime.
type rec struct{ did []string }

func governed(r *rec) *Governor {
	g := New(50, 200, nil)
	g.Rate, g.Calm, g.MinFree = 1000, time.Second, 10*time.Second
	g.SetGC = func(p int) {
		if p == 50 {
			r.did = append(r.did, "base")
		} else {
			r.did = append(r.did, "storm")
		}
	}
	g.Free = func() { r.did = append(r.did, "free") }
	return g
}

func (r *rec) want(t *testing.T, at string, want ...string) {
	t.Helper()
	if len(r.did) != len(want) {
		t.Fatalf("%s: did %v, want %v", at, r.did, want)
	}
	for i := range want {
		if r.did[i] != want[i] {
			t.Fatalf("%s: did %v, want %v", at, r.did, want)
		}
	}
	r.did = nil
}

// A storm raises the target at its first busy tick; a second calm ends
// it and returns the memory; a storm soon after ends without a second
// return until MinFree has passed, and then it is returned.
func TestGovernor(t *testing.T) {
	r := &rec{}
	g := governed(r)
	now := time.Unix(0, 0)
	step := 100 * time.Millisecond
	ticks := func(n, events int) {
		for range n {
			for range events {
				g.Event()
			}
			now = now.Add(step)
			g.tick(now, step)
		}
	}
	ticks(10, 99) // 990/s: below the rate
	r.want(t, "below rate")
	ticks(1, 100) // 1,000/s
	r.want(t, "storm begins", "storm")
	ticks(5, 500)
	ticks(9, 0) // 0.9 s calm: still a storm
	r.want(t, "calm under a second")
	ticks(1, 0)
	r.want(t, "storm over", "base", "free")

	ticks(1, 150) // another storm, 1.1 s after the free
	r.want(t, "second storm", "storm")
	ticks(10, 0)
	r.want(t, "second storm over", "base") // memory owed, not returned yet
	ticks(70, 0)
	r.want(t, "owed, before MinFree")
	ticks(20, 0) // 10 s after the first free
	r.want(t, "owed, after MinFree", "free")
	ticks(200, 0)
	r.want(t, "quiet")
}

// Run ends with its context and leaves the target at Base.
func TestRunEndsAtBase(t *testing.T) {
	r := &rec{}
	g := governed(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.s.storm = true // as if a storm were on
	go func() { defer close(done); g.Run(ctx) }()
	cancel()
	<-done
	r.want(t, "after Run", "base")
}
