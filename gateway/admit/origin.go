// Package admit decides, before the upgrade, whether a handshake may
// proceed: browser origin, connection limits and the client's address.
package admit

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Origins is the browser origin allow-list (GATEWAY_ALLOWED_ORIGINS).
// Requests without an Origin header (non-browser clients) always pass, and
// so does an origin whose host is the request's own Host. Entries are
// origins like https://app.example.com, may use one leading wildcard label
// (https://*.example.com), or are "*" for any origin (unsafe: it re-opens
// cross-site WebSocket hijacking for cookie-authenticated routes).
type Origins struct {
	any   bool
	exact map[string]bool // scheme://host[:port], lower case
	wild  []string        // scheme://.suffix
}

// ParseOrigins reads a comma-separated list.
func ParseOrigins(spec string) (*Origins, error) {
	o := &Origins{exact: map[string]bool{}}
	for _, e := range strings.Split(spec, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
			continue
		case e == "*":
			o.any = true
			continue
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("GATEWAY_ALLOWED_ORIGINS: %q is not an origin like https://app.example.com", e)
		}
		if rest, ok := strings.CutPrefix(u.Host, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return nil, fmt.Errorf("GATEWAY_ALLOWED_ORIGINS: %q has a bad wildcard", e)
			}
			o.wild = append(o.wild, u.Scheme+"://."+rest)
			continue
		}
		if strings.Contains(u.Host, "*") {
			return nil, fmt.Errorf("GATEWAY_ALLOWED_ORIGINS: %q has a bad wildcard", e)
		}
		o.exact[u.Scheme+"://"+u.Host] = true
	}
	return o, nil
}

// Allow reports whether the handshake's Origin may open a socket.
func (o *Origins) Allow(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if o.any {
		return true
	}
	u, err := url.Parse(strings.ToLower(origin))
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == strings.ToLower(r.Host) {
		return true
	}
	key := u.Scheme + "://" + u.Host
	if o.exact[key] {
		return true
	}
	for _, w := range o.wild {
		if strings.HasPrefix(w, u.Scheme+"://") && strings.HasSuffix(key, w[len(u.Scheme)+3:]) {
			return true
		}
	}
	return false
}
