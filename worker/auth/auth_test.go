package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/contract"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hs(t testing.TB, c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, "", c) }

func claimsFor(sub string, extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func TestParseTokens(t *testing.T) {
	got, err := ParseTokens(" a:alice , b:bob ,")
	if err != nil || got["a"] != "alice" || got["b"] != "bob" || len(got) != 2 {
		t.Fatalf("pairs: %v %v", got, err)
	}
	for _, bad := range []string{"a", "a:", ":b", "a:alice,b"} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	p := Patterns{"team-*", "exact", "*-public", "a*b*c"}
	for _, ok := range []string{"team-", "team-x", "exact", "x-public", "abc", "aXbYc", "abbbc"} {
		if !p.Match(ok) {
			t.Errorf("%q should match", ok)
		}
	}
	for _, no := range []string{"team", "exactly", "public", "ab", "acb", "Team-x"} {
		if p.Match(no) {
			t.Errorf("%q should not match", no)
		}
	}
	if !(Patterns{"*"}).Match("anything") || (Patterns{}).Match("x") {
		t.Fatal("* and empty")
	}
}

func policy(v *Verifier) *Policy {
	return NewPolicy(Config{
		Tokens:    map[string]string{"static": "svc", "bad": "mallory"},
		Denied:    []string{"mallory", "banned"},
		JWT:       v,
		Protected: ParsePatterns("team-*, vip"),
	})
}

func TestDecideHS256(t *testing.T) {
	p := policy(&Verifier{Secret: secret, Audience: "wsgate", Issuer: "https://idp.example"})
	base := map[string]any{"aud": "wsgate", "iss": "https://idp.example"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	good := hs(t, claimsFor("alice", with(map[string]any{"rooms": []string{"team-a*"}})))
	cases := []struct {
		name   string
		req    contract.AuthRequest
		status int
		user   string
	}{
		{"valid", contract.AuthRequest{Token: good, Required: true}, 200, "alice"},
		{"expired", contract.AuthRequest{Token: hs(t, jwt.MapClaims{"sub": "a", "aud": "wsgate", "iss": "https://idp.example", "exp": time.Now().Add(-time.Minute).Unix()})}, 401, ""},
		{"not yet valid", contract.AuthRequest{Token: hs(t, claimsFor("a", with(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})))}, 401, ""},
		{"wrong signature", contract.AuthRequest{Token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", claimsFor("a", base))}, 401, ""},
		{"wrong audience", contract.AuthRequest{Token: hs(t, claimsFor("a", with(map[string]any{"aud": "other"})))}, 401, ""},
		{"wrong issuer", contract.AuthRequest{Token: hs(t, claimsFor("a", with(map[string]any{"iss": "https://evil"})))}, 401, ""},
		{"no exp: never expires", contract.AuthRequest{Token: hs(t, jwt.MapClaims{"sub": "a", "aud": "wsgate", "iss": "https://idp.example"})}, 200, "a"},
		{"no sub", contract.AuthRequest{Token: hs(t, jwt.MapClaims{"aud": "wsgate", "iss": "https://idp.example", "exp": time.Now().Add(time.Hour).Unix()})}, 401, ""},
		{"sub with CRLF", contract.AuthRequest{Token: hs(t, claimsFor("a\r\nWsgw-User: root", base))}, 401, ""},
		{"alg none", contract.AuthRequest{Token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claimsFor("a", base))}, 401, ""},
		{"denied user", contract.AuthRequest{Token: hs(t, claimsFor("banned", base))}, 403, ""},
		{"no token, required", contract.AuthRequest{Required: true}, 401, ""},
		{"no token, open room", contract.AuthRequest{Room: "lobby"}, 200, ""},
		{"no token, protected room", contract.AuthRequest{Room: "team-a1"}, 401, ""},
		{"room allowed by pattern", contract.AuthRequest{Token: good, Room: "team-a1"}, 200, "alice"},
		{"room refused by pattern", contract.AuthRequest{Token: good, Room: "team-b1"}, 403, ""},
		{"protected, exact name", contract.AuthRequest{Token: good, Room: "vip"}, 403, ""},
		{"static token", contract.AuthRequest{Token: "static", Room: "vip"}, 200, "svc"},
		{"static token denied", contract.AuthRequest{Token: "bad"}, 403, ""},
		{"unknown token", contract.AuthRequest{Token: "nope", Room: "lobby"}, 401, ""},
	}
	for _, c := range cases {
		got := p.Decide(c.req)
		if got.Status != c.status || got.User != c.user {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
	if got := p.Decide(contract.AuthRequest{Token: good}); got.ExpiresAt < time.Now().Add(59*time.Minute).Unix() {
		t.Errorf("expires_at %d", got.ExpiresAt)
	}
}

func TestPublishPermission(t *testing.T) {
	p := policy(&Verifier{Secret: secret})
	listen := hs(t, claimsFor("lee", map[string]any{"rooms": []string{"team-*"}, "publish": []string{}}))
	speaker := hs(t, claimsFor("sam", map[string]any{"rooms": []string{"team-*"}}))
	narrow := hs(t, claimsFor("nia", map[string]any{"rooms": []string{"team-*"}, "publish": []string{"team-x"}}))
	cases := []struct {
		tok, room string
		publish   bool
	}{
		{listen, "team-x", false},
		{listen, "lobby", false}, // an explicit publish claim holds in open rooms too
		{speaker, "team-x", true},
		{speaker, "lobby", true}, // open room, no publish claim: like anyone else
		{narrow, "team-x", true},
		{narrow, "team-y", false},
		{"", "lobby", true},
	}
	for _, c := range cases {
		got := p.Decide(contract.AuthRequest{Token: c.tok, Room: c.room})
		if got.Status != 200 || got.MayPublish() != c.publish {
			t.Errorf("%s in %s: %+v", c.tok[:min(10, len(c.tok))], c.room, got)
		}
	}
}

// jwks serves a key set that a test can rotate.
type jwks struct {
	mu   sync.Mutex
	keys []map[string]string
}

func (j *jwks) set(keys ...map[string]string) { j.mu.Lock(); j.keys = keys; j.mu.Unlock() }

func (j *jwks) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	pub, _ := k.PublicKey.ECDH()
	raw := pub.Bytes() // 0x04 || X || Y
	return map[string]string{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

func edJWK(kid string, k ed25519.PrivateKey) map[string]string {
	return map[string]string{"kty": "OKP", "kid": kid, "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64(k.Public().(ed25519.PublicKey))}
}

// A key rotated at the identity provider while the worker runs: tokens of
// the new key are accepted at once, tokens of the removed key no longer.
func TestJWKSRotation(t *testing.T) {
	rsaA, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaB, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecK, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edK, _ := ed25519.GenerateKey(rand.Reader)
	set := &jwks{}
	set.set(rsaJWK("a", rsaA), ecJWK("ec", ecK), edJWK("ed", edK))
	srv := httptest.NewServer(set)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kf, err := NewJWKS(ctx, srv.URL, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := policy(&Verifier{JWKS: kf})
	decide := func(tok string) int { return p.Decide(contract.AuthRequest{Token: tok, Required: true}).Status }

	byA := sign(t, jwt.SigningMethodRS256, rsaA, "a", claimsFor("alice", nil))
	if st := decide(byA); st != 200 {
		t.Fatalf("RS256 key a: %d", st)
	}
	if st := decide(sign(t, jwt.SigningMethodES256, ecK, "ec", claimsFor("eve", nil))); st != 200 {
		t.Fatalf("ES256: %d", st)
	}
	if st := decide(sign(t, jwt.SigningMethodEdDSA, edK, "ed", claimsFor("ed", nil))); st != 200 {
		t.Fatalf("EdDSA: %d", st)
	}
	if st := decide(hs(t, claimsFor("h", nil))); st != 401 {
		t.Fatalf("HS256 without a secret: %d", st)
	}
	// An RS256 token whose kid names the EC key must not verify.
	if st := decide(sign(t, jwt.SigningMethodRS256, rsaA, "ec", claimsFor("x", nil))); st != 401 {
		t.Fatalf("kid/alg mismatch: %d", st)
	}

	set.set(rsaJWK("b", rsaB)) // rotate: a is gone, b is new
	if st := decide(sign(t, jwt.SigningMethodRS256, rsaB, "b", claimsFor("bob", nil))); st != 200 {
		t.Fatalf("RS256 key b after rotation: %d", st)
	}
	if st := decide(byA); st != 401 {
		t.Fatalf("token of the removed key: %d", st)
	}
}
