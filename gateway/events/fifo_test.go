package events

import (
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
)

// The queue keeps order across chunks, holds to its bound, and keeps no
// chunk once drained: memory follows the backlog.
func TestFIFO(t *testing.T) {
	q := newFIFO(3*chunkSize + 5)
	var msgs []*nats.Msg
	for i := range 3*chunkSize + 9 {
		msgs = append(msgs, &nats.Msg{Subject: strconv.Itoa(i)})
	}
	if took := q.push(msgs[:10]); took != 10 {
		t.Fatalf("took %d of 10", took)
	}
	if took := q.push(msgs[10:]); took != 3*chunkSize+5-10 {
		t.Fatalf("took %d past the bound", took)
	}
	for i := range 3*chunkSize + 5 {
		// Interleave pushes once there is room: order still holds.
		m := q.pop()
		if m == nil || m.Subject != strconv.Itoa(i) {
			t.Fatalf("pop %d: %v", i, m)
		}
		if i == 0 && q.push([]*nats.Msg{{Subject: "late"}}) != 1 {
			t.Fatal("no room after a pop")
		}
	}
	if m := q.pop(); m == nil || m.Subject != "late" {
		t.Fatalf("last pop: %v", m)
	}
	if q.pop() != nil || q.len() != 0 {
		t.Fatal("messages left")
	}
	if q.head != nil || q.tail != nil {
		t.Fatal("a drained queue keeps a chunk")
	}
	// Empty and refilled, it works again.
	q.push(msgs[:1])
	if m := q.pop(); m != msgs[0] {
		t.Fatalf("after refill: %v", m)
	}
}
