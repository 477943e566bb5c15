package roomsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/wsgate/wsgate/shared/contract"
)

// FuzzParse: no input panics; every error is a 400 whose reply is valid
// JSON; every accepted command is what encoding/json reads from the same
// frame (which, without duplicates, is unambiguous), and survives being
// written out again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"join":{"room":"lobby"}}`,
		`{"id":3,"publish":{"room":"lobby","data":"hello"}}`,
		`{"id":4,"publish":{"room":"lobby","b64":"AAEC"}}`,
		`{"id":1,"id":2,"join":{"room":"a"}}`,
		`{"\u0069d":1,"join":{"room":"a"},"x":[{"}":"\"]"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := Parse(frame)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeBadRequest || e.Reason == "" {
				t.Fatalf("error %v is not a 400", err)
			}
			if c.ID > MaxID {
				t.Fatalf("echoed id %d", c.ID)
			}
			if r := AppendError(nil, c.ID, err); !json.Valid(r) {
				t.Fatalf("error reply is not JSON: %s", r)
			}
			return
		}
		if c.ID < 1 || c.ID > MaxID || !contract.ValidRoom(c.Room) || c.Op < Join || c.Op > Presence {
			t.Fatalf("accepted %+v", c)
		}
		if c.Op == Publish && c.Body == nil || c.Op != Publish && (c.Body != nil || c.Binary) {
			t.Fatalf("body of %+v", c)
		}
		// The oracle: encoding/json's reading of the frame.
		var top map[string]json.RawMessage
		if err := json.Unmarshal(frame, &top); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		var id uint64
		if err := json.Unmarshal(top["id"], &id); err != nil || id != c.ID {
			t.Fatalf("id %d, encoding/json %d (%v)", c.ID, id, err)
		}
		// Names match exactly: a map, not a struct (whose fields
		// encoding/json matches case-insensitively).
		var args map[string]json.RawMessage
		if err := json.Unmarshal(top[c.Op.String()], &args); err != nil {
			t.Fatalf("args: %v", err)
		}
		str := func(k string) string {
			var v string
			if err := json.Unmarshal(args[k], &v); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			return v
		}
		if room := str("room"); room != c.Room {
			t.Fatalf("room %q, encoding/json %q", c.Room, room)
		}
		var presence bool
		if p, ok := args["presence"]; ok && c.Op == Join && string(p) != "null" {
			if err := json.Unmarshal(p, &presence); err != nil {
				t.Fatalf("presence: %v", err)
			}
		}
		if presence != c.Presence {
			t.Fatalf("presence %v, encoding/json %v", c.Presence, presence)
		}
		if c.Op == Publish {
			var want []byte
			if c.Binary {
				want, _ = base64.StdEncoding.DecodeString(str("b64"))
			} else {
				want = []byte(str("data"))
			}
			if !bytes.Equal(want, c.Body) {
				t.Fatalf("body %q, encoding/json %q", c.Body, want)
			}
		}
		// Written out canonically, it parses to the same command.
		again, err := Parse(canonical(c))
		if err != nil || again.ID != c.ID || again.Op != c.Op || again.Room != c.Room ||
			!bytes.Equal(again.Body, c.Body) || again.Binary != c.Binary || again.Presence != c.Presence {
			t.Fatalf("re-parse of %+v: %+v, %v", c, again, err)
		}
	})
}

// canonical writes c as a client would.
func canonical(c Command) []byte {
	args := map[string]any{"room": c.Room}
	if c.Presence {
		args["presence"] = true
	}
	if c.Op == Publish {
		if c.Binary {
			args["b64"] = base64.StdEncoding.EncodeToString(c.Body)
		} else {
			args["data"] = string(c.Body)
		}
	}
	b, _ := json.Marshal(map[string]any{"id": c.ID, c.Op.String(): args})
	return b
}

// FuzzEncode: whatever the gateway is handed (bodies, user ids and reasons
// from the network included), every line it writes is valid JSON without a
// newline, and a client reads back the same body byte for byte and the same
// strings (as encoding/json would write them: invalid UTF-8 as U+FFFD).
func FuzzEncode(f *testing.F) {
	f.Add("lobby", "alice", []byte("hello"), false, false, uint64(1), "not allowed")
	f.Add("r", "", []byte{0, 1, 0xff}, true, true, uint64(0), "")
	f.Add("r", "a\xffb", []byte("\"\\\n\x00\u2028\xc3"), false, false, uint64(MaxID), "\x01")
	f.Fuzz(func(t *testing.T, room, user string, body []byte, binary, direct bool, id uint64, reason string) {
		var frame []byte
		frame = AppendMessage(frame, &Message{Room: room, Body: body, Binary: binary, User: user, Direct: direct, Seq: id})
		frame = append(frame, Separator)
		frame = AppendPush(frame, body, binary)
		frame = append(frame, Separator)
		frame = AppendError(frame, id, &Error{CodeForbidden, reason})
		frame = append(frame, Separator)
		frame = AppendPublished(frame, id, direct, 0)
		frame = append(frame, Separator)
		frame = AppendOK(frame, id)
		for line := range bytes.SplitSeq(frame, []byte{Separator}) {
			if !json.Valid(line) {
				t.Fatalf("invalid JSON: %q", line)
			}
		}
		msgs, err := Decode(frame)
		if err != nil || len(msgs) != 5 {
			t.Fatalf("Decode: %d, %v", len(msgs), err)
		}
		m := msgs[0]
		if m.Room != viaJSON(room) || m.User != viaJSON(user) || m.Direct != direct || m.ID != nil || m.Seq != id {
			t.Fatalf("message %+v from room %q user %q", m, room, user)
		}
		for _, r := range msgs[:2] {
			got, bin, err := r.Body()
			if err != nil || !bytes.Equal(got, body) || bin != (binary || !utf8.Valid(body)) {
				t.Fatalf("body %q (binary %v, %v), sent %q (binary %v)", got, bin, err, body, binary)
			}
		}
		if e := msgs[2].Error; e == nil || *msgs[2].ID != id || e.Code != CodeForbidden || e.Reason != viaJSON(reason) {
			t.Fatalf("error reply %+v", msgs[2])
		}
		if *msgs[3].ID != id || string(msgs[3].OK) != `{"broadcast":`+map[bool]string{true: "true", false: "false"}[direct]+`}` {
			t.Fatalf("publish reply %+v", msgs[3])
		}
		if *msgs[4].ID != id || string(msgs[4].OK) != `{}` {
			t.Fatalf("ok reply %+v", msgs[4])
		}
	})
}

// viaJSON is s as encoding/json writes and reads it back.
func viaJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
