// Package auth is the auth worker: it decides whether a client may open a
// socket on a route (and a room), and what it may do there, before the
// gateway accepts it. The gateway only asks and enforces.
package auth

import (
	"crypto/sha256"
	"strings"

	"github.com/wsgate/wsgate/shared/contract"
)

// Policy is everything a decision depends on.
type Policy struct {
	users     map[[32]byte]string // static tokens, by SHA-256, so lookups leak no timing
	denied    map[string]bool
	jwt       *Verifier
	protected Patterns
}

// Config builds a Policy.
type Config struct {
	Tokens    map[string]string // static token → user (AUTH_TOKENS)
	Denied    []string          // users known but refused (AUTH_DENIED_USERS)
	JWT       *Verifier
	Protected Patterns // rooms that need an identity (AUTH_PROTECTED_ROOMS)
}

// NewPolicy makes a policy from c.
func NewPolicy(c Config) *Policy {
	p := &Policy{users: map[[32]byte]string{}, denied: map[string]bool{}, jwt: c.JWT, protected: c.Protected}
	for tok, user := range c.Tokens {
		p.users[sha256.Sum256([]byte(tok))] = user
	}
	for _, u := range c.Denied {
		if u = strings.TrimSpace(u); u != "" {
			p.denied[u] = true
		}
	}
	return p
}

var everyRoom = Patterns{"*"}

// identify turns a token into an identity; nil with a reason if it is not
// a credential this worker knows.
func (p *Policy) identify(tok string) (*identity, string) {
	if p.jwt.Enabled() && looksLikeJWT(tok) {
		id, err := p.jwt.Verify(tok)
		if err != nil {
			return nil, "invalid token: " + err.Error()
		}
		return id, ""
	}
	if user, ok := p.users[sha256.Sum256([]byte(tok))]; ok {
		// Static tokens are for local runs and trusted tools: every room.
		return &identity{user: user, rooms: everyRoom, publish: everyRoom}, ""
	}
	return nil, "unknown credentials"
}

// Decide answers one auth request.
func (p *Policy) Decide(req contract.AuthRequest) contract.AuthResponse {
	var id *identity
	if req.Token != "" {
		var why string
		if id, why = p.identify(req.Token); id == nil {
			// Bad credentials are refused, never downgraded to anonymous.
			return contract.AuthResponse{Status: contract.AuthUnauthorized, Reason: why}
		}
		if !contract.ValidUser(id.user) {
			return contract.AuthResponse{Status: contract.AuthUnauthorized, Reason: "user id not usable"}
		}
		if p.denied[id.user] {
			return contract.AuthResponse{Status: contract.AuthForbidden, Reason: "user not allowed"}
		}
	}
	protected := req.Room != "" && p.protected.Match(req.Room)
	if id == nil {
		if req.Required || protected {
			return contract.AuthResponse{Status: contract.AuthUnauthorized, Reason: "credentials required"}
		}
		return contract.AuthResponse{Status: contract.AuthOK} // anonymous, may publish
	}
	resp := contract.AuthResponse{Status: contract.AuthOK, User: id.user}
	if !id.expires.IsZero() {
		resp.ExpiresAt = id.expires.Unix()
	}
	if req.Room != "" {
		if protected && !id.rooms.Match(req.Room) {
			return contract.AuthResponse{Status: contract.AuthForbidden, Reason: "room not allowed"}
		}
		// In a protected room the claims say who may publish. An open room
		// lets everyone publish, anonymous members too, unless the token
		// explicitly restricts where its holder may publish.
		pub := true
		if protected || id.explicit {
			pub = id.publish.Match(req.Room)
		}
		resp.Publish = &pub
	}
	return resp
}
