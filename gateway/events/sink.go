package events

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream publishes batches with JetStream's asynchronous publish: the
// whole batch goes out at once, then every acknowledgement is awaited.
type JetStream struct {
	js      jetstream.JetStream
	timeout time.Duration
}

// NewJetStream is a Sink on nc; an acknowledgement not back within timeout
// fails its message (which is sent again).
func NewJetStream(nc *nats.Conn, timeout time.Duration) (*JetStream, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(timeout))
	if err != nil {
		return nil, err
	}
	return &JetStream{js: js, timeout: timeout}, nil
}

// Publish implements Sink.
func (j *JetStream) Publish(ctx context.Context, batch []*nats.Msg) []error {
	errs := make([]error, len(batch))
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, m := range batch {
		// The message is copied: the library keeps it for its retries.
		cp := &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}
		futures[i], errs[i] = j.js.PublishMsgAsync(cp)
	}
	dctx, cancel := context.WithTimeout(ctx, j.timeout+time.Second)
	defer cancel()
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = err
		case <-dctx.Done():
			errs[i] = dctx.Err()
		}
	}
	return errs
}
