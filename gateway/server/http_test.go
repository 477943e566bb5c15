package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawStatus sends one raw HTTP/1.1 request (request line and header lines,
// without the final blank line) and returns the status of the answer.
func rawStatus(t *testing.T, g *gw, head string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(g.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(head + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", head[:min(len(head), 60)], err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// upgradeHead is a WebSocket handshake for path, padded with an X-Pad
// header so that request line and headers (the final CRLF included) are
// exactly size bytes.
func upgradeHead(path string, size int) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if size == 0 {
		return h
	}
	pad := size - len(h) - len("X-Pad: \r\n") - 2
	return h + "X-Pad: " + strings.Repeat("p", pad) + "\r\n"
}

// Request headers over GATEWAY_MAX_HEADER_BYTES get 431, to the byte:
// net/http alone lets about 4 KiB more through. Both above and below the
// 4 KiB that net/http adds.
func TestHeaderLimitToTheByte(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	for _, limit := range []int{16 << 10, 2 << 10, 4096 + 100} {
		g := gateway(t, url, func(c *Config) { c.MaxHeaderBytes = limit })
		if st := rawStatus(t, g, upgradeHead("/ws", limit)); st != http.StatusSwitchingProtocols {
			t.Errorf("limit %d: headers of exactly the limit: %d", limit, st)
		}
		for _, over := range []int{1, 100, 4000} {
			if st := rawStatus(t, g, upgradeHead("/ws", limit+over)); st != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("limit %d: headers %d bytes over: %d", limit, over, st)
			}
		}
	}
}

// Paths are matched as sent: one with an empty, "." or ".." segment is
// never redirected (ServeMux would answer 307 to its cleaned form), it
// matches no route (404) or names a bad room (400).
func TestUncleanPathsAreNotRedirected(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	worker(t, url, "room")
	g := gateway(t, url)
	for path, want := range map[string]int{
		"/ws/../ws":             404,
		"//ws":                  404,
		"/ws/./":                404,
		"/x/../ws":              404,
		"/ws/room/../room/a":    400,
		"/ws/room//lobby":       400,
		"/ws/room/lobby/..":     400,
		"/ws/room/%2E%2E":       400,
		"/ws/room/.%2E/private": 400,
		"/ws/%2E%2E/ws":         404,
		"/ws/room/lobby":        101, // the canonical forms still work
		"/ws":                   101,
	} {
		if st := rawStatus(t, g, upgradeHead(path, 0)); st != want {
			t.Errorf("upgrade %s: %d, want %d", path, st, want)
		}
	}
	// Plain requests too: no redirect to the client module or the probes.
	for _, path := range []string{"/client/../client/wsgate.js", "//readyz", "/./healthz"} {
		if st := rawStatus(t, g, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: gw.test\r\n", path)); st != 404 {
			t.Errorf("GET %s: %d, want 404", path, st)
		}
	}
}

// headerBytes gives the size as sent for headers in the usual form.
func TestHeaderBytes(t *testing.T) {
	for _, raw := range []string{
		upgradeHead("/ws/room/a?x=1", 0) + "Cookie: a=b\r\nCookie: c=d\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: h\r\nX-Empty: \r\n\r\n",
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if got := headerBytes(r); got != len(raw) {
			t.Errorf("headerBytes = %d for %d bytes:\n%s", got, len(raw), raw)
		}
	}
}
