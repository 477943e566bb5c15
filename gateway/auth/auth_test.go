package auth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wsgate/wsgate/shared/contract"
)

func TestExtract(t *testing.T) {
	e := Extractor{Cookie: "wsgw_token", QueryParam: "token"}
	cases := []struct {
		auth, proto, cookie, query string
		token, source, pick        string
	}{
		{"Bearer abc", "", "", "", "abc", "header", ""},
		{"bearer   abc ", "", "", "", "abc", "header", ""},
		{"Basic abc", "", "", "", "", "", ""},
		{"Bearer", "", "", "", "", "", ""},
		{"", "wsgw, bearer.tok.with.dots", "", "", "tok.with.dots", "subprotocol", "wsgw"},
		{"", "bearer.t1", "", "", "t1", "subprotocol", ""},
		{"Bearer h", "bearer.s, chat", "c", "q", "h", "header", "chat"},
		{"", "bearer.", "", "", "", "", ""},
		{"", "", "ck", "q", "ck", "cookie", ""},
		{"", "", "", "q", "q", "query", ""},
		{"Bearer " + strings.Repeat("x", MaxTokenBytes+1), "", "ck", "", "ck", "cookie", ""},
	}
	for _, c := range cases {
		url := "/ws/private"
		if c.query != "" {
			url += "?token=" + c.query
		}
		r, _ := http.NewRequest("GET", url, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.proto != "" {
			r.Header.Set("Sec-WebSocket-Protocol", c.proto)
		}
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: "wsgw_token", Value: c.cookie})
		}
		got := e.Extract(r)
		if got.Token != c.token || got.Source != c.source || got.Subprotocol != c.pick {
			t.Errorf("Extract(%q, %q, %q, %q) = %+v", c.auth, c.proto, c.cookie, c.query, got)
		}
	}
	// Query and cookie only where configured.
	r, _ := http.NewRequest("GET", "/ws?token=q", nil)
	r.AddCookie(&http.Cookie{Name: "wsgw_token", Value: "c"})
	if got := (Extractor{}).Extract(r); got.Token != "" {
		t.Fatalf("unconfigured sources used: %+v", got)
	}
}

func TestContextDropsCredentials(t *testing.T) {
	e := Extractor{Cookie: "wsgw_token"}
	r, _ := http.NewRequest("GET", "/ws", nil)
	r.Header.Set("Authorization", "Bearer x")
	r.Header.Set("Sec-WebSocket-Key", "k")
	r.Header.Set("X-Request-Id", "42")
	r.AddCookie(&http.Cookie{Name: "wsgw_token", Value: "secret"})
	r.AddCookie(&http.Cookie{Name: "session", Value: "s1"})
	var req contract.AuthRequest
	e.Context(r, &req)
	if req.Headers["X-Request-Id"][0] != "42" || req.Headers["Authorization"] != nil || req.Headers["Cookie"] != nil || req.Headers["Sec-Websocket-Key"] != nil {
		t.Fatalf("headers %v", req.Headers)
	}
	if req.Cookies["session"] != "s1" || req.Cookies["wsgw_token"] != "" {
		t.Fatalf("cookies %v", req.Cookies)
	}
}

// FuzzExtract: never panics, never returns an over-long token, and never
// answers with a subprotocol that carries a credential.
func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc", "wsgw, bearer.abc")
	f.Add("", "bearer.")
	f.Add("Bearer", ",,,")
	e := Extractor{Cookie: "wsgw_token", QueryParam: "token"}
	f.Fuzz(func(t *testing.T, auth, proto string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{auth}
		r.Header["Sec-Websocket-Protocol"] = []string{proto}
		r.Header["Cookie"] = []string{proto}
		c := e.Extract(r)
		if len(c.Token) > MaxTokenBytes {
			t.Fatalf("token of %d bytes", len(c.Token))
		}
		if strings.HasPrefix(c.Subprotocol, SubprotocolPrefix) || strings.Contains(c.Subprotocol, ",") {
			t.Fatalf("answer subprotocol %q", c.Subprotocol)
		}
		for _, p := range c.Offered {
			if strings.HasPrefix(p, SubprotocolPrefix) {
				t.Fatalf("credential in offered list: %q", p)
			}
		}
		if (c.Token == "") != (c.Source == "") {
			t.Fatalf("token %q with source %q", c.Token, c.Source)
		}
	})
}
