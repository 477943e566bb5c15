package auth

import (
	"net/http"
	"time"

	"github.com/wsgate/wsgate/shared/contract"
)

// maxExpiresAt is the end of year 9999. Later expires_at values (up to
// 2^63-1, a common "never") are past what time.Unix holds without
// overflowing into the past, and past any credential's life: never.
const maxExpiresAt = 253402300799

// Expiry is when the socket of an admitted client must close: the zero
// Time for never (expires_at absent, 0, negative or after year 9999).
func Expiry(resp contract.AuthResponse) time.Time {
	if resp.ExpiresAt <= 0 || resp.ExpiresAt > maxExpiresAt {
		return time.Time{}
	}
	return time.Unix(resp.ExpiresAt, 0)
}

// Verdict is what the gateway enforces of a well-formed answer (see Ask)
// at now: the HTTP status of the handshake, 200 to admit, and when the
// gateway overrides the worker, why (for logs). required is the route's
// auth "required": no anonymous client, whatever the worker said.
func Verdict(resp contract.AuthResponse, required bool, now time.Time) (status int, why string) {
	switch {
	case resp.Status != contract.AuthOK:
		return resp.Status, ""
	case required && resp.User == "":
		return http.StatusUnauthorized, "the auth worker admitted an anonymous client on a route that requires an identity"
	case !Expiry(resp).IsZero() && !now.Before(Expiry(resp)):
		return http.StatusUnauthorized, "the credential expired between the decision and the upgrade"
	}
	return http.StatusOK, ""
}
