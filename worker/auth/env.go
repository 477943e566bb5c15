package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/wsgate/wsgate/shared/contract"
)

// FromEnv builds the policy from AUTH_* variables. The JWKS, if any, is
// refreshed in the background until ctx ends. dev is true when nothing is
// configured and the development token is in force.
// weak is true when AUTH_JWT_SECRET is shorter than HS256's 32-byte key.
func FromEnv(ctx context.Context) (p *Policy, dev, weak bool, err error) {
	tokens, err := ParseTokens(os.Getenv("AUTH_TOKENS"))
	if err != nil {
		return nil, false, false, err
	}
	v := &Verifier{
		Issuer:   os.Getenv("AUTH_JWT_ISSUER"),
		Audience: os.Getenv("AUTH_JWT_AUDIENCE"),
		Leeway:   5 * time.Second,
	}
	if s := os.Getenv("AUTH_JWT_SECRET"); s != "" {
		v.Secret = []byte(s)
		weak = len(s) < 32
	}
	if u := os.Getenv("AUTH_JWKS_URL"); u != "" {
		every := 5 * time.Minute
		if d := os.Getenv("AUTH_JWKS_REFRESH"); d != "" {
			if every, err = time.ParseDuration(d); err != nil || every <= 0 {
				return nil, false, false, fmt.Errorf("AUTH_JWKS_REFRESH: %q is not a duration", d)
			}
		}
		k, err := NewJWKS(ctx, u, every)
		if err != nil {
			return nil, false, false, err
		}
		v.JWKS = k
	}
	if len(tokens) == 0 && !v.Enabled() {
		tokens[DefaultToken] = DefaultUser
		dev = true
	}
	return NewPolicy(Config{
		Tokens:    tokens,
		Denied:    strings.Split(os.Getenv("AUTH_DENIED_USERS"), ","),
		JWT:       v,
		Protected: ParsePatterns(os.Getenv("AUTH_PROTECTED_ROOMS")),
	}), dev, weak, nil
}

// NewJWKS fetches a JWKS and keeps it fresh: every `every`, and at once
// (at most every 10 s) when a token names a key id it does not know, which
// is how a rotated key is picked up.
func NewJWKS(ctx context.Context, url string, every time.Duration) (jwt.Keyfunc, error) {
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		RefreshInterval:   every,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(10*time.Second), 1),
		RateLimitWaitMax:  500 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("AUTH_JWKS_URL: %w", err)
	}
	return k.Keyfunc, nil
}

// PublishPolicy writes the protected-room patterns to the policy bucket, for
// gateways to read even while no auth worker runs. Every auth instance
// writes the same value: give them all the same AUTH_PROTECTED_ROOMS.
func PublishPolicy(ctx context.Context, nc *nats.Conn, p *Policy, replicas int) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contract.PolicyBucket,
		Description: "wsgate policy: protected room patterns, written by the auth worker",
		History:     1,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return err
	}
	val, _ := json.Marshal(append([]string{}, p.protected...))
	_, err = kv.Put(ctx, contract.PolicyProtectedKey, val)
	return err
}
