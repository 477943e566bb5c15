package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/shared/natstest"
	"github.com/wsgate/wsgate/worker/auth"
)

func token(t testing.TB, sub string, ttl time.Duration, extra map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "aud": "wsgate", "exp": time.Now().Add(ttl).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTOutcomes(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	g := gateway(t, url)
	u := g.url + "/ws/private"

	ws := dial(t, u, bearer(token(t, "jay", time.Hour, nil)))
	if _, got := read(t, ws); got != "ok" {
		t.Fatalf("valid JWT: first frame %q", got)
	}
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "aud": "wsgate", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("not-the-secret-not-the-secret-xx"))
	for name, tok := range map[string]string{
		"expired":         token(t, "jay", -time.Minute, nil),
		"not yet valid":   token(t, "jay", time.Hour, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}),
		"wrong signature": wrongKey,
		"wrong audience":  token(t, "jay", time.Hour, map[string]any{"aud": "someone-else"}),
	} {
		if st := dialStatus(t, u, bearer(tok)); st != 401 {
			t.Errorf("%s: %d", name, st)
		}
	}
}

// rotatingJWKS serves one RSA key at a time.
type rotatingJWKS struct {
	mu  sync.Mutex
	kid string
	key *rsa.PrivateKey
}

func (j *rotatingJWKS) rotate(kid string) *rsa.PrivateKey {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	j.mu.Lock()
	j.kid, j.key = kid, k
	j.mu.Unlock()
	return k
}

func (j *rotatingJWKS) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b64 := base64.RawURLEncoding.EncodeToString
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": j.kid, "alg": "RS256", "use": "sig",
		"n": b64(j.key.N.Bytes()), "e": b64(big.NewInt(int64(j.key.E)).Bytes()),
	}}})
}

func rs(t testing.TB, k *rsa.PrivateKey, kid, sub string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The identity provider rotates its key while the auth worker runs.
func TestJWKSRotationEndToEnd(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	keys := &rotatingJWKS{}
	k1 := keys.rotate("k1")
	idp := httptest.NewServer(keys)
	defer idp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kf, err := auth.NewJWKS(ctx, idp.URL, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := natsconn.Connect(url, "auth", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	svc, err := auth.Add(nc, auth.NewPolicy(auth.Config{JWT: &auth.Verifier{JWKS: kf}}), "0.0.0-test")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	_ = nc.Flush()
	g := gateway(t, url)
	u := g.url + "/ws/private"

	old := rs(t, k1, "k1", "ann")
	dial(t, u, bearer(old))
	k2 := keys.rotate("k2")
	dial(t, u, bearer(rs(t, k2, "k2", "ann")))
	if st := dialStatus(t, u, bearer(old)); st != 401 {
		t.Fatalf("token of the retired key: %d", st)
	}
}

func TestProtectedRooms(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url)

	if st := dialStatus(t, g.url+"/ws/room/team-red", nil); st != 401 {
		t.Fatalf("protected room without credentials: %d", st)
	}
	blue := token(t, "bo", time.Hour, map[string]any{"rooms": []string{"team-blue"}})
	if st := dialStatus(t, g.url+"/ws/room/team-red", bearer(blue)); st != 403 {
		t.Fatalf("join refused by pattern: %d", st)
	}
	member := dial(t, g.url+"/ws/room/team-blue", bearer(blue))
	send(t, member, websocket.TextMessage, "in")
	if _, got := read(t, member); got != "in" {
		t.Fatalf("got %q", got)
	}
	// Open rooms stay open to anonymous members.
	anon := dial(t, g.url+"/ws/room/lobby", nil)
	send(t, anon, websocket.TextMessage, "hi")
	if _, got := read(t, anon); got != "hi" {
		t.Fatalf("got %q", got)
	}
}

// A listen-only member's frame closes its socket and reaches nobody.
func TestListenOnlyMember(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "room")
	g := gateway(t, url)
	nc := natsConn(t, url)
	in, err := nc.SubscribeSync(contract.RoomInWildcard(contract.RoomSubject))
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()

	speaker := dial(t, g.url+"/ws/room/team-x", bearer(token(t, "sam", time.Hour, map[string]any{"rooms": []string{"team-*"}})))
	listener := dial(t, g.url+"/ws/room/team-x", bearer(token(t, "lee", time.Hour, map[string]any{"rooms": []string{"team-*"}, "publish": []string{}})))
	send(t, listener, websocket.TextMessage, "should not pass")
	if code := closeCode(t, listener, 3*time.Second); code != 1008 {
		t.Fatalf("listen-only publish: close %d", code)
	}
	send(t, speaker, websocket.TextMessage, "speaking")
	if _, got := read(t, speaker); got != "speaking" {
		t.Fatalf("speaker got %q first; the listener's frame leaked", got)
	}
	msg, err := in.NextMsg(2 * time.Second)
	if err != nil || string(msg.Data) != "speaking" {
		t.Fatalf("first frame to reach NATS: %v %v", msg, err)
	}
}

// No socket outlives its credential.
func TestExpiryClosesLiveSocket(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	g := gateway(t, url)
	ws := dial(t, g.url+"/ws/private", bearer(token(t, "eve", 2*time.Second, nil)))
	read(t, ws) // ok
	send(t, ws, websocket.TextMessage, "still valid")
	if _, got := read(t, ws); got != "echo: still valid" {
		t.Fatalf("got %q", got)
	}
	if code := closeCode(t, ws, 5*time.Second); code != contract.CloseTokenExpired {
		t.Fatalf("at expiry: close %d, want %d", code, contract.CloseTokenExpired)
	}
}

// One NATS message disconnects a user on every gateway, or one connection.
func TestRevocation(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	g1, g2 := gateway(t, url), gateway(t, url)
	nc := natsConn(t, url)
	seen, _ := nc.SubscribeSync(contract.EchoSubject)
	_ = nc.Flush()

	a1 := dial(t, g1.url+"/ws/private", bearer("secret"))
	a2 := dial(t, g2.url+"/ws/private", bearer("secret"))
	bob := dial(t, g1.url+"/ws/private", bearer(token(t, "bob", time.Hour, nil)))
	for _, ws := range []*websocket.Conn{a1, a2, bob} {
		read(t, ws)
	}
	body, _ := json.Marshal(contract.RevokeRequest{User: "alice", Reason: "account locked"})
	if err := nc.Publish(contract.RevokeSubject, body); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*websocket.Conn{a1, a2} {
		_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, _, err := ws.ReadMessage()
		ce, ok := err.(*websocket.CloseError)
		if !ok || ce.Code != contract.CloseRevoked || ce.Text != "account locked" {
			t.Fatalf("alice after revocation: %v", err)
		}
	}
	send(t, bob, websocket.TextMessage, "me?")
	if _, got := read(t, bob); got != "echo: me?" {
		t.Fatalf("bob: %q", got)
	}

	// A single connection, by the ids every frame carries.
	var m *nats.Msg
	for {
		var err error
		if m, err = seen.NextMsg(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(contract.HeaderUser) == "bob" {
			break
		}
	}
	body, _ = json.Marshal(contract.RevokeRequest{Gateway: m.Header.Get(contract.HeaderGateway), Conn: m.Header.Get(contract.HeaderConn)})
	_ = nc.Publish(contract.RevokeSubject, body)
	if code := closeCode(t, bob, 3*time.Second); code != contract.CloseRevoked {
		t.Fatalf("bob's connection: close %d", code)
	}
}

func TestBrowserCredentialsAndNoTokenInLogs(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	worker(t, url, "echo")
	var logs natstest.LogBuffer
	tok := token(t, "cookie-user", time.Hour, nil)
	g := gateway(t, url, func(c *Config) { c.AuthQueryParam = "access_token" })
	g.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ck := http.Header{"Cookie": {"wsgw_token=" + tok}}
	ws := dial(t, g.url+"/ws/private", ck)
	if _, got := read(t, ws); got != "ok" {
		t.Fatalf("cookie: %q", got)
	}
	dial(t, g.url+"/ws/private?access_token="+tok, nil)
	if st := dialStatus(t, g.url+"/ws/private?access_token=bad."+tok, nil); st != 401 {
		t.Fatalf("bad query token: %d", st)
	}
	d := gateway(t, url) // query tokens are off by default
	if st := dialStatus(t, d.url+"/ws/private?access_token="+tok, nil); st != 401 {
		t.Fatalf("query token where not configured: %d", st)
	}
	ws.Close()
	eventually(t, 3*time.Second, "close logged", func() bool { return strings.Contains(logs.String(), "connection closed") })
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), tok[len(tok)-20:]) {
		t.Fatalf("a token reached the logs:\n%s", logs.String())
	}
}

// An auth worker that answers with a user id able to forge headers is no
// decision at all.
func TestForgedUserFromAuthIsRefused(t *testing.T) {
	_, url := startNATS(t)
	nc := natsConn(t, url)
	sub, _ := nc.Subscribe(contract.AuthSubject, func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"status":200,"user":"eve\r\nWsgw-User: root"}`))
	})
	defer sub.Unsubscribe()
	_ = nc.Flush()
	g := gateway(t, url)
	if st := dialStatus(t, g.url+"/ws/private", bearer("x")); st != 503 {
		t.Fatalf("forged user id: %d", st)
	}
}

// Browsers cannot see a refused handshake's HTTP status: a client that asks
// for it gets the refusal as a close code; everyone else keeps HTTP.
func TestRefusalAsCloseCode(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "auth")
	g := gateway(t, url)
	refusedAt := func(path string, protos ...string) int {
		d := websocket.Dialer{Subprotocols: protos}
		ws, _, err := d.Dial(g.url+path, nil)
		if err != nil {
			t.Fatalf("refusal with %v was not an upgrade: %v", protos, err)
		}
		defer ws.Close()
		// The client can tell at open that this upgrade is a refusal.
		if ws.Subprotocol() != RefusalSubprotocol {
			t.Fatalf("refusal with %v selected %q", protos, ws.Subprotocol())
		}
		return closeCode(t, ws, 3*time.Second)
	}
	refused := func(protos ...string) int { return refusedAt("/ws/private", protos...) }
	// An accepted socket never selects it.
	d := websocket.Dialer{Subprotocols: []string{"wsgw", RefusalSubprotocol, "bearer.secret"}}
	ok, _, err := d.Dial(g.url+"/ws/private", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok.Subprotocol() != "wsgw" {
		t.Fatalf("accepted socket selected %q", ok.Subprotocol())
	}
	ok.Close()
	if code := refusedAt("/ws/room/a.b", RefusalSubprotocol); code != contract.CloseBadRequest {
		t.Fatalf("bad room: %d", code)
	}
	if code := refusedAt("/nowhere", RefusalSubprotocol); code != contract.CloseNotFound {
		t.Fatalf("no route: %d", code)
	}
	if code := refused("wsgw", RefusalSubprotocol, "bearer.wrong"); code != contract.CloseUnauthorized {
		t.Fatalf("bad token: %d", code)
	}
	if code := refused("wsgw", RefusalSubprotocol, "bearer.banned-token"); code != contract.CloseForbidden {
		t.Fatalf("refused user: %d", code)
	}
	// Without the opt-in: HTTP, as before.
	if st := dialStatus(t, g.url+"/ws/private", http.Header{"Sec-WebSocket-Protocol": {"wsgw, bearer.wrong"}}); st != 401 {
		t.Fatalf("without opt-in: %d", st)
	}
	// Origin refusals are never upgraded.
	hdr := http.Header{"Origin": {"https://evil.example"}, "Sec-WebSocket-Protocol": {RefusalSubprotocol}}
	if st := dialStatus(t, g.url+"/ws/private", hdr); st != 403 {
		t.Fatalf("foreign origin: %d", st)
	}
}
