package presence

import (
	"encoding/json"
	"testing"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// Whatever a presence worker (or anyone allowed to publish there) sends,
// a notice is accepted only when it is one, and its line is valid JSON
// that says the same.
func FuzzParseNotice(f *testing.F) {
	for _, s := range []string{
		`{"event":"join","user":"bob","rev":1}`, `{"event":"leave","user":"Zoë","rev":18446744073709551615}`,
		`{"event":"join","user":"","rev":1}`, `{"event":"join","user":"a\u0000b","rev":2}`, `[]`, `null`, "\xff",
		`{"event":"join","user":"bob","rev":-1}`, `{"event":"join","user":"bob","rev":1.5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, ok := ParseNotice(body)
		if !ok {
			return
		}
		if n.Rev == 0 || (n.Event != "join" && n.Event != "leave") || !contract.ValidUser(n.User) {
			t.Fatalf("accepted %+v", n)
		}
		line := roomsproto.AppendPresenceEvent(nil, "lobby", n.Event, n.User)
		var back struct{ Room, Event, User string }
		if err := json.Unmarshal(line, &back); err != nil || back.User != n.User || back.Event != n.Event {
			t.Fatalf("line %q: %v %+v", line, err, back)
		}
	})
}

// An answer is accepted only when every count makes sense, and its reply
// line carries it exactly.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"users":[{"user":"alice","connections":2}],"anonymous":3}`, `{"users":[],"anonymous":0}`,
		`{"users":[{"user":"a","connections":1},{"user":"a","connections":1}]}`, `{"users":null,"anonymous":-1}`,
		`{"users":[{"user":"x","connections":0}]}`, `{}`, `{"users":[{"user":"\ud800","connections":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, ok := ParseAnswer(body)
		if !ok {
			return
		}
		users := make([]roomsproto.PresenceUser, len(a.Users))
		for i, u := range a.Users {
			if u.Connections < 1 || !contract.ValidUser(u.User) {
				t.Fatalf("accepted %+v", u)
			}
			users[i] = roomsproto.PresenceUser{User: u.User, Connections: u.Connections}
		}
		line := roomsproto.AppendPresence(nil, 7, users, a.Anonymous)
		var back struct {
			ID uint64
			OK contract.PresenceAnswer
		}
		if err := json.Unmarshal(line, &back); err != nil || back.ID != 7 || len(back.OK.Users) != len(a.Users) || back.OK.Anonymous != a.Anonymous {
			t.Fatalf("line %q: %v", line, err)
		}
		for i := range a.Users {
			if back.OK.Users[i] != a.Users[i] {
				t.Fatalf("user %d: %+v, want %+v", i, back.OK.Users[i], a.Users[i])
			}
		}
	})
}
