// Package history reads a room history stream (see contract.HistoryStream):
// what a resuming member missed, the last messages of a room, the gaps a
// gateway must fill. It reads with JetStream direct gets, batched, from
// whichever replica answers: no consumer, no state on the server.
package history

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/wsgate/wsgate/shared/contract"
)

// ErrOff means the history stream does not exist: history is off (or its
// room worker has not created it yet).
var ErrOff = errors.New("room history is off")

// Msg is a stored room message.
type Msg struct {
	Seq    uint64
	Header nats.Header
	Data   []byte
}

// Store reads the history of the rooms under one subject base.
type Store interface {
	// Range calls fn with the messages stored on subject (a RoomLog) with
	// a sequence number of at least from, in order, until fn returns
	// false or none is left.
	Range(ctx context.Context, subject string, from uint64, fn func(Msg) bool) error
	// Last is the sequence number of the last message stored on subject;
	// 0 when there is none.
	Last(ctx context.Context, subject string) (uint64, error)
	// Limit is how many messages the stream keeps per room.
	Limit(ctx context.Context) (int64, error)
}

// JetStream is Store over a NATS connection.
type JetStream struct {
	js     jetstream.JetStream
	stream string
	batch  int

	mu      sync.Mutex
	limit   int64
	limitAt time.Time
}

// limitFor is how long Limit trusts what it read.
const limitFor = 30 * time.Second

// New reads the history stream of the rooms under base over nc.
func New(nc *nats.Conn, base string) (*JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &JetStream{js: js, stream: contract.HistoryStream(base), batch: 256}, nil
}

// Range implements Store.
func (s *JetStream) Range(ctx context.Context, subject string, from uint64, fn func(Msg) bool) error {
	from = max(from, 1)
	for {
		msgs, err := jetstreamext.GetBatch(ctx, s.js, s.stream, s.batch,
			jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(subject))
		if err != nil {
			return s.fail(err)
		}
		pending := uint64(0)
		n := 0
		for m, err := range msgs {
			if err != nil {
				if errors.Is(err, jetstreamext.ErrNoMessages) {
					return nil
				}
				return s.fail(err)
			}
			n++
			from = m.Sequence + 1
			pending, _ = strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			if !fn(Msg{Seq: m.Sequence, Header: m.Header, Data: m.Data}) {
				return nil
			}
		}
		if n == 0 || pending == 0 {
			return nil
		}
	}
}

// Last implements Store.
func (s *JetStream) Last(ctx context.Context, subject string) (uint64, error) {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, s.stream, []string{subject})
	if err != nil {
		return 0, s.fail(err)
	}
	var last uint64
	for m, err := range msgs {
		if err != nil {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				return 0, nil
			}
			return 0, s.fail(err)
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

// Limit implements Store: the stream's MaxMsgsPerSubject, read at most
// every 30 s.
func (s *JetStream) Limit(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.limitAt) < limitFor {
		return s.limit, nil
	}
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return 0, s.fail(err)
	}
	s.limit, s.limitAt = st.CachedInfo().Config.MaxMsgsPerSubject, time.Now()
	return s.limit, nil
}

func (s *JetStream) fail(err error) error {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return ErrOff
	}
	return err
}

// Seqs reads the stream sequence number of a stored or republished room
// message, and (republished only) the previous one on the same subject.
// ok is false when the message does not come from a history stream.
func Seqs(h nats.Header) (seq, last uint64, ok bool) {
	v := h[contract.HeaderNatsSeq]
	if len(v) == 0 {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil || seq == 0 {
		return 0, 0, false
	}
	if l := h[contract.HeaderNatsLastSeq]; len(l) > 0 {
		last, _ = strconv.ParseUint(l[0], 10, 64)
	}
	return seq, last, true
}
