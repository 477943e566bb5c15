package contract

import "testing"

func TestPresenceKeys(t *testing.T) {
	for _, k := range []PresenceKey{
		{Kind: 'g', Gateway: "4MrYKPVzmGMGTQzCHTvH2q"},
		{Kind: 'c', Gateway: "G1", Conn: "1a"},
		{Kind: 'm', Gateway: "G1", Conn: "1a", Room: "team-a_1"},
	} {
		var key string
		switch k.Kind {
		case 'g':
			key = PresenceGatewayKey(k.Gateway)
		case 'c':
			key = PresenceConnKey(k.Gateway, k.Conn)
		default:
			key = PresenceMemberKey(k.Room, k.Gateway, k.Conn)
		}
		if got, ok := ParsePresenceKey(key); !ok || got != k {
			t.Errorf("%s: %+v %v", key, got, ok)
		}
	}
	for _, bad := range []string{"", "g", "g.", "x.G", "c.G", "c.G.1.2", "m.a.b.G.1", "m.bad!.G.1", "c.G-1.1", "g.G.", "m..G.1"} {
		if k, ok := ParsePresenceKey(bad); ok {
			t.Errorf("%q parsed: %+v", bad, k)
		}
	}
	if JoinID("G", "1a", 3) != "G.1a.j3" || LeaveID("G", "1a", 3) != "G.1a.l3" || ConnectID("G", "1a") != "G.1a.c" || DisconnectID("G", "1a") != "G.1a.d" {
		t.Fatal("event ids")
	}
}
