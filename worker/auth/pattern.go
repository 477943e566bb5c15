package auth

import (
	"strings"

	"github.com/wsgate/wsgate/shared/contract"
)

// Patterns are room name patterns where '*' matches any run of characters
// (AUTH_PROTECTED_ROOMS, and the rooms and publish claims).
type Patterns []string

// ParsePatterns splits a comma-separated list.
func ParsePatterns(spec string) Patterns {
	var p Patterns
	for _, e := range strings.Split(spec, ",") {
		if e = strings.TrimSpace(e); e != "" {
			p = append(p, e)
		}
	}
	return p
}

// Match reports whether any pattern matches name.
func (p Patterns) Match(name string) bool {
	for _, pat := range p {
		if contract.Glob(pat, name) {
			return true
		}
	}
	return false
}
