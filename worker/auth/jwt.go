package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims are the JWT claims the auth worker reads.
type claims struct {
	jwt.RegisteredClaims
	// Rooms are patterns of rooms the identity may join.
	Rooms []string `json:"rooms,omitempty"`
	// Publish are patterns of rooms it may publish in; absent: Rooms.
	Publish *[]string `json:"publish,omitempty"`
}

// Verifier checks JWTs: HS256 with a shared secret, RS256, ES256 and EdDSA
// with keys from a JWKS.
type Verifier struct {
	Secret   []byte      // AUTH_JWT_SECRET; nil: HS256 is refused
	JWKS     jwt.Keyfunc // from AUTH_JWKS_URL; nil: asymmetric tokens are refused
	Issuer   string      // AUTH_JWT_ISSUER; empty: not checked
	Audience string      // AUTH_JWT_AUDIENCE; empty: not checked
	Leeway   time.Duration
}

// Enabled reports whether any JWT can be verified.
func (v *Verifier) Enabled() bool { return v != nil && (v.Secret != nil || v.JWKS != nil) }

// looksLikeJWT tells a JWT from a static token: three base64url parts.
func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

// identity is a verified credential.
type identity struct {
	user     string
	rooms    Patterns
	publish  Patterns
	explicit bool      // the token carried a publish claim
	expires  time.Time // zero: never
}

// Verify checks the signature, exp and nbf when present, and iss and aud
// when configured. A token without exp never expires: identity providers
// always set one.
func (v *Verifier) Verify(tok string) (*identity, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256", "RS256", "ES256", "EdDSA"}),
		jwt.WithLeeway(v.Leeway),
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, v.key, opts...)
	if err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("token has no sub")
	}
	id := &identity{user: c.Subject, rooms: c.Rooms, publish: c.Rooms}
	if c.Publish != nil {
		id.publish, id.explicit = *c.Publish, true
	}
	if c.ExpiresAt != nil {
		id.expires = c.ExpiresAt.Time
	}
	return id, nil
}

// key picks the verification key by algorithm, so a token cannot make the
// worker use the HS256 secret as a public key or the other way round.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case "HS256":
		if v.Secret == nil {
			return nil, errors.New("HS256 tokens are not accepted (AUTH_JWT_SECRET unset)")
		}
		return v.Secret, nil
	case "RS256", "ES256", "EdDSA":
		if v.JWKS == nil {
			return nil, errors.New("asymmetric tokens are not accepted (AUTH_JWKS_URL unset)")
		}
		return v.JWKS(t)
	}
	return nil, fmt.Errorf("algorithm %s not accepted", t.Method.Alg())
}
