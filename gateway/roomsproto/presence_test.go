package roomsproto

import "testing"

func TestPresenceCommands(t *testing.T) {
	c, err := Parse([]byte(`{"id":6,"presence":{"room":"lobby"}}`))
	if err != nil || c.Op != Presence || c.Room != "lobby" || c.ID != 6 {
		t.Fatalf("presence: %+v %v", c, err)
	}
	c, err = Parse([]byte(`{"id":1,"join":{"room":"lobby","presence":true}}`))
	if err != nil || c.Op != Join || !c.Presence {
		t.Fatalf("join with presence: %+v %v", c, err)
	}
	c, err = Parse([]byte(`{"id":1,"join":{"room":"lobby","presence":false}}`))
	if err != nil || c.Presence {
		t.Fatalf("join without presence: %+v %v", c, err)
	}
	for _, bad := range []string{
		`{"id":1,"join":{"room":"lobby","presence":"true"}}`,
		`{"id":1,"join":{"room":"lobby","presence":1}}`,
		`{"id":1,"join":{"room":"lobby","presence":true,"presence":true}}`,
		`{"id":6,"presence":{}}`,
		`{"id":6,"presence":{"room":"a.b"}}`,
		`{"id":6,"presence":{"room":"a"},"leave":{"room":"a"}}`,
	} {
		if _, err := Parse([]byte(bad)); AsError(err).Code != CodeBadRequest {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// Unknown elsewhere: ignored.
	if c, err := Parse([]byte(`{"id":2,"leave":{"room":"lobby","presence":"x"}}`)); err != nil || c.Presence {
		t.Fatalf("leave: %+v %v", c, err)
	}
	got := string(AppendPresence(nil, 6, []PresenceUser{{"alice", 2}, {"b\"o", 1}}, 3))
	if want := `{"id":6,"ok":{"users":[{"user":"alice","connections":2},{"user":"b\"o","connections":1}],"anonymous":3}}`; got != want {
		t.Fatalf("reply %s", got)
	}
	if got := string(AppendPresence(nil, 1, nil, 0)); got != `{"id":1,"ok":{"users":[],"anonymous":0}}` {
		t.Fatalf("empty reply %s", got)
	}
	if got := string(AppendPresenceEvent(nil, "lobby", "join", "bob")); got != `{"room":"lobby","event":"join","user":"bob"}` {
		t.Fatalf("event %s", got)
	}
}
