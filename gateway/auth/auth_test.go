package auth

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

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
		// Too long: refused, not skipped for the cookie.
		{"Bearer " + strings.Repeat("x", MaxTokenBytes+1), "", "ck", "", "", "header", ""},
		{"", "bearer." + strings.Repeat("x", MaxTokenBytes+1), "ck", "", "", "subprotocol", ""},
		{"", "", strings.Repeat("x", MaxTokenBytes+1), "q", "", "cookie", ""},
		{"Bearer " + strings.Repeat("x", MaxTokenBytes), "", "ck", "", strings.Repeat("x", MaxTokenBytes), "header", ""},
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
		if got.Token != c.token || got.Source != c.source || got.Subprotocol != c.pick || got.Oversized != (c.source != "" && c.token == "") {
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
		if (c.Token == "" && !c.Oversized) != (c.Source == "") || (c.Oversized && c.Token != "") {
			t.Fatalf("token %q with source %q, oversized %v", c.Token, c.Source, c.Oversized)
		}
	})
}

func TestVerdict(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		resp     contract.AuthResponse
		required bool
		want     int
	}{
		{contract.AuthResponse{Status: 200, User: "a"}, true, 200},
		{contract.AuthResponse{Status: 200}, false, 200},
		{contract.AuthResponse{Status: 200}, true, 401}, // anonymous where an identity is required
		{contract.AuthResponse{Status: 200, User: "a", ExpiresAt: now.Unix()}, false, 401},
		{contract.AuthResponse{Status: 200, User: "a", ExpiresAt: now.Unix() + 1}, false, 200},
		{contract.AuthResponse{Status: 200, User: "a", ExpiresAt: -5}, false, 200},
		{contract.AuthResponse{Status: 200, User: "a", ExpiresAt: math.MaxInt64}, true, 200}, // beyond time.Time: never
		{contract.AuthResponse{Status: 200, User: "a", ExpiresAt: maxExpiresAt + 1}, true, 200},
		{contract.AuthResponse{Status: 403, User: "a"}, true, 403},
		{contract.AuthResponse{Status: 401}, false, 401},
	}
	for i, c := range cases {
		if got, _ := Verdict(c.resp, c.required, now); got != c.want {
			t.Errorf("case %d (%+v, required %v): %d, want %d", i, c.resp, c.required, got, c.want)
		}
	}
	for _, at := range []int64{0, -1, maxExpiresAt + 1, math.MaxInt64} {
		if e := Expiry(contract.AuthResponse{ExpiresAt: at}); !e.IsZero() {
			t.Errorf("Expiry(%d) = %v, want never", at, e)
		}
	}
	if e := Expiry(contract.AuthResponse{ExpiresAt: maxExpiresAt}); e.Year() != 9999 {
		t.Errorf("Expiry(max) = %v", e)
	}
}
