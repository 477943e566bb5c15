package route

import (
	"path"
	"strings"
	"testing"
)

func TestMatchDefaults(t *testing.T) {
	tab, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, subject, room string
		status              int
	}{
		{"/ws", "wsgw.echo", "", 0},
		{"/ws/private", "wsgw.echo", "", 0},
		{"/ws/room", "wsgw.room", "default", 0},
		{"/ws/room/lobby-1_A", "wsgw.room", "lobby-1_A", 0},
		{"/ws/room/", "", "", 400},
		{"/ws/room/a.b", "", "", 400},
		{"/ws/room/*", "", "", 400},
		{"/ws/room/>", "", "", 400},
		{"/ws/room/a b", "", "", 400},
		{"/ws/room/caf\u00e9", "", "", 400},
		{"/ws/room/a/b", "", "", 400},
		{"/ws/room/" + strings.Repeat("x", 65), "", "", 400},
		{"/ws/room/" + strings.Repeat("x", 64), "wsgw.room", strings.Repeat("x", 64), 0},
		{"/nope", "", "", 404},
		{"/ws/", "", "", 404},
		{"/wsx", "", "", 404},
	}
	for _, c := range cases {
		r, room, status := tab.Match(c.path)
		if status != c.status || room != c.room || (r != nil && r.Subject != c.subject) || (r == nil) != (c.subject == "") {
			t.Errorf("Match(%q) = %v %q %d, want subject %q room %q status %d", c.path, r, room, status, c.subject, c.room, c.status)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, spec := range []string{
		`[{"path":"ws","kind":"request","subject":"a"}]`,
		`[{"path":"/a/../ws","kind":"request","subject":"a"}]`,
		`[{"path":"/a/./ws","kind":"request","subject":"a"}]`,
		`[{"path":"/a//ws","kind":"request","subject":"a"}]`,
		`[{"path":"/ws/","kind":"request","subject":"a"}]`,
		`[{"path":"/ws","kind":"request","subject":"a.*"}]`,
		`[{"path":"/ws","kind":"request","subject":"a..b"}]`,
		`[{"path":"/ws","kind":"stream","subject":"a"}]`,
		`[{"path":"/ws","kind":"request","subject":"a"},{"path":"/ws","kind":"room","subject":"b"}]`,
		`[{"path":"/ws","kind":"request","subject":"a","extra":1}]`,
		`[{"path":"/ws","kind":"request","subject":"a","in_flight":-1}]`,
		`[{"path":"/ws","kind":"request","subject":"a","in_flight":1025}]`,
		`[{"path":"/ws","kind":"request","subject":"a","in_flight":"4"}]`,
		`[{"path":"/ws","kind":"request","subject":"a","in_flight":2.5}]`,
		`not json`,
	} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%s) accepted", spec)
		}
	}
	tab, err := Parse(`[{"path":"/chat","kind":"room","subject":"app.chat","auth":true},{"path":"/feed","kind":"room","subject":"app.feed","auth":"optional"},{"path":"/x","kind":"request","subject":"x","auth":"none"}]`)
	if err != nil {
		t.Fatal(err)
	}
	if r, room, st := tab.Match("/chat/x"); st != 0 || room != "x" || r.Auth != AuthRequired {
		t.Fatalf("custom route: %v %q %d", r, room, st)
	}
	if r, _, _ := tab.Match("/feed"); r.Auth != AuthOptional {
		t.Fatalf("optional: %v", r)
	}
	if r, _, _ := tab.Match("/x"); r.Auth != AuthNone {
		t.Fatalf("none: %v", r)
	}
	if _, err := Parse(`[{"path":"/x","kind":"request","subject":"x","auth":"maybe"}]`); err == nil {
		t.Fatal("auth maybe accepted")
	}
}

// FuzzMatch: any matched room is a single literal subject token.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/ws", "/ws/room/a", "/ws/room/a.b", "/ws/room/*", "/ws/room/>", "/ws/room/", "/ws/room/%2E", "/ws/private/x", "//ws"} {
		f.Add(s)
	}
	tab, err := Parse("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, room, status := tab.Match(path)
		if status != 0 {
			if r != nil || (status != 400 && status != 404) {
				t.Fatalf("Match(%q): status %d with route %v", path, status, r)
			}
			return
		}
		if r.Kind == KindRoom && (room == "" || len(room) > 64 || strings.ContainsAny(room, ".*> /%")) {
			t.Fatalf("Match(%q) gave room %q", path, room)
		}
	})
}

func TestCanonical(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/ws": true, "/ws/": true, "/ws/room/a": true, "/a.b/..c": true,
		"": false, "ws": false, "//": false, "//ws": false, "/ws//room": false, "/ws/.": false,
		"/ws/..": false, "/ws/../ws": false, "/./ws": false, "/ws/./": false, "/ws//": false, "*": false,
	} {
		if got := Canonical(p); got != want {
			t.Errorf("Canonical(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzCanonical: Canonical is exactly "http.ServeMux would not redirect
// it" (path.Clean, keeping a trailing slash), and no other path reaches a
// route of the default table.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"/", "//", "/ws/../ws", "/ws/room//a", "/ws/room/./a", "/ws/", "/a/b/", "", "x/..", "/ws/room/.."} {
		f.Add(s)
	}
	tab, err := Parse("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := path.Clean(p)
		clean := strings.HasPrefix(p, "/") && (c == p || (c != "/" && c+"/" == p))
		if got := Canonical(p); got != clean {
			t.Fatalf("Canonical(%q) = %v; path.Clean gives %q", p, got, c)
		}
		if _, _, status := tab.Match(p); !clean && status == 0 {
			t.Fatalf("non-canonical %q matched a route", p)
		}
	})
}

// in_flight is optional; when set it is kept as given.
func TestInFlight(t *testing.T) {
	tab, err := Parse(`[{"path":"/a","kind":"request","subject":"a","in_flight":1},` +
		`{"path":"/b","kind":"room","subject":"b","in_flight":1024},{"path":"/c","kind":"request","subject":"c"}]`)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/a": 1, "/b": 1024, "/c": 0} {
		if r, _, _ := tab.Match(path); r.InFlight != want {
			t.Errorf("%s: in_flight %d, want %d", path, r.InFlight, want)
		}
	}
}
