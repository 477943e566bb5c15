package rooms

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// fakePresence records what a session tells presence.
type fakePresence struct {
	log      []string
	watchErr error
	answer   contract.PresenceAnswer
	queryErr error
}

func (p *fakePresence) Joined(room string) { p.log = append(p.log, "joined "+room) }
func (p *fakePresence) Left(room string)   { p.log = append(p.log, "left "+room) }
func (p *fakePresence) Watch(room string) error {
	p.log = append(p.log, "watch "+room)
	return p.watchErr
}
func (p *fakePresence) Unwatch(room string) { p.log = append(p.log, "unwatch "+room) }
func (p *fakePresence) Query(_ context.Context, room string) (contract.PresenceAnswer, error) {
	p.log = append(p.log, "query "+room)
	return p.answer, p.queryErr
}

func TestPresenceCommands(t *testing.T) {
	f := newFixture(t, 16, time.Second)
	// Without presence: 503.
	f.frame(`{"id":1,"presence":{"room":"a"}}`)
	if got := f.conn.next(t); got != `{"id":1,"error":{"code":503,"reason":"no presence worker"}}` {
		t.Fatal(got)
	}
	p := &fakePresence{answer: contract.PresenceAnswer{Users: []contract.PresenceUser{{User: "bob", Connections: 2}}, Anonymous: 1}}
	f.s.SetPresence(p)
	for _, tc := range []struct{ frame, want string }{
		{`{"id":2,"join":{"room":"a","presence":true}}`, `{"id":2,"ok":{}}`},
		{`{"id":3,"presence":{"room":"a"}}`, `{"id":3,"ok":{"users":[{"user":"bob","connections":2}],"anonymous":1}}`},
		// Not joined: allowed exactly when a join would be.
		{`{"id":4,"presence":{"room":"quiet"}}`, `{"id":4,"ok":{"users":[{"user":"bob","connections":2}],"anonymous":1}}`},
		{`{"id":5,"presence":{"room":"team"}}`, `{"id":5,"error":{"code":401,"reason":"identity required"}}`},
		{`{"id":6,"presence":{"room":"secret"}}`, `{"id":6,"error":{"code":403,"reason":"not allowed"}}`},
		{`{"id":7,"join":{"room":"b"}}`, `{"id":7,"ok":{}}`},
		{`{"id":8,"leave":{"room":"a"}}`, `{"id":8,"ok":{}}`},
	} {
		f.frame(tc.frame)
		if got := f.conn.next(t); got != tc.want {
			t.Fatalf("%s:\n got %s\nwant %s", tc.frame, got, tc.want)
		}
	}
	p.queryErr = &roomsproto.Error{Code: 503, Reason: "worker timeout"}
	f.frame(`{"id":9,"presence":{"room":"b"}}`)
	if got := f.conn.next(t); got != `{"id":9,"error":{"code":503,"reason":"worker timeout"}}` {
		t.Fatal(got)
	}
	f.s.End()
	want := "watch a,joined a,query a,query quiet,joined b,unwatch a,left a,query b,left b"
	if got := strings.Join(p.log, ","); got != want {
		t.Fatalf("presence saw\n %s\nwant\n %s", got, want)
	}
}

// A join whose presence events cannot be had fails whole: the room is
// given back, and nothing is recorded.
func TestPresenceWatchFailure(t *testing.T) {
	f := newFixture(t, 16, time.Second)
	p := &fakePresence{watchErr: errors.New("subscription refused")}
	f.s.SetPresence(p)
	f.frame(`{"id":1,"join":{"room":"a","presence":true}}`)
	if got := f.conn.next(t); got != `{"id":1,"error":{"code":503,"reason":"unavailable"}}` {
		t.Fatal(got)
	}
	if len(f.rooms.joined) != 0 || strings.Join(p.log, ",") != "watch a" || f.s.Joined() != 0 {
		t.Fatalf("rooms %v, presence %v", f.rooms.joined, p.log)
	}
}
