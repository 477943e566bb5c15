package presence

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/wsgate/wsgate/shared/contract"
)

// ParseNotice reads a presence worker's notice, trusting nothing: a JSON
// object with "event" join or leave, a valid user id and a positive rev.
func ParseNotice(body []byte) (contract.PresenceNotice, bool) {
	var n contract.PresenceNotice
	if !utf8.Valid(body) || json.Unmarshal(body, &n) != nil {
		return n, false
	}
	if (n.Event != contract.EventJoin && n.Event != contract.EventLeave) || !contract.ValidUser(n.User) || n.Rev == 0 {
		return n, false
	}
	return n, true
}

// ParseAnswer reads a presence worker's answer to a query: every user a
// valid id with at least one connection, given once, and counts that are
// not negative.
func ParseAnswer(body []byte) (contract.PresenceAnswer, bool) {
	var a contract.PresenceAnswer
	if !utf8.Valid(body) || json.Unmarshal(body, &a) != nil || a.Anonymous < 0 {
		return a, false
	}
	seen := make(map[string]struct{}, len(a.Users))
	for _, u := range a.Users {
		if !contract.ValidUser(u.User) || u.Connections < 1 {
			return a, false
		}
		if _, dup := seen[u.User]; dup {
			return a, false
		}
		seen[u.User] = struct{}{}
	}
	return a, true
}
