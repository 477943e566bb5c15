package roomsproto

import (
	"errors"
	"strconv"
)

// Error codes of the protocol, as `error.code` in a reply. They borrow the
// HTTP numbers a handshake on the raw routes would have got.
const (
	CodeBadRequest   = 400 // not JSON, no or bad id, unknown or several commands, bad room, bad base64
	CodeUnauthorized = 401 // the room needs an identity
	CodeForbidden    = 403 // not allowed to join or to publish there
	CodeNotFound     = 404 // leave or publish in a room not joined
	CodeConflict     = 409 // join of a room already joined
	CodeTooManyRooms = 429 // over GATEWAY_MAX_ROOMS_PER_CONNECTION
	CodeUnavailable  = 503 // no room worker, no NATS, auth worker unavailable: fail closed
)

// Error is a command's failure as the client sees it. It never closes the
// socket.
type Error struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string { return strconv.Itoa(e.Code) + " " + e.Reason }

// Errors the gateway answers with, so every path words them alike. Shared:
// do not modify.
var (
	ErrUnauthorized  = &Error{CodeUnauthorized, "identity required"}
	ErrForbidden     = &Error{CodeForbidden, "not allowed"}
	ErrNotJoined     = &Error{CodeNotFound, "room not joined"}
	ErrAlreadyJoined = &Error{CodeConflict, "room already joined"}
	ErrTooManyRooms  = &Error{CodeTooManyRooms, "too many rooms"}
	ErrUnavailable   = &Error{CodeUnavailable, "unavailable"}
)

// AsError gives the protocol error err stands for: the *Error in its chain,
// or, for any other error, ErrUnavailable (fail closed, and an internal
// error's text never reaches a client).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return ErrUnavailable
}

func badRequest(reason string) *Error { return &Error{CodeBadRequest, reason} }
