package events

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/wsgate/wsgate/shared/contract"
)

// The hand-written encoders write what encoding/json writes, for any
// strings and numbers.
func FuzzEncode(f *testing.F) {
	f.Add("gw.c1", "join", "2026-11-29T14:00:00.123456789Z", "gw", "c1", "alice", "/ws/room", "lobby", "127.0.0.1:5000", 1000, "client", uint64(3))
	f.Add("", "", "", "", "", "", "", "", "", 0, "", uint64(0))
	f.Add("\"\\<>&\u2028\u2029\x00\x1f\b\f\n\r\t", "\xff\xfe", "é😀", "\x7f", "a\u2027b", "\xe2\x80", "x", "y", "z", -5, "\x80", uint64(1<<63))
	f.Fuzz(func(t *testing.T, id, event, tm, gw, conn, user, route, room, remote string, code int, reason string, join uint64) {
		ev := contract.Event{ID: id, Event: event, Time: tm, Gateway: gw, Conn: conn, User: user, Route: route,
			Room: room, RemoteAddr: remote, Code: code, Reason: reason}
		want, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, &ev); !bytes.Equal(got, want) {
			t.Fatalf("event:\n got %s\nwant %s", got, want)
		}
		e := contract.PresenceEntry{User: user, Route: route, RemoteAddr: remote, Join: join}
		want, err = json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEntry(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("entry:\n got %s\nwant %s", got, want)
		}
	})
}
