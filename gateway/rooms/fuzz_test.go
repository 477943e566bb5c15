package rooms

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// FuzzSession runs any sequence of frames (separated by NUL) through a
// session whose room worker answers every publish: nothing panics, every
// frame gets exactly one reply, with its id when it had a valid one, in the
// order sent, and every line is valid protocol.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"join":{"room":"a"}}` + "\x00" + `{"id":2,"publish":{"room":"a","data":"x"}}`,
		`{"id":1,"join":{"room":"a"}}` + "\x00" + `{"id":1,"join":{"room":"a"}}` + "\x00" + `{"id":3,"leave":{"room":"a"}}`,
		`{"id":1,"publish":{"room":"a","b64":"AAE="}}` + "\x00" + `nope` + "\x00" + `{"id":2}`,
		`{"id":5,"join":{"room":"quiet"}}` + "\x00" + `{"id":6,"publish":{"room":"quiet","data":"x"}}`,
		`{"id":1,"join":{"room":"a"}}` + "\x00" + `{"id":2,"join":{"room":"b"}}` + "\x00" + `{"id":3,"join":{"room":"c"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fx := newFixture(t, 4, time.Hour)
		frames := bytes.Split(in, []byte{0})
		if len(frames) > 64 {
			frames = frames[:64]
		}
		answered := 0
		var want []uint64
		for _, frame := range frames {
			c, _ := roomsproto.Parse(frame)
			want = append(want, c.ID)
			fx.frame(string(frame))
			// The worker answers every request so far: half broadcast,
			// half declined with a direct frame.
			for _, m := range fx.pub.published() {
				if !strings.HasPrefix(m.Subject, "wsgw.room.in.") {
					continue
				}
				answered++
				seq := uint64(answered)
				reply := &nats.Msg{Data: m.Data, Header: nats.Header{contract.HeaderFrame: m.Header[contract.HeaderFrame]}}
				if seq%2 == 0 {
					reply.Header.Set(contract.HeaderBroadcast, "1")
				}
				fx.s.Reply(seq, reply)
			}
			fx.pub.mu.Lock()
			fx.pub.msgs = nil
			fx.pub.mu.Unlock()
		}
		var got []uint64
		for {
			select {
			case <-fx.conn.sent:
			default:
				goto done
			}
		}
	done:
		fx.conn.mu.Lock()
		defer fx.conn.mu.Unlock()
		for _, frame := range fx.conn.frames {
			msgs, err := roomsproto.Decode([]byte(frame))
			if err != nil {
				t.Fatalf("undecodable frame %q: %v", frame, err)
			}
			for _, m := range msgs {
				if m.ID != nil {
					got = append(got, *m.ID)
				} else if m.Room == "" || !contract.ValidRoom(m.Room) || !m.Direct {
					t.Fatalf("a line that is neither a reply nor a direct message: %q", frame)
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d frames, %d replies: %v, want %v", len(want), len(got), got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("reply %d has id %d, want %d", i, got[i], want[i])
			}
		}
	})
}
