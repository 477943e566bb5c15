package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/auth"
	"github.com/wsgate/wsgate/shared/contract"
)

// fakeAuth is a hostile or buggy auth worker: it answers each request with
// answer(token), as raw JSON. It counts the requests it got.
func fakeAuth(t *testing.T, url string, answer func(token string) string) *atomic.Int64 {
	t.Helper()
	var asked atomic.Int64
	nc := natsConn(t, url)
	if _, err := nc.Subscribe(contract.AuthSubject, func(m *nats.Msg) {
		asked.Add(1)
		var req contract.AuthRequest
		_ = json.Unmarshal(m.Data, &req)
		_ = m.Respond([]byte(answer(req.Token)))
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &asked
}

// A credential over the size the gateway accepts is refused with 401, not
// skipped in favour of the next source (here a valid cookie) or anonymity;
// on an auth "none" route credentials are ignored, oversized ones too.
func TestOversizedCredentialRefused(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	worker(t, url, "room")
	g := gateway(t, url)
	huge := strings.Repeat("x", auth.MaxTokenBytes+1)
	cookie := "wsgw_token=secret"

	for name, hdr := range map[string]http.Header{
		"header":      {"Authorization": {"Bearer " + huge}, "Cookie": {cookie}},
		"subprotocol": {"Sec-WebSocket-Protocol": {"wsgw, bearer." + huge}, "Cookie": {cookie}},
	} {
		ws, resp, err := websocket.DefaultDialer.Dial(g.url+"/ws/private", hdr)
		if err == nil {
			ws.Close()
			t.Fatalf("%s: an oversized credential was skipped for the cookie", name)
		}
		if resp == nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %v %v", name, err, resp)
		}
	}
	// An optional route does not let it pass as anonymous either.
	if st := dialStatus(t, g.url+"/ws/room/lobby", bearer(huge)); st != 401 {
		t.Fatalf("open room with an oversized credential: %d", st)
	}
	// The largest accepted size still reaches the auth worker (which does
	// not know it: 401 from the worker, and the cookie is not consulted).
	if st := dialStatus(t, g.url+"/ws/private", http.Header{"Authorization": {"Bearer " + huge[1:]}, "Cookie": {cookie}}); st != 401 {
		t.Fatalf("largest credential: %d", st)
	}
	dial(t, g.url+"/ws/private", http.Header{"Cookie": {cookie}})
	// Auth "none" (/ws): ignored.
	ws := dial(t, g.url+"/ws", bearer(huge))
	send(t, ws, websocket.TextMessage, "x")
	if _, got := read(t, ws); got != "echo: x" {
		t.Fatalf("none route: %q", got)
	}
}

// A user id reaches workers and revocation byte for byte, or the answer
// that carries it is no decision (503): NATS client libraries trim white
// space off header values, so "  alice" would reach workers as "alice" and
// escape a revocation of "  alice".
func TestUserIDExactOrRefused(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	users := map[string]string{
		"lead":   "  alice",
		"trail":  "alice ",
		"nbsp":   "\u00a0alice",
		"bom":    "\ufeffalice",
		"nel":    "ali\u0085ce",
		"inner":  "a  b ü:é",
		"plain":  "alice",
		"badutf": "\xffalice",
	}
	fakeAuth(t, url, func(tok string) string {
		b, _ := json.Marshal(map[string]any{"status": 200, "user": users[tok]})
		if tok == "badutf" {
			return "{\"status\":200,\"user\":\"\xffalice\"}"
		}
		return string(b)
	})
	g := gateway(t, url)
	for _, tok := range []string{"lead", "trail", "nbsp", "bom", "nel"} {
		if st := dialStatus(t, g.url+"/ws/private", bearer(tok)); st != 503 {
			t.Errorf("user %q: %d, want 503", users[tok], st)
		}
	}

	nc := natsConn(t, url)
	seen, err := nc.SubscribeSync(contract.EchoSubject)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	for _, tok := range []string{"inner", "plain"} {
		ws := dial(t, g.url+"/ws/private", bearer(tok))
		read(t, ws) // welcome
		send(t, ws, websocket.TextMessage, tok)
		read(t, ws)
		m, err := seen.NextMsg(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get(contract.HeaderUser); got != users[tok] {
			t.Fatalf("worker saw user %q, want %q", got, users[tok])
		}
		body, _ := json.Marshal(contract.RevokeRequest{User: users[tok]})
		if err := nc.Publish(contract.RevokeSubject, body); err != nil {
			t.Fatal(err)
		}
		if code := closeCode(t, ws, 3*time.Second); code != contract.CloseRevoked {
			t.Fatalf("revoking %q: close %d", users[tok], code)
		}
	}
	// JSON decoding already made "\xff" U+FFFD: a user id, exact from here on.
	dial(t, g.url+"/ws/private", bearer("badutf"))
}

// An auth answer of 200 without a user admits nobody on a route whose auth
// is "required": the client gets 401, as any anonymous client there. On an
// "optional" route it is an anonymous admission, as documented.
func TestAnonymousAnswerOnRequiredRoute(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	worker(t, url, "room")
	fakeAuth(t, url, func(string) string { return `{"status":200}` })
	g := gateway(t, url)
	for _, hdr := range []http.Header{bearer("anything"), nil} {
		ws, resp, err := websocket.DefaultDialer.Dial(g.url+"/ws/private", hdr)
		if err == nil {
			ws.Close()
			t.Fatal("anonymous client admitted on a required route")
		}
		if resp == nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("required route: %v %v", err, resp)
		}
	}
	ws := dial(t, g.url+"/ws/room/lobby", bearer("anything"))
	send(t, ws, websocket.TextMessage, "hi")
	if _, got := read(t, ws); got != "hi" {
		t.Fatalf("optional route: %q", got)
	}
}

// On a route with auth "none" credentials are ignored: no auth worker is
// asked, none is forwarded, and the client is anonymous, whatever it
// presented (valid, invalid or oversized).
func TestNoneRouteIgnoresCredentials(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	asked := fakeAuth(t, url, func(string) string { return `{"status":401}` })
	g := gateway(t, url)
	nc := natsConn(t, url)
	seen, err := nc.SubscribeSync(contract.EchoSubject)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	for _, hdr := range []http.Header{
		bearer("secret"),
		{"Sec-WebSocket-Protocol": {"wsgw, bearer.secret"}, "Cookie": {"wsgw_token=secret"}},
	} {
		ws := dial(t, g.url+"/ws", hdr)
		send(t, ws, websocket.BinaryMessage, "x")
		read(t, ws)
		m, err := seen.NextMsg(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if u, ok := m.Header[contract.HeaderUser]; ok {
			t.Fatalf("anonymous frame carries user %q", u)
		}
		if strings.Contains(string(m.Data), "secret") {
			t.Fatal("credential forwarded")
		}
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("auth worker asked %d times on an auth none route", n)
	}
}

// An expires_at past what Go's time holds (2^63-1 is a common "never") is
// never, not a credential that expired in the past (401).
func TestFarExpiryIsNever(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	fakeAuth(t, url, func(tok string) string { return `{"status":200,"user":"u","expires_at":` + tok + `}` })
	g := gateway(t, url)
	for _, at := range []string{"9223372036854775807", "253402300800", "-1"} {
		ws := dial(t, g.url+"/ws/private", bearer(at))
		read(t, ws) // welcome
		send(t, ws, websocket.TextMessage, at)
		if _, got := read(t, ws); got != "echo: "+at {
			t.Fatalf("expires_at %s: %q", at, got)
		}
	}
}
