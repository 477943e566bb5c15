// Package auth finds a client's credentials in its handshake and asks the
// auth worker about them before the gateway accepts the socket. The gateway
// makes no decision of its own: it only enforces the worker's.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

// SubprotocolPrefix marks a token offered as a WebSocket subprotocol, the
// one credential a browser's WebSocket can carry: new WebSocket(url,
// ["wsgw", "bearer." + token]).
const SubprotocolPrefix = "bearer."

// MaxTokenBytes bounds a credential; longer ones are refused as unknown.
const MaxTokenBytes = 8 << 10

// Credentials are what Extract found in a handshake.
type Credentials struct {
	Token  string
	Source string // "header", "subprotocol" or ""
	// Subprotocol is the one the gateway answers with: the first offered
	// that is not a credential, or "" if there is none.
	Subprotocol string
}

// Extract reads Authorization: Bearer <token>, then the subprotocol offer.
func Extract(r *http.Request) Credentials {
	var c Credentials
	for _, line := range r.Header.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(line, ",") {
			p = strings.TrimSpace(p)
			if tok, ok := strings.CutPrefix(p, SubprotocolPrefix); ok {
				if c.Token == "" && tok != "" {
					c.Token, c.Source = tok, "subprotocol"
				}
				continue
			}
			if c.Subprotocol == "" && p != "" {
				c.Subprotocol = p
			}
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				c.Token, c.Source = tok, "header"
			}
		}
	}
	if len(c.Token) > MaxTokenBytes {
		c.Token, c.Source = "", ""
	}
	return c
}

// ErrUnavailable means no decision could be had: fail closed.
var ErrUnavailable = errors.New("auth worker unavailable")

// Ask sends req to the auth worker and waits at most timeout.
func Ask(ctx context.Context, nc *nats.Conn, req contract.AuthRequest, timeout time.Duration) (contract.AuthResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return contract.AuthResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, contract.AuthSubject, body)
	if err != nil {
		return contract.AuthResponse{}, errors.Join(ErrUnavailable, err)
	}
	var resp contract.AuthResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return contract.AuthResponse{}, errors.Join(ErrUnavailable, err)
	}
	switch resp.Status {
	case contract.AuthOK, contract.AuthUnauthorized, contract.AuthForbidden:
		return resp, nil
	}
	return contract.AuthResponse{}, errors.Join(ErrUnavailable, errors.New("auth reply with unknown status"))
}
