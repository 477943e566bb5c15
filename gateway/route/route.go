// Package route maps request paths to NATS subjects. The route table is all
// the gateway knows about workers: a new kind of worker needs a new route,
// not gateway code.
package route

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/wsgate/wsgate/shared/contract"
)

// Kinds of route.
const (
	// KindRequest sends every frame as a request to Subject and writes the
	// reply, if it carries a frame, back to the same client.
	KindRequest = "request"
	// KindRoom makes the client a member of a room named by the path (the
	// part after Path, or contract.DefaultRoom). Frames go as requests to
	// <Subject>.in.<room>; broadcasts arrive on <Subject>.out.<room>.
	KindRoom = "room"
)

// Route is one entry of the table.
type Route struct {
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	// Auth says whether the auth worker is asked before the upgrade.
	Auth AuthMode `json:"auth,omitempty"`
	// Welcome, when set, is sent as a text frame right after the upgrade.
	Welcome string `json:"welcome,omitempty"`
	// InFlight is how many of a connection's frames may wait for their
	// workers' answers at once (0: DefaultInFlight). Answers and
	// broadcasts still reach clients in the order sent; 1 also makes
	// workers handle a connection's frames one after another.
	InFlight int `json:"in_flight,omitempty"`
}

// DefaultInFlight is a route's in_flight when it sets none. See
// BENCHMARKS.md for the measurements behind it.
const DefaultInFlight = 16

// MaxInFlight bounds in_flight: a connection may hold that many answers
// waiting for an earlier one.
const MaxInFlight = 1024

// AuthMode is a route's authentication: AuthNone, AuthOptional or
// AuthRequired. In JSON, true is AuthRequired and false AuthNone.
type AuthMode string

// Authentication modes.
const (
	// AuthNone: nobody is asked; every client is anonymous.
	AuthNone AuthMode = ""
	// AuthOptional: the auth worker decides, e.g. letting anonymous
	// clients into open rooms and requiring credentials for protected ones.
	// If it cannot be asked, the client is refused (fail closed).
	AuthOptional AuthMode = "optional"
	// AuthRequired: no anonymous client is admitted.
	AuthRequired AuthMode = "required"
)

// UnmarshalJSON accepts a mode name or a boolean.
func (m *AuthMode) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*m = AuthRequired
		return nil
	case "false", "null":
		*m = AuthNone
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch AuthMode(s) {
	case AuthNone, "none":
		*m = AuthNone
	case AuthOptional, AuthRequired:
		*m = AuthMode(s)
	default:
		return fmt.Errorf("auth %q is not \"none\", \"optional\" or \"required\"", s)
	}
	return nil
}

// Defaults are the routes of a gateway started without GATEWAY_ROUTES.
func Defaults() []Route {
	return []Route{
		{Path: "/ws", Kind: KindRequest, Subject: contract.EchoSubject},
		{Path: "/ws/room", Kind: KindRoom, Subject: contract.RoomSubject, Auth: AuthOptional},
		{Path: "/ws/private", Kind: KindRequest, Subject: contract.EchoSubject, Auth: AuthRequired, Welcome: "ok"},
	}
}

// Table finds the route of a path.
type Table struct {
	exact map[string]*Route
	rooms []*Route // room routes, longest path first
}

// New checks routes and builds a table.
func New(routes []Route) (*Table, error) {
	t := &Table{exact: map[string]*Route{}}
	for i := range routes {
		r := &routes[i]
		if !Canonical(r.Path) || strings.HasSuffix(r.Path, "/") {
			return nil, fmt.Errorf("route %q: path must start with /, not end with /, and have no empty, . or .. segment", r.Path)
		}
		if !validSubject(r.Subject) {
			return nil, fmt.Errorf("route %q: subject %q is not a literal NATS subject", r.Path, r.Subject)
		}
		if r.Kind != KindRequest && r.Kind != KindRoom {
			return nil, fmt.Errorf("route %q: kind %q is not %q or %q", r.Path, r.Kind, KindRequest, KindRoom)
		}
		if r.InFlight < 0 || r.InFlight > MaxInFlight {
			return nil, fmt.Errorf("route %q: in_flight %d is not between 1 and %d (0 or none: %d)", r.Path, r.InFlight, MaxInFlight, DefaultInFlight)
		}
		if _, dup := t.exact[r.Path]; dup {
			return nil, fmt.Errorf("route %q: defined twice", r.Path)
		}
		t.exact[r.Path] = r
		if r.Kind == KindRoom {
			t.rooms = append(t.rooms, r)
		}
	}
	return t, nil
}

// Parse reads a JSON array of routes (GATEWAY_ROUTES); empty gives Defaults.
func Parse(spec string) (*Table, error) {
	if strings.TrimSpace(spec) == "" {
		return New(Defaults())
	}
	var routes []Route
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&routes); err != nil {
		return nil, fmt.Errorf("GATEWAY_ROUTES: %w", err)
	}
	t, err := New(routes)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_ROUTES: %w", err)
	}
	return t, nil
}

// Match returns the route for path and, for a room route, the room name.
// status is 0 on a match, else the HTTP status to answer: 404 for no route,
// 400 for a room name that is not 1-64 characters of [A-Za-z0-9_-].
// path is the decoded URL path, so %2E or %2A arrive here as '.' or '*' and
// are refused like the literal characters.
func (t *Table) Match(path string) (r *Route, room string, status int) {
	if r := t.exact[path]; r != nil {
		if r.Kind == KindRoom {
			return r, contract.DefaultRoom, 0
		}
		return r, "", 0
	}
	for _, r := range t.rooms {
		rest, ok := strings.CutPrefix(path, r.Path+"/")
		if !ok {
			continue
		}
		if !contract.ValidRoom(rest) {
			return nil, "", http.StatusBadRequest
		}
		return r, rest, 0
	}
	return nil, "", http.StatusNotFound
}

// Canonical reports whether p is an absolute path with no empty, "." or
// ".." segment (a trailing slash aside): the form http.ServeMux would not
// redirect. The gateway matches paths as sent, so only a canonical path
// can name a route; others get 404, or 400 under a room route.
func Canonical(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || (seg == "" && i < len(segs)-1) {
			return false
		}
	}
	return true
}

// Paths lists the route paths, for the HTTP mux.
func (t *Table) Paths() []string {
	out := make([]string, 0, len(t.exact))
	for p := range t.exact {
		out = append(out, p)
	}
	return out
}

func validSubject(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}
