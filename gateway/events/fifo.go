package events

import (
	"sync"

	"github.com/nats-io/nats.go"
)

// fifo is the outbox's queue: bounded, but holding memory only for what
// waits (chunks come and go with the backlog), so its bound can cover a
// mass disconnect without a gateway paying for it when nothing waits.
type fifo struct {
	mu         sync.Mutex
	head, tail *chunk
	n, max     int
	ready      chan struct{} // a token when messages wait
}

const chunkSize = 128

type chunk struct {
	msgs       [chunkSize]*nats.Msg
	start, end int
	next       *chunk
}

var chunks = sync.Pool{New: func() any { return new(chunk) }}

func newFIFO(max int) *fifo { return &fifo{max: max, ready: make(chan struct{}, 1)} }

// push appends msgs in order, as many as the bound allows, and returns how
// many it took.
func (q *fifo) push(msgs []*nats.Msg) int {
	q.mu.Lock()
	took := 0
	for _, m := range msgs {
		if q.n == q.max {
			break
		}
		if q.tail == nil || q.tail.end == chunkSize {
			c := chunks.Get().(*chunk)
			if q.tail == nil {
				q.head = c
			} else {
				q.tail.next = c
			}
			q.tail = c
		}
		q.tail.msgs[q.tail.end] = m
		q.tail.end++
		q.n++
		took++
	}
	q.mu.Unlock()
	if took > 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return took
}

// pop takes the oldest message; nil when none waits.
func (q *fifo) pop() *nats.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.head
	if c == nil || c.start == c.end {
		return nil
	}
	m := c.msgs[c.start]
	c.msgs[c.start] = nil
	c.start++
	q.n--
	if c.start == c.end && (c.end == chunkSize || q.n == 0) {
		// Used up (or empty and the last): give it back.
		q.head = c.next
		if q.head == nil {
			q.tail = nil
		}
		*c = chunk{}
		chunks.Put(c)
	}
	return m
}

// len is how many messages wait.
func (q *fifo) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
