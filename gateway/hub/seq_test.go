package hub

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// store is a history stream as Fill reads it: every message of one room by
// sequence number.
type store struct {
	mu    sync.Mutex
	msgs  map[uint64]string
	reads [][2]uint64 // the (after, before) of each Fill
}

func (s *store) fill(_ string, after, before uint64) []*nats.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, [2]uint64{after, before})
	var seqs []uint64
	for seq := range s.msgs {
		if seq > after && (before == 0 || seq < before) {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	var out []*nats.Msg
	for _, seq := range seqs {
		out = append(out, &nats.Msg{Data: []byte(s.msgs[seq]), Header: nats.Header{"Nats-Sequence": {fmt.Sprint(seq)}}})
	}
	return out
}

// A room with history delivers each message once and in order: what NATS
// dropped is read from the stream before the message that shows the gap,
// repeats and stale messages are dropped, and Resync reads what came while
// the gateway was cut off.
func TestHistoryGapsFilled(t *testing.T) {
	st := &store{msgs: map[uint64]string{3: "c", 5: "e", 8: "h", 9: "i", 12: "l"}}
	h, bus := fakeHub(t, Options{Dispatchers: 1, Queue: 16, Fill: st.fill})
	const subj = "room.out.h"
	m := newMember("m")
	if err := h.Join(subj, m, time.Second); err != nil {
		t.Fatal(err)
	}
	bus.publishSeq(subj, "c", 3, 1) // the first one the room sees: no gap check
	bus.publishSeq(subj, "c", 3, 1) // a repeat
	bus.publishSeq(subj, "h", 8, 5) // 5 was missed
	bus.publishSeq(subj, "e", 5, 3) // stale: delivered already
	bus.publishSeq(subj, "i", 9, 8)
	for range 4 {
		m.wait(t)
	}
	h.Resync() // 12 was stored while the gateway was away
	m.wait(t)
	if got, want := m.received(), []string{"c", "e", "h", "i", "l"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if want := [][2]uint64{{3, 8}, {9, 0}}; !slices.Equal(st.reads, want) {
		t.Fatalf("stream reads %v, want %v", st.reads, want)
	}
	if h.Filled() != 2 {
		t.Fatalf("filled %d, want 2", h.Filled())
	}
}
