// Package roomsproto is the wire protocol of the multiplexed /ws/rooms
// endpoint: it parses a client's command frame and encodes what the gateway
// sends back (replies, room messages, pushes). It holds no state and does
// no I/O; the connection and the hub decide what to do with a command.
//
// Client → gateway, one JSON object per text frame:
//
//	{"id":1,"join":{"room":"lobby"}}
//	{"id":2,"leave":{"room":"lobby"}}
//	{"id":3,"publish":{"room":"lobby","data":"hello"}}
//	{"id":4,"publish":{"room":"lobby","b64":"AAEC"}}
//	{"id":5,"join":{"room":"lobby","presence":true}}
//	{"id":6,"presence":{"room":"lobby"}}
//
// Gateway → client, one JSON object per line, several lines (joined with
// '\n') possibly in one text frame:
//
//	{"id":1,"ok":{}}
//	{"id":3,"ok":{"broadcast":true}}
//	{"id":2,"error":{"code":404,"reason":"room not joined"}}
//	{"room":"lobby","data":"hello","user":"alice"}
//	{"room":"lobby","b64":"AAEC","direct":true}
//	{"push":{"data":"hi"}}
//
// Decisions. A frame without exactly one valid id is answered with id 0
// (never a real id, which starts at 1), so every reply has the same shape.
// Unknown members are ignored on input, and clients must ignore those they
// do not know on output: later issues extend both sides (join's "since",
// "history" and "presence", publish's "msg_id", the commands "history" and
// "presence", "seq" on room messages and replies, presence "event" lines)
// by adding members and commands, which is no breaking change. A text body
// that is not valid UTF-8 (a worker may send one) is delivered as "b64",
// byte for byte, never altered nor dropped, and no input makes an encoder
// write invalid JSON.
package roomsproto

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/wsgate/wsgate/shared/contract"
)

// Op is a command's kind.
type Op uint8

// Commands.
const (
	Join Op = iota + 1
	Leave
	Publish
	History
	Presence // who is in a room (presence.go)
)

func (o Op) String() string {
	switch o {
	case Join:
		return "join"
	case Leave:
		return "leave"
	case Publish:
		return "publish"
	case History:
		return "history"
	case Presence:
		return "presence"
	}
	return "unknown"
}

// MaxID is the largest command id: 2^53-1, the largest integer every
// JavaScript client holds exactly.
const MaxID = 1<<53 - 1

// Command is one parsed client command.
type Command struct {
	// ID is the command's id, to echo in its reply: 1..MaxID, or 0 when
	// the frame had no valid id (the error reply then carries id 0).
	ID   uint64
	Op   Op
	Room string // valid (contract.ValidRoom) when Parse succeeds
	// Body is a publish's payload: data's UTF-8 bytes, or b64 decoded. It
	// may share memory with the frame given to Parse: use it before that
	// buffer is reused.
	Body []byte
	// Binary is true for a publish given as b64: raw members receive it as
	// a binary frame (Wsgw-Frame: binary), protocol members as b64.
	Binary bool

	// Join: HasSince with Since, the last seq the client has of the room
	// (it wants everything after it); else History > 0, how many of the
	// room's last messages it wants first (at most MaxHistory).
	Since    uint64
	HasSince bool
	// History is also the history command's limit (1..MaxHistory; default
	// DefaultHistory), with Before its upper bound (exclusive; 0: none).
	History int
	Before  uint64
	// MsgID is a publish's msg_id: 1..MaxMsgID visible ASCII characters;
	// empty when absent.
	MsgID string
	// Presence is a join's "presence": true, asking for the room's
	// presence events.
	Presence bool
}

// Limits of the history options.
const (
	MaxHistory     = 100 // join's "history" and the history command's "limit"
	DefaultHistory = 50  // the history command's "limit" when absent
	MaxMsgID       = 64  // a publish's "msg_id", in characters
)

// Parse reads one client frame. On failure the error is an *Error with
// code 400, and the Command still carries the frame's id when it had
// exactly one valid id (else ID is 0: reply with id 0).
//
// Rules: the frame is one JSON object, valid UTF-8, with only white space
// around it. Member names match exactly (case-sensitive, after JSON
// unescaping). A known member given twice is an error (JSON parsers
// disagree on which one wins); null counts as absent. Unknown members are
// ignored, at the top and inside commands, so clients may send fields a
// newer gateway understands. "id" is an integer written in plain digits,
// 1..MaxID. Exactly one of join, leave, publish, presence, an object with
// a valid "room" (a join's "presence", when given, is true or false); a
// publish has exactly one of "data" (a string) and "b64"
// (standard base64 in canonical form: padded, unused bits zero, no line
// breaks). Parse does not bound the frame's size: the caller does
// (GATEWAY_MAX_MESSAGE_BYTES), and a body is never larger than its frame.
func Parse(frame []byte) (Command, error) {
	var c Command
	if !utf8.Valid(frame) {
		return c, badRequest("not valid UTF-8")
	}
	if !json.Valid(frame) {
		return c, badRequest("not JSON")
	}
	s := scanner{b: frame}
	s.ws()
	if s.b[s.i] != '{' {
		return c, badRequest("not a JSON object")
	}
	s.i++
	var (
		id, cmd []byte
		fail    *Error // the first structural problem
		dupID   bool
		ncmd    int
	)
	for {
		key, val, ok := s.member()
		if !ok {
			break
		}
		if isNull(val) {
			continue
		}
		var op Op
		switch string(keyName(key)) {
		case "id":
			dupID = id != nil
			id = val
			continue
		case "join":
			op = Join
		case "leave":
			op = Leave
		case "publish":
			op = Publish
		case "history":
			op = History
		case "presence":
			op = Presence
		default:
			continue
		}
		ncmd++
		if ncmd == 1 {
			cmd, c.Op = val, op
		} else if fail == nil {
			fail = badRequest("several commands")
		}
	}
	// An id is echoed only when the frame has exactly one, and it is valid.
	if dupID {
		return c, badRequest("duplicate id")
	}
	if id == nil {
		return c, badRequest("missing id")
	}
	n, ok := parseID(id)
	if !ok {
		return c, badRequest("id must be an integer from 1 to 9007199254740991")
	}
	c.ID = n
	if fail != nil {
		return c, fail
	}
	if ncmd == 0 {
		return c, badRequest("unknown or missing command")
	}
	if err := c.parseArgs(cmd); err != nil {
		return c, err
	}
	return c, nil
}

// parseArgs reads a command's object.
func (c *Command) parseArgs(raw []byte) *Error {
	if raw[0] != '{' {
		return badRequest(c.Op.String() + " must be an object")
	}
	s := scanner{b: raw, i: 1}
	var room, data, b64, since, history, before, limit, msgID, presence []byte
	for {
		key, val, ok := s.member()
		if !ok {
			break
		}
		if isNull(val) {
			continue
		}
		var slot *[]byte
		name := keyName(key)
		switch string(name) {
		case "room":
			slot = &room
		case "data":
			slot = &data
		case "b64":
			slot = &b64
		case "since":
			slot = &since
		case "history":
			slot = &history
		case "before":
			slot = &before
		case "limit":
			slot = &limit
		case "msg_id":
			slot = &msgID
		case "presence":
			slot = &presence
		default:
			continue
		}
		if *slot != nil {
			return badRequest("duplicate " + string(name))
		}
		*slot = val
	}
	if room == nil {
		return badRequest("missing room")
	}
	r, ok := unquote(room)
	if !ok || !contract.ValidRoom(string(r)) {
		return badRequest("bad room name")
	}
	c.Room = string(r)
	// A member that belongs to another command is unknown here, ignored.
	switch c.Op {
	case Join:
		if presence != nil {
			switch string(presence) {
			case "true":
				c.Presence = true
			case "false":
			default:
				return badRequest("presence must be true or false")
			}
		}
		return c.joinArgs(since, history)
	case History:
		return c.historyArgs(before, limit)
	case Publish:
		if err := c.msgIDArg(msgID); err != nil {
			return err
		}
	default:
		return nil
	}
	switch {
	case data != nil && b64 != nil:
		return badRequest("publish has both data and b64")
	case data != nil:
		body, ok := unquote(data)
		if !ok {
			return badRequest("data must be a string")
		}
		c.Body = body
	case b64 != nil:
		enc, ok := unquote(b64)
		if !ok {
			return badRequest("b64 must be a string")
		}
		body, ok := decodeB64(enc)
		if !ok {
			return badRequest("bad base64")
		}
		c.Body, c.Binary = body, true
	default:
		return badRequest("publish needs data or b64")
	}
	return nil
}

// joinArgs reads join's "since" and "history".
func (c *Command) joinArgs(since, history []byte) *Error {
	if since != nil {
		n, ok := parseUint(since)
		if !ok {
			return badRequest("since must be an integer from 0 to 9007199254740991")
		}
		c.Since, c.HasSince = n, true
	}
	if history != nil {
		n, ok := parseUint(history)
		if !ok || n > MaxHistory {
			return badRequest("history must be an integer from 0 to 100")
		}
		c.History = int(n)
	}
	return nil
}

// historyArgs reads the history command's "before" and "limit".
func (c *Command) historyArgs(before, limit []byte) *Error {
	c.History = DefaultHistory
	if before != nil {
		n, ok := parseUint(before)
		if !ok || n == 0 {
			return badRequest("before must be an integer from 1 to 9007199254740991")
		}
		c.Before = n
	}
	if limit != nil {
		n, ok := parseUint(limit)
		if !ok || n == 0 || n > MaxHistory {
			return badRequest("limit must be an integer from 1 to 100")
		}
		c.History = int(n)
	}
	return nil
}

// msgIDArg reads a publish's "msg_id": visible ASCII only, so that it
// travels in a NATS header unchanged.
func (c *Command) msgIDArg(raw []byte) *Error {
	if raw == nil {
		return nil
	}
	id, ok := unquote(raw)
	if !ok || len(id) == 0 || len(id) > MaxMsgID {
		return badRequest("msg_id must be a string of 1 to 64 characters")
	}
	for _, b := range id {
		if b < 0x21 || b > 0x7e {
			return badRequest("msg_id may hold only visible ASCII characters")
		}
	}
	c.MsgID = string(id)
	return nil
}

// parseUint is parseID with 0 allowed.
func parseUint(raw []byte) (uint64, bool) {
	if len(raw) == 1 && raw[0] == '0' {
		return 0, true
	}
	return parseID(raw)
}

var strictStd = base64.StdEncoding.Strict()

// decodeB64 accepts only the canonical encoding: padded, zero trailing
// bits, and none of the line breaks encoding/base64 would skip.
func decodeB64(enc []byte) ([]byte, bool) {
	for _, b := range enc {
		if b == '\r' || b == '\n' {
			return nil, false
		}
	}
	out := make([]byte, strictStd.DecodedLen(len(enc)))
	n, err := strictStd.Decode(out, enc)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// parseID accepts plain decimal digits without a leading zero, 1..MaxID:
// no sign, fraction, exponent or string.
func parseID(raw []byte) (uint64, bool) {
	if len(raw) == 0 || len(raw) > 16 || raw[0] == '0' {
		return 0, false
	}
	var n uint64
	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + uint64(b-'0')
	}
	return n, n <= MaxID
}

// keyName is a member's name, unescaped ("\u0069d" is "id"); without
// escapes it shares the frame's memory.
func keyName(raw []byte) []byte {
	k, _ := unquote(raw)
	return k
}
