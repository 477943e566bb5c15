// Package wsclose is the close frame the gateway sends: a code and a reason
// that are valid on the wire whatever they were made from (a worker's
// header, a revocation's JSON, the gateway's own constants). A close frame
// that RFC 6455 does not allow fails the client with a protocol error
// instead of closing it, in browsers and in client libraries alike.
package wsclose

import (
	"strconv"
	"unicode/utf8"
)

// MaxReason is the longest reason a close frame holds: a control frame
// carries at most 125 bytes, two of them the code.
const MaxReason = 123

// Fallback replaces a code that may not be sent: the peer asked for the
// connection to end, and a normal closure says that.
const Fallback = 1000

// Close is a close frame's code and reason. Only New makes one, so every
// Close can go on the wire; the zero value is a normal closure (1000).
type Close struct {
	code   uint16
	reason string
}

// New makes a close frame: a code that may not be sent becomes Fallback,
// and the reason is made valid (see Reason).
func New(code int, reason string) Close {
	if !Sendable(code) {
		code = Fallback
	}
	return Close{code: uint16(code), reason: Reason(reason)}
}

// FromHeader makes the close a worker asked for with Wsgw-Close: value is
// the header (a decimal code), reason the message body. A value that is not
// a number, or not a code that may be sent, becomes Fallback.
func FromHeader(value string, reason []byte) Close {
	code, err := strconv.Atoi(value)
	if err != nil {
		code = Fallback
	}
	return New(code, string(reason))
}

// Sendable reports whether an endpoint may send code in a close frame:
// 1000-1003, 1007-1013 and 3000-4999. RFC 6455 forbids sending 1005, 1006
// and 1015, reserves 1004, and leaves 1016-2999 to future specifications;
// 1014 (IANA: bad gateway) is refused by Chromium and gorilla/websocket, so
// it is not sent either.
func Sendable(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1013:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// Reason makes s a close reason: each run of invalid UTF-8 becomes U+FFFD
// (as strings.ToValidUTF8 does), and the result is cut at a character
// boundary to at most MaxReason bytes.
func Reason(s string) string {
	if len(s) <= MaxReason && utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, MaxReason)
	bad := false // in a run of invalid bytes
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r == utf8.RuneError && n == 1 {
			if bad {
				continue
			}
			bad = true
		} else {
			bad = false
		}
		if len(out)+utf8.RuneLen(r) > MaxReason {
			break
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

// Code is the close code.
func (c Close) Code() int {
	if c.code == 0 {
		return Fallback
	}
	return int(c.code)
}

// Reason is the close reason: valid UTF-8, at most MaxReason bytes.
func (c Close) Reason() string { return c.reason }

// Payload is the close frame's payload: the code, big-endian, then the
// reason.
func (c Close) Payload() []byte {
	code := c.Code()
	return append([]byte{byte(code >> 8), byte(code)}, c.reason...)
}

func (c Close) String() string { return strconv.Itoa(c.Code()) + " " + strconv.Quote(c.reason) }
