package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// JetStream publishes batches to JetStream streams: every message of a
// batch goes out at once, with a reply subject of its own under one inbox
// the sink subscribes to, and the batch ends when every acknowledgement
// came back, or at the timeout.
//
// It is JetStream's publish protocol, not the nats.go jetstream client:
// per message, that client registers a future under a lock, allocates its
// channels and decodes the acknowledgement's JSON into a struct. In a join
// storm those were 13% of the gateway's CPU. An acknowledgement only has
// to say whether the stream took the message, which this sink reads from
// its bytes.
type JetStream struct {
	nc      *nats.Conn
	timeout time.Duration
	prefix  string // <inbox>.: acknowledgements come to <prefix><batch>.<index>
	sub     *nats.Subscription

	mu  sync.Mutex
	cur *flight // the batch in flight; the outbox sends one at a time
	seq uint64
}

// flight is one batch waiting for its acknowledgements.
type flight struct {
	id   string
	errs []error
	got  []bool
	left int
	done chan struct{}
}

// Errors for messages that got no usable acknowledgement.
var (
	ErrAckTimeout = errors.New("jetstream: no acknowledgement in time")
	errNotAck     = errors.New("jetstream: reply is not an acknowledgement")
)

// NewJetStream is a Sink on nc; an acknowledgement not back within timeout
// fails its message (which the outbox sends again).
func NewJetStream(nc *nats.Conn, timeout time.Duration) (*JetStream, error) {
	j := &JetStream{nc: nc, timeout: timeout, prefix: nc.NewInbox() + "."}
	sub, err := nc.Subscribe(j.prefix+">", j.ack)
	if err != nil {
		return nil, err
	}
	// Acknowledgements come at the rate messages went: never drop one for
	// a slow consumer (a dropped one would only cost a retry).
	_ = sub.SetPendingLimits(-1, -1)
	j.sub = sub
	return j, nil
}

// Close stops taking acknowledgements.
func (j *JetStream) Close() error { return j.sub.Unsubscribe() }

// Publish implements Sink.
func (j *JetStream) Publish(ctx context.Context, batch []*nats.Msg) []error {
	j.mu.Lock()
	j.seq++
	f := &flight{id: strconv.FormatUint(j.seq, 36), errs: make([]error, len(batch)), got: make([]bool, len(batch)),
		left: len(batch), done: make(chan struct{})}
	j.cur = f
	j.mu.Unlock()
	reply := j.prefix + f.id + "."
	for i, m := range batch {
		out := nats.Msg{Subject: m.Subject, Reply: reply + strconv.Itoa(i), Header: m.Header, Data: m.Data}
		if err := j.nc.PublishMsg(&out); err != nil {
			j.settle(f, i, err)
		}
	}
	t := time.NewTimer(j.timeout)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
	case <-ctx.Done():
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cur = nil
	for i, got := range f.got {
		if !got {
			f.errs[i] = ErrAckTimeout
		}
	}
	return f.errs
}

// ack takes an acknowledgement to <prefix><batch>.<index>.
func (j *JetStream) ack(m *nats.Msg) {
	id, idx, ok := strings.Cut(strings.TrimPrefix(m.Subject, j.prefix), ".")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil {
		return
	}
	j.mu.Lock()
	f := j.cur
	j.mu.Unlock()
	if f == nil || f.id != id {
		return // a batch that ended: late
	}
	j.settle(f, i, ackErr(m))
}

// settle records message i's outcome, once.
func (j *JetStream) settle(f *flight, i int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if i < 0 || i >= len(f.got) || f.got[i] || j.cur != f {
		return
	}
	f.got[i], f.errs[i] = true, err
	if f.left--; f.left == 0 {
		close(f.done)
	}
}

// ackErr reads a reply to a JetStream publish: nil when the stream took
// the message (or already had it: a duplicate), else why not. A publish
// acknowledgement is {"stream":…,"seq":…}; an error is {"error":{…}};
// no stream on the subject is NATS's no-responders status.
func ackErr(m *nats.Msg) error {
	switch {
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		return nats.ErrNoResponders
	case bytes.Contains(m.Data, []byte(`"error"`)):
		return fmt.Errorf("jetstream: %s", m.Data)
	case !bytes.Contains(m.Data, []byte(`"stream"`)):
		return errNotAck
	}
	return nil
}
