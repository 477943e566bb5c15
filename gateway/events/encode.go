package events

import (
	"strconv"
	"unicode/utf8"

	"github.com/wsgate/wsgate/shared/contract"
)

// The bodies of events and presence entries are encoded here, byte for
// byte as encoding/json encodes them (FuzzEncode checks it): a join costs
// four of them, and reflection was a twentieth of the gateway's CPU in a
// join storm.

// appendEvent appends ev as JSON.
func appendEvent(b []byte, ev *contract.Event) []byte {
	b = append(b, `{"event_id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"event":`...)
	b = appendString(b, ev.Event)
	b = append(b, `,"time":`...)
	b = appendString(b, ev.Time)
	b = append(b, `,"gateway":`...)
	b = appendString(b, ev.Gateway)
	b = append(b, `,"conn":`...)
	b = appendString(b, ev.Conn)
	if ev.User != "" {
		b = append(b, `,"user":`...)
		b = appendString(b, ev.User)
	}
	b = append(b, `,"route":`...)
	b = appendString(b, ev.Route)
	if ev.Room != "" {
		b = append(b, `,"room":`...)
		b = appendString(b, ev.Room)
	}
	if ev.RemoteAddr != "" {
		b = append(b, `,"remote_addr":`...)
		b = appendString(b, ev.RemoteAddr)
	}
	if ev.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(ev.Code), 10)
	}
	if ev.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, ev.Reason)
	}
	return append(b, '}')
}

// appendEntry appends e as JSON.
func appendEntry(b []byte, e *contract.PresenceEntry) []byte {
	b = append(b, '{')
	if e.User != "" {
		b = append(b, `"user":`...)
		b = appendString(b, e.User)
		b = append(b, ',')
	}
	b = append(b, `"route":`...)
	b = appendString(b, e.Route)
	if e.RemoteAddr != "" {
		b = append(b, `,"remote_addr":`...)
		b = appendString(b, e.RemoteAddr)
	}
	if e.Join != 0 {
		b = append(b, `,"join":`...)
		b = strconv.AppendUint(b, e.Join, 10)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it: quotes, backslashes and control characters, <, > and & (for
// HTML), U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
