package admit

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func req(host, origin string) *http.Request {
	r, _ := http.NewRequest("GET", "http://"+host+"/ws", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	return r
}

func TestOrigins(t *testing.T) {
	o, err := ParseOrigins("https://app.example.com, https://*.example.org,http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host, origin string
		ok           bool
	}{
		{"gw.example.com", "", true},
		{"gw.example.com", "https://gw.example.com", true},
		{"gw.example.com", "https://GW.example.com", true},
		{"gw.example.com", "https://app.example.com", true},
		{"gw.example.com", "http://app.example.com", false},
		{"gw.example.com", "https://a.b.example.org", true},
		{"gw.example.com", "https://example.org", false},
		{"gw.example.com", "https://evilexample.org", false},
		{"gw.example.com", "http://localhost:3000", true},
		{"gw.example.com", "http://localhost:3001", false},
		{"gw.example.com", "https://evil.example", false},
		{"gw.example.com", "null", false},
	}
	for _, c := range cases {
		if got := o.Allow(req(c.host, c.origin)); got != c.ok {
			t.Errorf("host %s origin %q: %v", c.host, c.origin, got)
		}
	}
	def, _ := ParseOrigins("")
	if def.Allow(req("gw", "https://other")) || !def.Allow(req("gw:8080", "http://gw:8080")) {
		t.Fatal("default must allow only the same host")
	}
	for _, bad := range []string{"app.example.com", "ftp://x", "https://x/path", "https://a*.b", "https://*."} {
		if _, err := ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) accepted", bad)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(3, 2)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	if l.Acquire(a) != 0 || l.Acquire(a) != 0 {
		t.Fatal("first two from a")
	}
	if st := l.Acquire(a); st != 429 {
		t.Fatalf("third from a: %d", st)
	}
	if l.Acquire(b) != 0 {
		t.Fatal("first from b")
	}
	if st := l.Acquire(b); st != 503 {
		t.Fatalf("gateway full: %d", st)
	}
	l.Release(a)
	if l.Acquire(b) != 0 || l.Open() != 3 {
		t.Fatal("after release")
	}
}

func TestClientIP(t *testing.T) {
	p, err := ParseProxies("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ remote, xff, want string }{
		{"203.0.113.9:1234", "1.2.3.4", "203.0.113.9"},    // untrusted peer: header ignored
		{"10.1.1.1:1234", "1.2.3.4", "1.2.3.4"},           // trusted proxy
		{"10.1.1.1:1234", "6.6.6.6, 1.2.3.4", "1.2.3.4"},  // right-most untrusted wins
		{"10.1.1.1:1234", "1.2.3.4, 10.2.2.2", "1.2.3.4"}, // proxy chain
		{"192.0.2.1:9", "garbage", "192.0.2.1"},
		{"10.1.1.1:1234", "", "10.1.1.1"},
		{"[::ffff:203.0.113.9]:80", "", "203.0.113.9"},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := p.ClientIP(r).String(); got != c.want {
			t.Errorf("%s / %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if _, err := ParseProxies("10.0.0.0/33"); err == nil {
		t.Fatal("bad CIDR accepted")
	}
}

func FuzzOrigin(f *testing.F) {
	o, _ := ParseOrigins("https://app.example.com,https://*.example.org")
	for _, s := range []string{"https://app.example.com", "https://x.example.org", "null", "", "https://example.org.evil", "http://[::1"} {
		f.Add("gw.example.com", s)
	}
	f.Fuzz(func(t *testing.T, host, origin string) {
		r := &http.Request{Host: host, Header: http.Header{"Origin": {origin}}}
		if o.Allow(r) && origin != "" {
			lo := strings.ToLower(origin)
			if !strings.HasSuffix(lo, ".example.org") && !strings.HasSuffix(lo, "app.example.com") && !strings.Contains(lo, strings.ToLower(host)) {
				t.Fatalf("allowed origin %q for host %q", origin, host)
			}
		}
	})
}

func FuzzClientIP(f *testing.F) {
	p, _ := ParseProxies("10.0.0.0/8")
	f.Add("10.0.0.1:80", "1.2.3.4, 10.0.0.2")
	f.Add("1.2.3.4:80", "x")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		a := p.ClientIP(r)
		if a.IsValid() && p.trusted(a) && a != addrOf(remote) {
			t.Fatalf("picked trusted proxy %s from %q", a, xff)
		}
	})
}
