package contract

import (
	"encoding/base64"
	"strings"
)

// UserPrefix is the base of the subjects that reach every connection of one
// user, on every gateway: wsgw.user.<token>.
const UserPrefix = "wsgw.user"

// UserWildcard matches every user's subject, e.g. to watch pushes.
const UserWildcard = UserPrefix + ".*"

// userToken is unpadded base64url (RFC 4648 §5): [A-Za-z0-9_-] only, so any
// user id, whatever it holds ('.', '*', '>', spaces, any Unicode), is one
// literal subject token. Strict: one token per id, and back.
var userToken = base64.RawURLEncoding.Strict()

// UserSubject is where a push reaches every connection of user, a user id
// that passes ValidUser (so the subject has at most 352 bytes):
// UserSubject("alice") is "wsgw.user.YWxpY2U".
func UserSubject(user string) string {
	return UserPrefix + "." + userToken.EncodeToString([]byte(user))
}

// UserFromSubject is UserSubject's inverse: the user id of a subject
// UserSubject built, and false for anything else (another subject, an
// empty token, one not in canonical unpadded base64url).
func UserFromSubject(subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, UserPrefix+".")
	if !ok || tok == "" || strings.ContainsAny(tok, "\r\n") {
		return "", false // the decoder would skip line breaks
	}
	b, err := userToken.DecodeString(tok)
	if err != nil {
		return "", false
	}
	return string(b), true
}
