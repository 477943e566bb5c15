package contract

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Ids a subject could not carry as they are.
var awkwardUsers = []string{"alice", "a b", "a.b", "*", ">", "a.*.>", "user@example.com", "ünï 😀",
	"日本語", "a/b\\c", "$SYS", "x\x7f", strings.Repeat("é", 128)}

func TestUserSubject(t *testing.T) {
	if got := UserSubject("alice"); got != "wsgw.user.YWxpY2U" {
		t.Errorf("UserSubject(alice) = %q", got)
	}
	if got := UserSubject("a.b *>"); got != "wsgw.user.YS5iICo-" {
		t.Errorf("UserSubject(a.b *>) = %q", got)
	}
	for _, u := range awkwardUsers {
		subj := UserSubject(u)
		tok := strings.TrimPrefix(subj, "wsgw.user.")
		if tok == subj || tok == "" || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Errorf("UserSubject(%q) = %q: not one safe token", u, subj)
		}
		if back, ok := UserFromSubject(subj); !ok || back != u {
			t.Errorf("UserFromSubject(%q) = %q, %v; want %q", subj, back, ok, u)
		}
	}
	for _, s := range []string{"", "wsgw.user", "wsgw.user.", "wsgw.users.YWxpY2U", "wsgw.room.out.YWxpY2U",
		"wsgw.user.YWxpY2U=", "wsgw.user.YWxpY2", "wsgw.user.YWxpY2V", "wsgw.user.YWx+Y2U", "wsgw.user.YWxp\nY2U",
		"wsgw.user.YWxpY2U.x", "wsgw.user.*", "wsgw.user.>"} {
		if u, ok := UserFromSubject(s); ok {
			t.Errorf("UserFromSubject(%q) = %q, true", s, u)
		}
	}
	if n := len(UserSubject(strings.Repeat("u", MaxUserLen))); n > 4096 {
		t.Errorf("the longest user subject is %d bytes", n)
	}
}

// On a real server, a push to one user reaches that user's subscription
// and the wildcard, and never another user's, whatever characters the ids
// hold.
func TestUserSubjectOnNATS(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subs := map[string]*nats.Subscription{}
	for _, u := range awkwardUsers {
		if subs[u], err = nc.SubscribeSync(UserSubject(u)); err != nil {
			t.Fatalf("subscribe %q: %v", u, err)
		}
	}
	all, err := nc.SubscribeSync(UserWildcard)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range awkwardUsers {
		if err := nc.Publish(UserSubject(to), []byte("for "+to)); err != nil {
			t.Fatal(err)
		}
		// Then a marker to every user: NATS keeps one publisher's order, so
		// a stray copy of the push would come before the marker.
		for _, u := range awkwardUsers {
			if err := nc.Publish(UserSubject(u), []byte("marker")); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range awkwardUsers {
			want := []string{"marker"}
			if u == to {
				want = []string{"for " + to, "marker"}
			}
			for _, w := range want {
				m, err := subs[u].NextMsg(5 * time.Second)
				if err != nil || string(m.Data) != w {
					t.Fatalf("user %q, after a push to %q: got %v (%v), want %q", u, to, m, err, w)
				}
			}
		}
		m, err := all.NextMsg(5 * time.Second)
		if err != nil || string(m.Data) != "for "+to {
			t.Fatalf("wildcard: %v, %v", m, err)
		}
		if u, ok := UserFromSubject(m.Subject); !ok || u != to {
			t.Fatalf("wildcard subject %q reads as %q", m.Subject, u)
		}
		for range awkwardUsers {
			if m, err := all.NextMsg(5 * time.Second); err != nil || string(m.Data) != "marker" {
				t.Fatalf("wildcard marker: %v, %v", m, err)
			}
		}
	}
}

// FuzzUserSubject: every id maps to one literal token and back.
func FuzzUserSubject(f *testing.F) {
	for _, u := range awkwardUsers {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if u == "" {
			return
		}
		subj := UserSubject(u)
		if strings.Count(subj, ".") != 2 || strings.ContainsAny(subj, "*> \t\r\n") {
			t.Fatalf("UserSubject(%q) = %q", u, subj)
		}
		if back, ok := UserFromSubject(subj); !ok || back != u {
			t.Fatalf("round trip of %q: %q, %v", u, back, ok)
		}
	})
}
