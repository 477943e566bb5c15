package contract

// AuthRequest is the JSON body the gateway sends to AuthSubject before it
// accepts a WebSocket on a route that needs authentication.
type AuthRequest struct {
	// Route is the path pattern of the route, e.g. "/ws/private".
	Route string `json:"route"`
	// Path is the request path as the client sent it (validated).
	Path string `json:"path"`
	// Room is set on room routes.
	Room string `json:"room,omitempty"`
	// Token is the credential the client presented; empty when none.
	Token string `json:"token,omitempty"`
	// TokenSource says where the token came from: "header" or "subprotocol".
	TokenSource string `json:"token_source,omitempty"`
	// Origin is the request's Origin header, when present.
	Origin string `json:"origin,omitempty"`
	// RemoteAddr is the client's address as the gateway sees it.
	RemoteAddr string `json:"remote_addr"`
}

// AuthResponse is the JSON reply of the auth worker.
type AuthResponse struct {
	// Status is 200 to accept, 401 for missing or unknown credentials,
	// 403 for known credentials that are not allowed. Anything else, or a
	// reply that does not parse, is treated as the worker being unavailable.
	Status int `json:"status"`
	// User is the user id of an accepted identity.
	User string `json:"user,omitempty"`
	// Reason is a short human-readable explanation, for logs.
	Reason string `json:"reason,omitempty"`
}

// Auth statuses.
const (
	AuthOK           = 200
	AuthUnauthorized = 401
	AuthForbidden    = 403
)
