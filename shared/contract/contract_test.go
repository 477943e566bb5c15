package contract

import (
	"strings"
	"testing"
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
