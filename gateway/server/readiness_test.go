package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/shared/natstest"
)

// NATS frozen without a TCP reset (a proxy that stops forwarding, as a
// partition would): /readyz turns 503 within NATS_PROBE_TIMEOUT, new
// upgrades get 503, a /metrics scrape does not wait for NATS, and all is
// back once NATS answers again.
func TestFrozenNATS(t *testing.T) {
	ns, url := startNATS(t)
	worker(t, url, "echo")
	proxy := natstest.NewProxy(t, ns.Addr().String())
	const bound = 500 * time.Millisecond
	g := gateway(t, proxy.URL(), func(c *Config) { c.NATSProbeTimeout = bound })
	admin := httptest.NewServer(g.AdminHandler())
	defer admin.Close()
	// Test timeouts, generous on purpose: before the fix a scrape took 10 s.
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(base, path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "before")
	if _, got := read(t, ws); got != "echo: before" {
		t.Fatalf("got %q", got)
	}
	if code, _ := get(g.ts.URL, "/readyz"); code != 200 {
		t.Fatalf("/readyz before the freeze: %d", code)
	}

	proxy.Freeze()
	frozen := time.Now()
	// Well under the 30-40 s nats.go itself takes to call the connection
	// stale, which is what /readyz waited for before.
	eventually(t, 10*time.Second, "/readyz to turn 503", func() bool { code, _ := get(g.ts.URL, "/readyz"); return code == 503 })
	t.Logf("/readyz 503 %v after the freeze (NATS_PROBE_TIMEOUT %v)", time.Since(frozen).Round(time.Millisecond), bound)
	if code, _ := get(admin.URL, "/readyz"); code != 503 {
		t.Fatalf("admin /readyz while frozen: %d", code)
	}
	code, body := get(admin.URL, "/metrics")
	if code != 200 || !strings.Contains(body, "wsgate_gateway_nats_rtt_seconds -1") {
		t.Fatalf("/metrics while frozen: %d, rtt line %q", code, grepLine(body, "wsgate_gateway_nats_rtt_seconds"))
	}
	if st := dialStatus(t, g.url+"/ws", nil); st != 503 {
		t.Fatalf("upgrade while frozen: %d", st)
	}

	proxy.Thaw()
	eventually(t, 10*time.Second, "/readyz to turn 200", func() bool { code, _ := get(g.ts.URL, "/readyz"); return code == 200 })
	send(t, ws, websocket.TextMessage, "after")
	if _, got := read(t, ws); got != "echo: after" {
		t.Fatalf("after the thaw: %q", got)
	}
	dial(t, g.url+"/ws", nil)
	if _, body := get(admin.URL, "/metrics"); strings.Contains(body, "wsgate_gateway_nats_rtt_seconds -1") {
		t.Fatalf("rtt after the thaw: %q", grepLine(body, "wsgate_gateway_nats_rtt_seconds"))
	}
}

func grepLine(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
