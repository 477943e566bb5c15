package roomsproto

import (
	"encoding/base64"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Separator joins several gateway messages in one text frame. Every Append
// function writes exactly one line: no raw newline ever appears inside one.
const Separator = '\n'

// Message is a room message as protocol members receive it.
type Message struct {
	Room string
	// Body is the frame's payload: sent as "data" when text, as "b64" when
	// binary. A text body that is not valid UTF-8 is sent as "b64" (byte for
	// byte, rather than altered or dropped): JSON strings cannot hold it.
	Body   []byte
	Binary bool
	// User is the sender's user id; empty (omitted) for anonymous senders.
	User string
	// Direct marks a frame the room worker addressed to the sender alone.
	Direct bool
	// Seq is the message's sequence number in the room's history; 0
	// (omitted) when history is off.
	Seq uint64
}

// AppendMessage appends m's JSON line to dst. Encode a broadcast once and
// hand the same bytes to every member: they must not be modified after.
//
//	{"room":"lobby","data":"hello","user":"alice"}
func AppendMessage(dst []byte, m *Message) []byte {
	dst = slices.Grow(dst, 48+len(m.Room)+len(m.User)+bodyLen(m.Body, m.Binary))
	dst = append(dst, `{"room":`...)
	dst = appendString(dst, m.Room)
	dst = append(dst, ',')
	dst = appendBody(dst, m.Body, m.Binary)
	if m.User != "" {
		dst = append(dst, `,"user":`...)
		dst = appendString(dst, m.User)
	}
	if m.Direct {
		dst = append(dst, `,"direct":true`...)
	}
	if m.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, m.Seq, 10)
	}
	return append(dst, '}')
}

// AppendPush appends a push to a user's connection.
//
//	{"push":{"data":"..."}}
func AppendPush(dst []byte, body []byte, binary bool) []byte {
	dst = slices.Grow(dst, 16+bodyLen(body, binary))
	dst = append(dst, `{"push":{`...)
	dst = appendBody(dst, body, binary)
	return append(dst, "}}"...)
}

// AppendOK appends a success reply with an empty result, as join and
// leave get.
//
//	{"id":1,"ok":{}}
func AppendOK(dst []byte, id uint64) []byte {
	dst = appendID(dst, id)
	return append(dst, `"ok":{}}`...)
}

// AppendPublished appends a publish's reply: broadcast is false when the
// room worker declined the message; seq, when not 0, is where the room's
// history stored it.
//
//	{"id":3,"ok":{"broadcast":true}}
//	{"id":3,"ok":{"broadcast":true,"seq":1301}}
func AppendPublished(dst []byte, id uint64, broadcast bool, seq uint64) []byte {
	dst = appendID(dst, id)
	dst = append(dst, `"ok":{"broadcast":`...)
	dst = strconv.AppendBool(dst, broadcast)
	if seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
	}
	return append(dst, "}}"...)
}

// AppendError appends a failure reply for err (see AsError). id is the
// command's, or 0 when the frame had none.
//
//	{"id":1,"error":{"code":403,"reason":"not allowed"}}
func AppendError(dst []byte, id uint64, err error) []byte {
	e := AsError(err)
	dst = appendID(dst, id)
	dst = append(dst, `"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(e.Code), 10)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, e.Reason)
	return append(dst, "}}"...)
}

func appendID(dst []byte, id uint64) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, ',')
}

// appendBody writes "data":"..." or "b64":"...".
func appendBody(dst, body []byte, binary bool) []byte {
	if !binary {
		mark := len(dst)
		dst = append(dst, `"data":`...)
		out, ok := appendText(dst, body)
		if ok {
			return out
		}
		dst = out[:mark] // not UTF-8: b64 instead
	}
	dst = append(dst, `"b64":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, body)
	return append(dst, '"')
}

// bodyLen is the encoded size of a body without escapes, to size the
// buffer once in the common case.
func bodyLen(body []byte, binary bool) int {
	if binary {
		return 8 + base64.StdEncoding.EncodedLen(len(body))
	}
	return 9 + len(body)
}

// plain marks the ASCII bytes a JSON string holds as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendEscape writes the escape of an ASCII byte that is not plain.
func appendEscape(dst []byte, b byte) []byte {
	switch b {
	case '"', '\\':
		return append(dst, '\\', b)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
}

// appendText writes s as a JSON string; ok is false (and dst garbage past
// its original length) when s is not valid UTF-8.
func appendText(dst, s []byte) (out []byte, ok bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if !plain[b] {
				dst = append(dst, s[start:i]...)
				dst = appendEscape(dst, b)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst, false
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), true
}

// appendString writes s as a JSON string, any byte that is not part of
// valid UTF-8 as U+FFFD: whatever a header or a worker said, the line
// stays valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if !plain[b] {
				dst = append(dst, s[start:i]...)
				dst = appendEscape(dst, b)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + 1
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
