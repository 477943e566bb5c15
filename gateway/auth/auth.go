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
// one credential a browser's WebSocket constructor can carry:
// new WebSocket(url, ["wsgw", "bearer." + token]).
const SubprotocolPrefix = "bearer."

// MaxTokenBytes bounds a credential. A longer one is refused (401), never
// skipped in favour of the next source.
const MaxTokenBytes = 8 << 10

// Extractor knows where credentials may be.
type Extractor struct {
	Cookie     string // cookie holding a token (GATEWAY_AUTH_COOKIE); "" disables
	QueryParam string // query parameter holding a token (GATEWAY_AUTH_QUERY_PARAM); "" disables
}

// Credentials are what Extract found in a handshake.
type Credentials struct {
	Token  string
	Source string // "header", "subprotocol", "cookie", "query" or ""
	// Oversized is true when the credential found (at Source) is longer
	// than MaxTokenBytes; Token is then empty.
	Oversized bool
	// Offered are the subprotocols offered, credentials removed.
	Offered []string
	// Subprotocol is the one the gateway answers with: the first offered
	// that is not a credential, or "" if there is none.
	Subprotocol string
}

// Extract looks, in order, at Authorization: Bearer, the subprotocol offer,
// the cookie and the query parameter; the first non-empty one wins, also
// when it is too long (Oversized): a client presents one credential, and
// the gateway judges that one, never a fallback.
func (e Extractor) Extract(r *http.Request) Credentials {
	var c Credentials
	var fromProto string
	for _, line := range r.Header.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(line, ",") {
			p = strings.TrimSpace(p)
			if tok, ok := strings.CutPrefix(p, SubprotocolPrefix); ok {
				if fromProto == "" {
					fromProto = tok
				}
				continue
			}
			if p != "" {
				c.Offered = append(c.Offered, p)
			}
		}
	}
	if len(c.Offered) > 0 {
		c.Subprotocol = c.Offered[0]
	}
	try := func(tok, src string) {
		switch {
		case c.Source != "" || tok == "":
		case len(tok) > MaxTokenBytes:
			c.Source, c.Oversized = src, true
		default:
			c.Token, c.Source = tok, src
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			try(strings.TrimSpace(tok), "header")
		}
	}
	try(fromProto, "subprotocol")
	if e.Cookie != "" {
		if ck, err := r.Cookie(e.Cookie); err == nil {
			try(ck.Value, "cookie")
		}
	}
	if e.QueryParam != "" {
		try(r.URL.Query().Get(e.QueryParam), "query")
	}
	return c
}

// handshakeHeaders are not passed to the auth worker: credentials, and the
// WebSocket handshake's own mechanics.
var handshakeHeaders = map[string]bool{
	"Authorization": true, "Cookie": true, "Connection": true, "Upgrade": true,
	"Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true,
}

// Context fills the request context an auth decision may use: headers and
// cookies, credentials removed.
func (e Extractor) Context(r *http.Request, req *contract.AuthRequest) {
	for name, v := range r.Header {
		if handshakeHeaders[name] {
			continue
		}
		if req.Headers == nil {
			req.Headers = map[string][]string{}
		}
		req.Headers[name] = v
	}
	for _, ck := range r.Cookies() {
		if ck.Name == e.Cookie {
			continue
		}
		if req.Cookies == nil {
			req.Cookies = map[string]string{}
		}
		req.Cookies[ck.Name] = ck.Value
	}
}

// ErrUnavailable means no decision could be had: fail closed.
var ErrUnavailable = errors.New("auth worker unavailable")

// Ask sends req to the auth worker and waits at most timeout. A reply that
// is not a well-formed decision counts as no decision.
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
	case contract.AuthOK:
		if resp.User != "" && !contract.ValidUser(resp.User) {
			return contract.AuthResponse{}, errors.Join(ErrUnavailable, errors.New("auth reply with an unusable user id"))
		}
		return resp, nil
	case contract.AuthUnauthorized, contract.AuthForbidden:
		return resp, nil
	}
	return contract.AuthResponse{}, errors.Join(ErrUnavailable, errors.New("auth reply with unknown status"))
}
