// Package auth is the auth worker: it decides whether a client's credentials
// let it open a socket on a route, before the gateway accepts it.
package auth

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
)

// DefaultToken is accepted, as user DefaultUser, when no tokens are configured.
const (
	DefaultToken = "secret"
	DefaultUser  = "user"
)

// Policy maps static tokens to users. Tokens are kept as SHA-256 digests so
// a lookup's timing says nothing about how much of a guess was right.
type Policy struct {
	users  map[[32]byte]string
	denied map[string]bool
}

// ParseTokens reads "token:user,token:user" (AUTH_TOKENS). An empty spec
// gives the development default, DefaultToken as DefaultUser.
func ParseTokens(spec string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(spec) == "" {
		out[DefaultToken] = DefaultUser
		return out, nil
	}
	for _, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		tok, user, ok := strings.Cut(pair, ":")
		if !ok || tok == "" || user == "" {
			return nil, fmt.Errorf("AUTH_TOKENS: entry %d is not token:user", len(out)+1)
		}
		out[tok] = user
	}
	return out, nil
}

// NewPolicy builds a policy from tokens (token → user) and users that are
// known but refused (403).
func NewPolicy(tokens map[string]string, denied []string) *Policy {
	p := &Policy{users: map[[32]byte]string{}, denied: map[string]bool{}}
	for tok, user := range tokens {
		p.users[sha256.Sum256([]byte(tok))] = user
	}
	for _, u := range denied {
		if u = strings.TrimSpace(u); u != "" {
			p.denied[u] = true
		}
	}
	return p
}

// Decide answers one auth request.
func (p *Policy) Decide(req contract.AuthRequest) contract.AuthResponse {
	if req.Token == "" {
		return contract.AuthResponse{Status: contract.AuthUnauthorized, Reason: "no credentials"}
	}
	user, ok := p.users[sha256.Sum256([]byte(req.Token))]
	if !ok {
		return contract.AuthResponse{Status: contract.AuthUnauthorized, Reason: "unknown credentials"}
	}
	if p.denied[user] {
		return contract.AuthResponse{Status: contract.AuthForbidden, User: user, Reason: "user not allowed"}
	}
	return contract.AuthResponse{Status: contract.AuthOK, User: user}
}

// Add registers the auth service on nc.
func Add(nc *nats.Conn, p *Policy, version string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "auth",
		Version:     version,
		Description: "Decides whether a WebSocket client may connect, before the upgrade",
		QueueGroup:  "auth",
	})
	if err != nil {
		return nil, err
	}
	h := func(req micro.Request) {
		var ar contract.AuthRequest
		if err := json.Unmarshal(req.Data(), &ar); err != nil {
			_ = req.Error("400", "malformed auth request", nil)
			return
		}
		_ = req.RespondJSON(p.Decide(ar))
	}
	return svc, svc.AddEndpoint("authorize", micro.HandlerFunc(h),
		micro.WithEndpointSubject(contract.AuthSubject))
}
