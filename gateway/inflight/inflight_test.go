package inflight

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// log records releases as "seq:value" or "seq:timeout".
type log struct {
	mu  sync.Mutex
	got []string
}

func (l *log) release(seq uint64, v string, o Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o == TimedOut {
		l.got = append(l.got, fmt.Sprintf("%d:timeout", seq))
		return
	}
	l.got = append(l.got, fmt.Sprintf("%d:%s", seq, v))
}

func (l *log) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

func (l *log) expect(t *testing.T, want ...string) {
	t.Helper()
	if got := l.take(); !slices.Equal(got, want) {
		t.Fatalf("released %q, want %q", got, want)
	}
}

var t0 = time.Unix(1000, 0)

func take(t *testing.T, w *Window[string], now time.Time, want uint64) (arm bool) {
	t.Helper()
	seq, arm, ok := w.Take(now)
	if !ok || seq != want {
		t.Fatalf("Take: %d %v, want %d", seq, ok, want)
	}
	return arm
}

// Answers that come out of order are held until every earlier frame is
// answered, then released in the order sent.
func TestOutOfOrderAnswers(t *testing.T) {
	var l log
	w := New(4, time.Second, l.release)
	for i := uint64(1); i <= 4; i++ {
		take(t, w, t0, i)
	}
	for _, seq := range []uint64{3, 2, 4} {
		if _, ok := w.Resolve(seq, fmt.Sprint("a", seq)); !ok {
			t.Fatalf("answer %d refused", seq)
		}
	}
	l.expect(t)
	w.Resolve(1, "a1")
	l.expect(t, "1:a1", "2:a2", "3:a3", "4:a4")
}

// A full window takes nothing until a frame is released; the reader
// waiting for room gets a token.
func TestFullWindow(t *testing.T) {
	var l log
	w := New(2, time.Second, l.release)
	take(t, w, t0, 1)
	take(t, w, t0, 2)
	if _, _, ok := w.Take(t0); ok || !w.Full() {
		t.Fatal("took a third frame into a window of 2")
	}
	w.Resolve(2, "b") // behind 1: no room yet
	select {
	case <-w.Space():
		t.Fatal("room before the head was released")
	default:
	}
	w.Resolve(1, "a")
	select {
	case <-w.Space():
	default:
		t.Fatal("no token after the head was released")
	}
	if w.Full() {
		t.Fatal("full after a release")
	}
	take(t, w, t0, 3)
	take(t, w, t0, 4)
	l.expect(t, "1:a", "2:b")
}

// A frame in the middle times out: it is dropped, the answered frames
// behind it go on, and its late answer is refused.
func TestMiddleFrameTimesOut(t *testing.T) {
	var l log
	const timeout = 10 * time.Second
	w := New(8, timeout, l.release)
	if !take(t, w, t0, 1) {
		t.Fatal("the first frame must arm the timer")
	}
	if take(t, w, t0.Add(time.Second), 2) || take(t, w, t0.Add(2*time.Second), 3) {
		t.Fatal("armed twice")
	}
	take(t, w, t0.Add(3*time.Second), 4)
	w.Resolve(1, "a1")
	w.Resolve(3, "a3")
	l.expect(t, "1:a1")

	// The timer set at frame 1 fires: frame 2 has 1 s left.
	wait, rearm := w.Expire(t0.Add(timeout))
	if !rearm || wait != time.Second {
		t.Fatalf("rearm %v after %v, want 1s", rearm, wait)
	}
	l.expect(t)
	wait, rearm = w.Expire(t0.Add(timeout + time.Second))
	l.expect(t, "2:timeout", "3:a3")
	if !rearm || wait != 2*time.Second { // frame 4, sent at 3 s
		t.Fatalf("rearm %v after %v, want 2s for frame 4", rearm, wait)
	}
	if _, ok := w.Resolve(2, "late"); ok {
		t.Fatal("a late answer to a dropped frame was taken")
	}
	w.Resolve(4, "a4")
	l.expect(t, "4:a4")
	if _, rearm = w.Expire(t0.Add(time.Hour)); rearm {
		t.Fatal("rearmed with nothing in flight")
	}
	if !take(t, w, t0.Add(time.Hour), 5) {
		t.Fatal("the next frame must arm the timer again")
	}
}

// Answers nobody waits for are refused: numbers never handed out, released
// ones, and a second answer.
func TestUnwantedAnswers(t *testing.T) {
	var l log
	w := New(4, time.Second, l.release)
	for _, seq := range []uint64{0, 1, 99} {
		if _, ok := w.Resolve(seq, "x"); ok {
			t.Fatalf("answer to frame %d, never sent, taken", seq)
		}
	}
	take(t, w, t0, 1)
	take(t, w, t0, 2)
	w.Resolve(2, "first")
	if _, ok := w.Resolve(2, "second"); ok {
		t.Fatal("second answer taken")
	}
	sent, ok := w.Resolve(1, "a")
	if !ok || !sent.Equal(t0) {
		t.Fatalf("sent %v ok %v", sent, ok)
	}
	if _, ok := w.Resolve(1, "again"); ok {
		t.Fatal("answer to a released frame taken")
	}
	l.expect(t, "1:a", "2:first")
}

// Closing drops what is in flight, held answers included, and wakes the
// reader.
func TestCloseWhileInFlight(t *testing.T) {
	var l log
	w := New(2, time.Second, l.release)
	take(t, w, t0, 1)
	take(t, w, t0, 2)
	w.Resolve(2, "held")
	w.Close()
	select {
	case <-w.Space():
	default:
		t.Fatal("the reader was not woken")
	}
	if _, ok := w.Resolve(1, "a"); ok {
		t.Fatal("answer taken after Close")
	}
	if _, rearm := w.Expire(t0.Add(time.Hour)); rearm {
		t.Fatal("rearmed after Close")
	}
	if _, _, ok := w.Take(t0); ok {
		t.Fatal("took a frame after Close")
	}
	l.expect(t)
	if w.Full() {
		t.Fatal("a closed window is not full: the reader must not wait for it")
	}
}

// A release may close the window, as the gateway does on "no responders":
// nothing after that frame is released.
func TestReleaseClosesTheWindow(t *testing.T) {
	var l log
	var w *Window[string]
	w = New(4, time.Second, func(seq uint64, v string, o Outcome) {
		l.release(seq, v, o)
		if v == "503" {
			w.Close()
		}
	})
	for i := uint64(1); i <= 4; i++ {
		take(t, w, t0, i)
	}
	w.Resolve(4, "503")
	w.Resolve(3, "503")
	w.Resolve(2, "503")
	w.Resolve(1, "ok")
	l.expect(t, "1:ok", "2:503")
}

// Answers racing in from many goroutines and an expiring timer are
// released exactly once each, in order.
func TestConcurrentAnswers(t *testing.T) {
	var mu sync.Mutex
	var got []uint64
	w := New(64, time.Minute, func(seq uint64, _ int, _ Outcome) {
		mu.Lock()
		got = append(got, seq)
		mu.Unlock()
	})
	const n = 64 * 50
	r := rand.New(rand.NewPCG(1, 2))
	for sent := uint64(0); sent < n; {
		var batch []uint64
		for {
			seq, _, ok := w.Take(t0)
			if !ok {
				break
			}
			batch = append(batch, seq)
			sent++
		}
		r.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		var wg sync.WaitGroup
		for _, seq := range batch {
			wg.Add(1)
			go func() { defer wg.Done(); w.Resolve(seq, int(seq)) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.Expire(t0) }() // nothing is due
		wg.Wait()
		<-w.Space()
	}
	if len(got) != n {
		t.Fatalf("released %d of %d", len(got), n)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("release %d is frame %d", i, seq)
		}
	}
}

// A window is idle only with nothing in flight and no release running;
// one made from its next number takes over without mistaking the old
// window's late answers for its own.
func TestIdleAndNumberingOn(t *testing.T) {
	l := &log{}
	w := New(4, time.Minute, l.release)
	if next, idle := w.Idle(); !idle || next != 1 {
		t.Fatalf("fresh window: next %d idle %v, want 1 true", next, idle)
	}
	now := time.Now()
	s1, _, _ := w.Take(now)
	if _, idle := w.Idle(); idle {
		t.Fatal("idle with a frame in flight")
	}
	w.Resolve(s1, "a")
	l.expect(t, "1:a")

	// A release in progress is not idle, even with nothing left in flight.
	inRelease := make(chan bool, 1)
	var w2 *Window[string]
	w2 = New(4, time.Minute, func(uint64, string, Outcome) { _, idle := w2.Idle(); inRelease <- idle })
	s, _, _ := w2.Take(now)
	w2.Resolve(s, "x")
	if <-inRelease {
		t.Fatal("idle while releasing")
	}

	s2, _, _ := w.Take(now)
	next, idle := w.Idle()
	if idle {
		t.Fatal("idle with a frame in flight")
	}
	w.Resolve(s2, "b")
	l.expect(t, "2:b")
	next, idle = w.Idle()
	if !idle || next != 3 {
		t.Fatalf("next %d idle %v, want 3 true", next, idle)
	}
	w.Close()
	if _, idle := w.Idle(); idle {
		t.Fatal("a closed window is idle")
	}
	nw := NewFrom(next, 4, time.Minute, l.release)
	if _, ok := nw.Resolve(s2, "late"); ok {
		t.Fatal("the new window took an answer to the old one's frame")
	}
	if s3, _, _ := nw.Take(now); s3 != 3 {
		t.Fatalf("the new window numbered from %d, want 3", s3)
	}
	nw.Resolve(3, "c")
	l.expect(t, "3:c")
}
