package auth

import (
	"net/http"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	cases := []struct {
		auth, proto         string
		token, source, pick string
	}{
		{"Bearer abc", "", "abc", "header", ""},
		{"bearer   abc ", "", "abc", "header", ""},
		{"Basic abc", "", "", "", ""},
		{"Bearer", "", "", "", ""},
		{"", "wsgw, bearer.tok.with.dots", "tok.with.dots", "subprotocol", "wsgw"},
		{"", "bearer.t1", "t1", "subprotocol", ""},
		{"Bearer h", "bearer.s, chat", "h", "header", "chat"},
		{"", "bearer.", "", "", ""},
		{"Bearer " + strings.Repeat("x", MaxTokenBytes+1), "", "", "", ""},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("GET", "/ws/private", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.proto != "" {
			r.Header.Set("Sec-WebSocket-Protocol", c.proto)
		}
		got := Extract(r)
		if got.Token != c.token || got.Source != c.source || got.Subprotocol != c.pick {
			t.Errorf("Extract(%q, %q) = %+v", c.auth, c.proto, got)
		}
	}
}

// FuzzExtract: never panics, never returns an over-long token, and never
// answers with a subprotocol that carries a credential.
func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc", "wsgw, bearer.abc")
	f.Add("", "bearer.")
	f.Add("Bearer", ",,,")
	f.Fuzz(func(t *testing.T, auth, proto string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{auth}
		r.Header["Sec-Websocket-Protocol"] = []string{proto}
		c := Extract(r)
		if len(c.Token) > MaxTokenBytes {
			t.Fatalf("token of %d bytes", len(c.Token))
		}
		if strings.HasPrefix(c.Subprotocol, SubprotocolPrefix) || strings.Contains(c.Subprotocol, ",") {
			t.Fatalf("answer subprotocol %q", c.Subprotocol)
		}
		if (c.Token == "") != (c.Source == "") {
			t.Fatalf("token %q with source %q", c.Token, c.Source)
		}
	})
}
