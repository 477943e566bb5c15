package auth

import (
	"testing"

	"github.com/wsgate/wsgate/shared/contract"
)

func TestParseTokens(t *testing.T) {
	got, err := ParseTokens("")
	if err != nil || len(got) != 1 || got[DefaultToken] != DefaultUser {
		t.Fatalf("default: %v %v", got, err)
	}
	got, err = ParseTokens(" a:alice , b:bob ,")
	if err != nil || got["a"] != "alice" || got["b"] != "bob" || len(got) != 2 {
		t.Fatalf("pairs: %v %v", got, err)
	}
	for _, bad := range []string{"a", "a:", ":b", "a:alice,b"} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
}

func TestDecide(t *testing.T) {
	p := NewPolicy(map[string]string{"t1": "alice", "t2": "mallory"}, []string{" mallory "})
	cases := []struct {
		token  string
		status int
		user   string
	}{
		{"", 401, ""},
		{"nope", 401, ""},
		{"t1", 200, "alice"},
		{"t2", 403, "mallory"},
	}
	for _, c := range cases {
		got := p.Decide(contract.AuthRequest{Token: c.token})
		if got.Status != c.status || got.User != c.user {
			t.Errorf("Decide(%q) = %+v", c.token, got)
		}
	}
}
