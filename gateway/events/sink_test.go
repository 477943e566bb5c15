package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/shared/natstest"
)

// The sink reads JetStream's answers right, on a real server: taken,
// taken before (a duplicate), refused by the stream, no stream at all,
// and no answer in time; a batch that ended ignores late answers.
func TestJetStreamSink(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	sink, err := NewJetStream(nc, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	msg := func(subject, id string, hdr ...string) *nats.Msg {
		m := &nats.Msg{Subject: subject, Header: nats.Header{nats.MsgIdHdr: {id}}, Data: []byte(`{"x":1}`)}
		for i := 0; i+1 < len(hdr); i += 2 {
			m.Header.Set(hdr[i], hdr[i+1])
		}
		return m
	}
	errs := sink.Publish(ctx, []*nats.Msg{
		msg("ev.a", "1"),
		msg("ev.a", "1"), // a duplicate: taken before
		msg("ev.b", "2", "Nats-Expected-Stream", "OTHER"), // refused by the stream
		msg("nothing.here", "3"),                          // no stream
		msg("ev.c", "4"),
	})
	if errs[0] != nil || errs[1] != nil || errs[4] != nil {
		t.Fatalf("taken messages failed: %v", errs)
	}
	if errs[2] == nil || errors.Is(errs[2], ErrAckTimeout) {
		t.Fatalf("a refused message: %v, want the stream's error", errs[2])
	}
	if !errors.Is(errs[3], nats.ErrNoResponders) {
		t.Fatalf("no stream: %v, want no responders", errs[3])
	}
	st, err := js.Stream(ctx, "EV")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 2 {
		t.Fatalf("stream holds %v messages (%v), want 2", info.State.Msgs, err)
	}

	// A reply that is no acknowledgement, and one that never comes.
	fake, err := nc.Subscribe("fake.*", func(m *nats.Msg) {
		if m.Subject == "fake.reply" {
			_ = m.Respond([]byte("pong"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Unsubscribe()
	short, err := NewJetStream(nc, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	errs = short.Publish(ctx, []*nats.Msg{msg("fake.reply", "5"), msg("fake.silent", "6")})
	if !errors.Is(errs[0], errNotAck) || !errors.Is(errs[1], ErrAckTimeout) {
		t.Fatalf("got %v, want not an acknowledgement, then a timeout", errs)
	}
	// An answer that comes after its batch ended changes nothing.
	release, answered := make(chan struct{}), make(chan struct{})
	late, err := nc.Subscribe("fake.late", func(m *nats.Msg) {
		go func() {
			<-release
			_ = m.Respond([]byte(`{"stream":"EV","seq":99}`))
			close(answered)
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Unsubscribe()
	if errs := short.Publish(ctx, []*nats.Msg{msg("fake.late", "8")}); !errors.Is(errs[0], ErrAckTimeout) {
		t.Fatalf("late: %v", errs)
	}
	close(release)
	<-answered
	if errs := short.Publish(ctx, []*nats.Msg{msg("ev.d", "9"), msg("fake.silent", "10")}); errs[0] != nil || !errors.Is(errs[1], ErrAckTimeout) {
		t.Fatalf("after a late answer: %v", errs)
	}
	// A cancelled context ends the batch at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if errs := short.Publish(cctx, []*nats.Msg{msg("fake.silent", "7")}); !errors.Is(errs[0], ErrAckTimeout) {
		t.Fatalf("cancelled: %v", errs)
	}
}
