// Package contract holds the names that gateways and workers exchange over
// NATS: subjects, headers, frame kinds and WebSocket close codes. CONTRACT.md
// at the root of this module is the prose version; keep the two in step.
package contract

// Subjects. Every client-derived token that goes into a subject is validated
// first (see ValidRoom), so a client can never inject '.', '*' or '>'.
const (
	// EchoSubject is the request subject of the echo worker.
	EchoSubject = "wsgw.echo"
	// AuthSubject is the request subject of the auth worker.
	AuthSubject = "wsgw.auth"
	// RoomSubject is the base of a room route: frames go to RoomIn(room) as
	// requests; the room worker answers with what the sender's gateway
	// publishes on RoomOut(room).
	RoomSubject = "wsgw.room"
	// GatewayPrefix is the base of each gateway's inbox:
	// wsgw.gw.<gateway>.<conn> (pushes) and wsgw.gw.<gateway>.<conn>.<seq>
	// (replies to frame <seq> of that connection).
	GatewayPrefix = "wsgw.gw"
)

// RoomIn is the subject a member's frame is sent to, as a request.
func RoomIn(base, room string) string { return base + ".in." + room }

// RoomOut is the subject a room's broadcasts are published on.
func RoomOut(base, room string) string { return base + ".out." + room }

// RoomInWildcard is what a room worker subscribes to.
func RoomInWildcard(base string) string { return base + ".in.*" }

// Headers. NATS headers are case-sensitive: use these exact spellings.
const (
	// HeaderConn is the gateway-local connection id of the client.
	HeaderConn = "Wsgw-Conn"
	// HeaderGateway is the id of the gateway holding the connection.
	HeaderGateway = "Wsgw-Gateway"
	// HeaderUser is the authenticated user id; absent for anonymous clients.
	// Only gateways set it: a client cannot.
	HeaderUser = "Wsgw-User"
	// HeaderRoom is the room a frame was sent in.
	HeaderRoom = "Wsgw-Room"
	// HeaderFrame says how the body travels as a WebSocket frame: FrameText
	// or FrameBinary. On a reply, its absence means "acknowledged, nothing
	// to send to the client".
	HeaderFrame = "Wsgw-Frame"
	// HeaderClose, on a reply or push, asks the gateway to close the
	// client's socket with this numeric close code (body = reason).
	HeaderClose = "Wsgw-Close"
	// HeaderBroadcast, on a reply to a room frame, asks the sender's gateway
	// to publish the reply's body to the sender's room (any value). The
	// gateway publishes it, so one sender's broadcasts have one publisher
	// and keep their order everywhere, across a NATS cluster too.
	HeaderBroadcast = "Wsgw-Broadcast"
)

// Frame kinds, the values of HeaderFrame.
const (
	FrameText   = "text"
	FrameBinary = "binary"
)

// Close codes the gateway uses (RFC 6455 section 7.4).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001 // gateway shutting down
	CloseProtocolError   = 1002 // a frame RFC 6455 does not allow
	CloseInvalidPayload  = 1007 // text frame that is not UTF-8
	ClosePolicyViolation = 1008 // rate limit, permission refused
	CloseMessageTooBig   = 1009
	CloseInternalError   = 1011
	CloseTryAgainLater   = 1013 // no worker can take the frame
	CloseTokenExpired    = 4001 // the credential expired; reconnect with a fresh one
	CloseRevoked         = 4003 // disconnected through RevokeSubject
	CloseBadRequest      = 4400 // HTTP 400 (bad room name), for clients that asked for refusal codes
	CloseUnauthorized    = 4401 // HTTP 401, likewise
	CloseForbidden       = 4403 // HTTP 403, likewise
	CloseNotFound        = 4404 // HTTP 404, likewise
)

// MaxRoomLen bounds a room name, and so every subject built from one.
const MaxRoomLen = 64

// DefaultRoom is the room of a room route given without a name.
const DefaultRoom = "default"

// ValidRoom reports whether name is 1-64 characters of [A-Za-z0-9_-]. Such a
// name is always a single, literal NATS subject token.
func ValidRoom(name string) bool {
	if len(name) == 0 || len(name) > MaxRoomLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
