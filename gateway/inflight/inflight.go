// Package inflight holds one connection's frames in flight to its workers
// and releases their outcomes in the order the frames were sent: an answer
// that overtook an earlier frame's waits for it, and a frame that times out
// is dropped so that the ones behind it go on.
package inflight

import (
	"sync"
	"time"
)

// Outcome is what became of a frame.
type Outcome uint8

const (
	Answered Outcome = iota + 1 // its answer arrived in time
	TimedOut                    // no answer within the timeout: dropped
)

// Release receives each frame's outcome, in sequence order, one call at a
// time, without the window's lock held: it may call Close.
type Release[T any] func(seq uint64, v T, o Outcome)

type slot[T any] struct {
	state uint8 // free, pending or answered
	sent  time.Time
	v     T
}

const (
	free uint8 = iota
	pending
	answered
)

// Window admits at most size frames at once. Sequence numbers start at 1.
// The reader Takes a number per frame; answers Resolve theirs; a timer
// calls Expire. It makes no goroutine and holds no timer: Take and Expire
// tell the caller when to arm one.
type Window[T any] struct {
	mu        sync.Mutex
	slots     []slot[T]
	head      uint64 // oldest sequence number not yet released
	next      uint64 // the next one Take hands out
	timeout   time.Duration
	release   Release[T]
	releasing bool      // a goroutine is calling release; others leave it the work
	expired   time.Time // frames sent a timeout before this are dropped
	armed     bool      // the caller's timer is set for the oldest pending frame
	closed    bool
	space     chan struct{} // a token when a full window gets room, or closes
}

// New makes a window of size frames (at least 1) that drops a frame
// timeout after it was taken.
func New[T any](size int, timeout time.Duration, release Release[T]) *Window[T] {
	return NewFrom(1, size, timeout, release)
}

// NewFrom is New numbering from first (at least 1): a window that takes
// over from an idle one (see Idle) numbers on, so that a late answer to a
// frame of the old one never matches a frame of the new one.
func NewFrom[T any](first uint64, size int, timeout time.Duration, release Release[T]) *Window[T] {
	size, first = max(size, 1), max(first, 1)
	return &Window[T]{
		slots: make([]slot[T], size), head: first, next: first,
		timeout: timeout, release: release, space: make(chan struct{}, 1),
	}
}

// Idle reports, with the number the next frame would get, whether no
// frame is in flight and no outcome is being released: Close then loses
// nothing, and no release runs after it.
func (w *Window[T]) Idle() (next uint64, idle bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next, !w.closed && w.head == w.next && !w.releasing
}

// Take gives the next frame its sequence number, or ok is false when the
// window is full or closed. arm says that no timer is set: the caller
// sets one to call Expire after the timeout.
func (w *Window[T]) Take(now time.Time) (seq uint64, arm, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.next-w.head == uint64(len(w.slots)) {
		return 0, false, false
	}
	seq = w.next
	w.next++
	s := &w.slots[seq%uint64(len(w.slots))]
	s.state, s.sent = pending, now
	arm = !w.armed
	w.armed = true
	return seq, arm, true
}

// Space delivers a token when a full window gets room, or when it closes.
// A token may be stale: Take again, and wait again if it fails.
func (w *Window[T]) Space() <-chan struct{} { return w.space }

// Resolve records the answer to frame seq and releases what it unblocked.
// It returns when the frame was sent, and false for an answer nobody waits
// for: an unknown or released frame (it timed out), a second answer, or a
// closed window.
func (w *Window[T]) Resolve(seq uint64, v T) (sent time.Time, ok bool) {
	w.mu.Lock()
	if w.closed || seq < w.head || seq >= w.next {
		w.mu.Unlock()
		return time.Time{}, false
	}
	s := &w.slots[seq%uint64(len(w.slots))]
	if s.state != pending {
		w.mu.Unlock()
		return time.Time{}, false
	}
	s.state, s.v = answered, v
	sent = s.sent
	w.drain() // unlocks
	return sent, true
}

// Expire drops the frames whose time is up at now and releases what that
// unblocked. The caller's timer fired: wait, if rearm, is when to call it
// again.
func (w *Window[T]) Expire(now time.Time) (wait time.Duration, rearm bool) {
	w.mu.Lock()
	w.armed = false
	if now.After(w.expired) {
		w.expired = now
	}
	w.drain() // unlocks
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.armed {
		return 0, false // closed, or a Take armed a timer meanwhile
	}
	for seq := w.head; seq < w.next; seq++ {
		if s := &w.slots[seq%uint64(len(w.slots))]; s.state == pending {
			w.armed = true
			return max(s.sent.Add(w.timeout).Sub(now), 0), true
		}
	}
	return 0, false
}

// drain releases from the head while the head is answered, or pending and
// past its time (as of the last Expire). One goroutine releases at a time,
// in order, and takes over what others resolved or expired meanwhile; the
// lock is not held while release runs. Callers hold w.mu; drain unlocks it.
func (w *Window[T]) drain() {
	if w.releasing {
		w.mu.Unlock()
		return
	}
	w.releasing = true
	for !w.closed && w.head < w.next {
		s := &w.slots[w.head%uint64(len(w.slots))]
		var o Outcome
		switch {
		case s.state == answered:
			o = Answered
		case !w.expired.Before(s.sent.Add(w.timeout)):
			o = TimedOut
		default:
			w.releasing = false
			w.mu.Unlock()
			return
		}
		seq, v := w.head, s.v
		var zero T
		s.state, s.v = free, zero
		if w.next-w.head == uint64(len(w.slots)) {
			w.signal()
		}
		w.head++
		w.mu.Unlock()
		w.release(seq, v, o)
		w.mu.Lock()
	}
	w.releasing = false
	w.mu.Unlock()
}

func (w *Window[T]) signal() {
	select {
	case w.space <- struct{}{}:
	default:
	}
}

// Close drops every frame in flight: no outcome is released after it
// returns, but one being released may finish. The reader waiting for room
// is woken.
func (w *Window[T]) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	clear(w.slots)
	w.signal()
}

// Full reports whether Take would fail for want of room; false once the
// window is closed.
func (w *Window[T]) Full() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.closed && w.next-w.head == uint64(len(w.slots))
}
