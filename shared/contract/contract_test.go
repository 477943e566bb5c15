package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/nats-io/nats.go"
)

func TestValidRoom(t *testing.T) {
	good := []string{"a", "default", "Room_1-x", strings.Repeat("z", 64)}
	bad := []string{"", "a.b", "*", ">", "a b", "%2A", "caf\u00e9", strings.Repeat("z", 65), "a/b", "a\x00"}
	for _, r := range good {
		if !ValidRoom(r) {
			t.Errorf("ValidRoom(%q) = false, want true", r)
		}
	}
	for _, r := range bad {
		if ValidRoom(r) {
			t.Errorf("ValidRoom(%q) = true, want false", r)
		}
	}
}

// FuzzValidRoom checks that every accepted name is one literal subject token.
func FuzzValidRoom(f *testing.F) {
	for _, s := range []string{"default", "a.b", "*", ">", "", "%2E", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidRoom(s) {
			return
		}
		if len(s) > MaxRoomLen || strings.ContainsAny(s, ".*> \t\r\n") {
			t.Fatalf("ValidRoom accepted %q", s)
		}
		subj := RoomOut(RoomSubject, s)
		if strings.Count(subj, ".") != 3 {
			t.Fatalf("subject %q has extra tokens", subj)
		}
	})
}

func TestValidUser(t *testing.T) {
	for _, u := range []string{"alice", "user@example.com", "a b", strings.Repeat("u", 256), "ünï"} {
		if !ValidUser(u) {
			t.Errorf("ValidUser(%q) = false", u)
		}
	}
	for _, u := range []string{"", "a\r\nWsgw-Room: x", "a\x00", "a\tb", strings.Repeat("u", 257),
		" alice", "alice ", "  alice", "\u00a0alice", "alice\u3000", "\ufeffalice", "a\u0085b", "\xffalice", " "} {
		if ValidUser(u) {
			t.Errorf("ValidUser(%q) = true", u)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b*c", "aXbYc")
	f.Add("***", "")
	f.Add("*a*a*a*a*a*b", strings.Repeat("a", 60))
	f.Fuzz(func(t *testing.T, pat, s string) {
		got := Glob(pat, s)
		if !strings.Contains(pat, "*") && got != (pat == s) {
			t.Fatalf("Glob(%q, %q) = %v without wildcards", pat, s, got)
		}
		if pat == "*" && !got {
			t.Fatalf("* did not match %q", s)
		}
	})
}

// FuzzValidUser: an accepted user id comes back byte for byte from a NATS
// header (as workers read Wsgw-User) and from JSON (as revocations name
// users), with nothing a header parser in any language would trim.
func FuzzValidUser(f *testing.F) {
	for _, s := range []string{"alice", "  alice", "alice ", "a b", "\u00a0a", "\xff", "a\r\nb", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidUser(id) {
			return
		}
		h, err := nats.DecodeHeadersMsg([]byte("NATS/1.0\r\n" + HeaderUser + ": " + id + "\r\n\r\n"))
		if err != nil || len(h[HeaderUser]) != 1 || h.Get(HeaderUser) != id {
			t.Fatalf("header round trip of %q: %q, %v", id, h[HeaderUser], err)
		}
		b, _ := json.Marshal(RevokeRequest{User: id})
		var back RevokeRequest
		if err := json.Unmarshal(b, &back); err != nil || back.User != id {
			t.Fatalf("JSON round trip of %q: %q, %v", id, back.User, err)
		}
		if strings.TrimFunc(id, unicode.IsSpace) != id || strings.TrimSpace(id) != id {
			t.Fatalf("accepted %q, which parsers trim", id)
		}
	})
}
