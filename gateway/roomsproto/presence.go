package roomsproto

import (
	"slices"
	"strconv"
)

// Presence on /ws/rooms (issue 15):
//
//	→ {"id":6,"presence":{"room":"lobby"}}
//	← {"id":6,"ok":{"users":[{"user":"alice","connections":2}],"anonymous":3}}
//	→ {"id":1,"join":{"room":"lobby","presence":true}}
//	← {"room":"lobby","event":"join","user":"bob"}
//	← {"room":"lobby","event":"leave","user":"bob"}

// PresenceUser is one user in a presence reply.
type PresenceUser struct {
	User        string
	Connections int
}

// AppendPresence appends a presence query's reply.
func AppendPresence(dst []byte, id uint64, users []PresenceUser, anonymous int) []byte {
	dst = slices.Grow(dst, 48+len(users)*40)
	dst = appendID(dst, id)
	dst = append(dst, `"ok":{"users":[`...)
	for i, u := range users {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"user":`...)
		dst = appendString(dst, u.User)
		dst = append(dst, `,"connections":`...)
		dst = strconv.AppendInt(dst, int64(u.Connections), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"anonymous":`...)
	dst = strconv.AppendInt(dst, int64(anonymous), 10)
	return append(dst, "}}"...)
}

// AppendPresenceEvent appends a presence event line: event is "join" (the
// user's first connection entered the room) or "leave" (its last left).
func AppendPresenceEvent(dst []byte, room, event, user string) []byte {
	dst = append(dst, `{"room":`...)
	dst = appendString(dst, room)
	dst = append(dst, `,"event":`...)
	dst = appendString(dst, event)
	dst = append(dst, `,"user":`...)
	dst = appendString(dst, user)
	return append(dst, '}')
}
