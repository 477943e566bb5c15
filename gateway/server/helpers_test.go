package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/shared/natstest"
	"github.com/wsgate/wsgate/worker/auth"
	"github.com/wsgate/wsgate/worker/echo"
	"github.com/wsgate/wsgate/worker/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func natsConn(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := natsconn.Connect(url, "test", quiet, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// worker runs one worker role in-process over its own NATS connection, as
// a separate process would. The returned func stops it early.
func worker(t testing.TB, url, role string) (stop func()) {
	t.Helper()
	nc, err := natsconn.Connect(url, "worker-"+role, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var svc micro.Service
	switch role {
	case "echo":
		svc, err = echo.Add(nc, "0.0.0-test")
	case "room":
		svc, err = room.Add(nc, contract.RoomSubject, "0.0.0-test", room.History{})
	case "room-history":
		// History on, as the room worker's defaults have it, but for
		// testHistorySize messages per room.
		h := room.History{Size: testHistorySize, TTL: time.Hour, Replicas: 1, Dedupe: time.Minute}
		if err = h.EnsureStream(context.Background(), nc, contract.RoomSubject); err == nil {
			svc, err = room.Add(nc, contract.RoomSubject, "0.0.0-test", h)
		}
	case "auth":
		p := auth.NewPolicy(testAuthConfig)
		svc, err = auth.Add(nc, p, "0.0.0-test")
		if err == nil {
			err = auth.PublishPolicy(context.Background(), nc, p, 1)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// Make sure the server knows the subscriptions before the test goes on.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = svc.Stop()
			nc.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

type gw struct {
	*Gateway
	url string // ws://host:port
	ts  *httptest.Server
}

func gateway(t testing.TB, natsURL string, mod ...func(*Config)) *gw {
	t.Helper()
	return gatewayLogging(t, natsURL, quiet, mod...)
}

// gatewayLogging is gateway() with a logger of the test's, for a test that
// reads what New logs.
func gatewayLogging(t testing.TB, natsURL string, log *slog.Logger, mod ...func(*Config)) *gw {
	t.Helper()
	cfg := Defaults()
	cfg.NATSURL = natsURL
	cfg.DrainWindow = 0
	for _, m := range mod {
		m(&cfg)
	}
	nc := natsConn(t, natsURL, NATSOptions()...)
	g, err := New(cfg, nc, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	g.ConfigureHTTP(ts.Config)
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
		ts.Close()
	})
	return &gw{Gateway: g, url: "ws" + strings.TrimPrefix(ts.URL, "http"), ts: ts}
}

func startNATS(t testing.TB) (*server.Server, string) {
	s := natstest.Start(t)
	return s, s.ClientURL()
}

// dial connects a WebSocket client; it fails the test if the upgrade fails.
func dial(t testing.TB, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// dialStatus tries an upgrade that should be refused and returns the status.
func dialStatus(t testing.TB, url string, hdr http.Header) int {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err == nil {
		ws.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

func read(t testing.TB, ws *websocket.Conn) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(data)
}

func send(t testing.TB, ws *websocket.Conn, typ int, data string) {
	t.Helper()
	if err := ws.WriteMessage(typ, []byte(data)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closeCode reads until the server closes the socket and returns its code.
func closeCode(t testing.TB, ws *websocket.Conn, within time.Duration) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code
		}
		t.Fatalf("expected a close frame, got %v", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// interest counts the NATS server's subscriptions matching subject.
func interest(t testing.TB, s *server.Server, subject string) int {
	t.Helper()
	sz, err := s.Subsz(&server.SubszOptions{Subscriptions: true, Test: subject})
	if err != nil {
		t.Fatal(err)
	}
	return sz.Total
}

func noRateLimit(c *Config) { c.RatePerSecond = 0 }

// inFlight sets every route's in_flight to n.
func inFlight(n int) func(*Config) {
	return func(c *Config) {
		routes := route.Defaults()
		for i := range routes {
			routes[i].InFlight = n
		}
		tab, err := route.New(routes)
		if err != nil {
			panic(err)
		}
		c.Routes = tab
	}
}

// jwtSecret signs the tests' HS256 tokens.
var jwtSecret = []byte("test-secret-test-secret-test-sec")

// testAuthConfig is the auth worker of the tests: two static tokens (one
// of a refused user), HS256 JWTs, and rooms "team-*" protected.
var testAuthConfig = auth.Config{
	Tokens:    map[string]string{"secret": "alice", "banned-token": "mallory"},
	Denied:    []string{"mallory"},
	JWT:       &auth.Verifier{Secret: jwtSecret, Audience: "wsgate"},
	Protected: auth.Patterns{"team-*"},
}
