package contract

import (
	"unicode"
	"unicode/utf8"
)

// AuthRequest is the JSON body the gateway sends to AuthSubject before it
// accepts a WebSocket on a route that asks for authentication. It carries
// what a decision may need; fields may be added, so ignore unknown ones.
type AuthRequest struct {
	// Route is the path of the route, e.g. "/ws/private" or "/ws/room".
	Route string `json:"route"`
	// Path is the request path (validated).
	Path string `json:"path"`
	// Room is set on room routes.
	Room string `json:"room,omitempty"`
	// Required is true when the route admits no anonymous client; false
	// when the auth worker decides (e.g. only protected rooms need one).
	Required bool `json:"required"`
	// Token is the credential the client presented; empty when none.
	Token string `json:"token,omitempty"`
	// TokenSource is where it came from: "header", "subprotocol", "cookie"
	// or "query".
	TokenSource string `json:"token_source,omitempty"`
	// Origin is the request's Origin header, when present.
	Origin string `json:"origin,omitempty"`
	// RemoteAddr is the client's IP address (behind trusted proxies, the
	// one they forwarded).
	RemoteAddr string `json:"remote_addr"`
	// Subprotocols are the subprotocols the client offered, credentials
	// removed.
	Subprotocols []string `json:"subprotocols,omitempty"`
	// Headers are the request headers minus credentials and the WebSocket
	// handshake's own (Authorization, Cookie, Sec-WebSocket-*, Connection,
	// Upgrade). Names are in canonical form.
	Headers map[string][]string `json:"headers,omitempty"`
	// Cookies are the request's cookies by name, minus the token cookie.
	Cookies map[string]string `json:"cookies,omitempty"`
}

// AuthResponse is the JSON reply of the auth worker.
type AuthResponse struct {
	// Status is 200 to accept, 401 for missing or unknown credentials,
	// 403 for known credentials that are not allowed. Anything else, or a
	// reply that does not parse, counts as no decision: the gateway fails
	// closed with 503.
	Status int `json:"status"`
	// User is the user id of an accepted identity; empty for an anonymous
	// client. It must pass ValidUser.
	User string `json:"user,omitempty"`
	// Publish, when false, makes the client listen-only in its room: its
	// first frame closes the socket with ClosePolicyViolation. Absent
	// means true.
	Publish *bool `json:"publish,omitempty"`
	// ExpiresAt is when the credential expires, in Unix seconds; the
	// gateway closes the socket then with CloseTokenExpired. 0: never.
	ExpiresAt int64 `json:"expires_at,omitempty"`
	// Reason is a short human-readable explanation, for logs.
	Reason string `json:"reason,omitempty"`
}

// MayPublish reads Publish with its default.
func (r AuthResponse) MayPublish() bool { return r.Publish == nil || *r.Publish }

// Auth statuses.
const (
	AuthOK           = 200
	AuthUnauthorized = 401
	AuthForbidden    = 403
)

// RevokeSubject is where anyone with the right to publish there disconnects
// a user or one connection on every gateway. Body: RevokeRequest as JSON.
const RevokeSubject = "wsgw.revoke"

// RevokeRequest names what to disconnect: every connection of User, or the
// connection Conn of gateway Gateway. Reason goes into the close frame.
type RevokeRequest struct {
	User    string `json:"user,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	Conn    string `json:"conn,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// MaxUserLen bounds a user id.
const MaxUserLen = 256

// ValidUser reports whether id reaches workers and revocation byte for
// byte: 1-256 bytes of valid UTF-8 (JSON, which carries revocations, cannot
// carry anything else), no control characters (a CR or LF would let it
// forge other headers), and no white space at either end, which NATS
// client libraries trim from header values (nats.go the leading, others
// both ends, some all Unicode white space and U+FEFF).
func ValidUser(id string) bool {
	if len(id) == 0 || len(id) > MaxUserLen || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(id)
	last, _ := utf8.DecodeLastRuneInString(id)
	return !trimmed(first) && !trimmed(last)
}

// trimmed is what a header parser may take off the ends of a value.
func trimmed(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// The auth worker publishes the room patterns that need an identity
// (AUTH_PROTECTED_ROOMS) in a JetStream key-value bucket, so gateways know,
// even while no auth worker runs, which rooms they may open to anonymous
// clients without asking. Value: a JSON array of patterns ('*' wildcard).
const (
	PolicyBucket       = "wsgw_policy"
	PolicyProtectedKey = "protected_rooms"
)
