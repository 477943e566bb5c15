package auth

import (
	"fmt"
	"strings"
)

// DefaultToken is accepted, as DefaultUser, when nothing is configured.
const (
	DefaultToken = "secret"
	DefaultUser  = "user"
)

// ParseTokens reads "token:user,token:user" (AUTH_TOKENS).
func ParseTokens(spec string) (map[string]string, error) {
	out := map[string]string{}
	for i, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		tok, user, ok := strings.Cut(pair, ":")
		if !ok || tok == "" || user == "" {
			return nil, fmt.Errorf("AUTH_TOKENS: entry %d is not token:user", i+1)
		}
		out[tok] = user
	}
	return out, nil
}
