package roomsproto

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		frame  string
		want   Command
		binary bool
	}{
		{`{"id":1,"join":{"room":"lobby"}}`, Command{ID: 1, Op: Join, Room: "lobby"}, false},
		{`{"id":2,"leave":{"room":"lobby"}}`, Command{ID: 2, Op: Leave, Room: "lobby"}, false},
		{`{"id":3,"publish":{"room":"lobby","data":"hello"}}`, Command{ID: 3, Op: Publish, Room: "lobby", Body: []byte("hello")}, false},
		{`{"id":4,"publish":{"room":"lobby","b64":"AAEC"}}`, Command{ID: 4, Op: Publish, Room: "lobby", Body: []byte{0, 1, 2}, Binary: true}, true},
		{`{"id":5,"publish":{"room":"r","data":""}}`, Command{ID: 5, Op: Publish, Room: "r", Body: []byte{}}, false},
		{`{"id":6,"publish":{"room":"r","b64":""}}`, Command{ID: 6, Op: Publish, Room: "r", Body: []byte{}, Binary: true}, true},
		// Order of members, white space, escapes in names and values.
		{" \r\n\t{ \"join\" : { \"room\" : \"a\" } , \"id\" : 7 }\n", Command{ID: 7, Op: Join, Room: "a"}, false},
		{`{"\u0069d":8,"\u006aoin":{"r\u006fom":"\u0061b"}}`, Command{ID: 8, Op: Join, Room: "ab"}, false},
		{`{"id":9,"publish":{"room":"r","data":"a\"b\\c\n\u00e9\ud83d\ude00/"}}`, Command{ID: 9, Op: Publish, Room: "r", Body: []byte("a\"b\\c\né😀/")}, false},
		{`{"id":10,"publish":{"room":"r","data":"ünï 😀"}}`, Command{ID: 10, Op: Publish, Room: "r", Body: []byte("ünï 😀")}, false},
		// Unknown members are ignored, wherever they are and whatever they hold.
		{`{"id":11,"trace":{"join":{"room":"x"}},"join":{"room":"a","since":12,"x":[1,{"}":"]"}]},"z":null}`, Command{ID: 11, Op: Join, Room: "a", Since: 12, HasSince: true}, false},
		{`{"id":12,"subscribe":{"room":"x"},"leave":{"room":"a"}}`, Command{ID: 12, Op: Leave, Room: "a"}, false},
		// data and b64 mean nothing on join: ignored.
		{`{"id":13,"join":{"room":"a","data":5,"b64":"!"}}`, Command{ID: 13, Op: Join, Room: "a"}, false},
		// null is absent.
		{`{"id":14,"leave":null,"join":{"room":"a"}}`, Command{ID: 14, Op: Join, Room: "a"}, false},
		{`{"id":15,"publish":{"room":"a","data":null,"b64":"/w=="}}`, Command{ID: 15, Op: Publish, Room: "a", Body: []byte{0xff}, Binary: true}, true},
		{`{"id":9007199254740991,"join":{"room":"a"}}`, Command{ID: MaxID, Op: Join, Room: "a"}, false},
		{`{"id":16,"join":{"room":"` + strings.Repeat("z", 64) + `"}}`, Command{ID: 16, Op: Join, Room: strings.Repeat("z", 64)}, false},
	}
	for _, tc := range cases {
		got, err := Parse([]byte(tc.frame))
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.frame, err)
			continue
		}
		if got.ID != tc.want.ID || got.Op != tc.want.Op || got.Room != tc.want.Room ||
			string(got.Body) != string(tc.want.Body) || got.Binary != tc.binary ||
			(got.Op == Publish) != (got.Body != nil) {
			t.Errorf("Parse(%s) = %+v, want %+v", tc.frame, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		frame  string
		id     uint64 // echoed id
		reason string
	}{
		{"\xff", 0, "not valid UTF-8"},
		{`{"id":1,"publish":{"room":"a","data":"` + "\xc3" + `"}}`, 0, "not valid UTF-8"},
		{``, 0, "not JSON"},
		{`{"id":1,"join":{"room":"a"}`, 0, "not JSON"},
		{`{"id":1,"join":{"room":"a"}} {"id":2,"join":{"room":"b"}}`, 0, "not JSON"},
		{`{"id":1,"join":{"room":"a"}}` + "\n" + `{"id":2,"join":{"room":"b"}}`, 0, "not JSON"},
		{`[{"id":1,"join":{"room":"a"}}]`, 0, "not a JSON object"},
		{`"join"`, 0, "not a JSON object"},
		{`null`, 0, "not a JSON object"},
		{`{"join":{"room":"a"}}`, 0, "missing id"},
		{`{"id":null,"join":{"room":"a"}}`, 0, "missing id"},
		{`{"ID":1,"join":{"room":"a"}}`, 0, "missing id"},
		{`{"id":1,"id":2,"join":{"room":"a"}}`, 0, "duplicate id"},
		{`{"id":1,"\u0069d":1,"join":{"room":"a"}}`, 0, "duplicate id"},
		{`{"id":0,"join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":-1,"join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":1.0,"join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":1e2,"join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":"1","join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":01,"join":{"room":"a"}}`, 0, "not JSON"},
		{`{"id":9007199254740992,"join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":99999999999999999999,"join":{"room":"a"}}`, 0, "id must be"},
		{`{"id":true,"join":{"room":"a"}}`, 0, "id must be"},
		// With one valid id, it is echoed.
		{`{"id":3}`, 3, "unknown or missing command"},
		{`{"id":3,"subscribe":{"room":"a"}}`, 3, "unknown or missing command"},
		{`{"id":3,"Join":{"room":"a"}}`, 3, "unknown or missing command"},
		{`{"id":3,"join":null}`, 3, "unknown or missing command"},
		{`{"id":3,"join":{"room":"a"},"leave":{"room":"a"}}`, 3, "several commands"},
		{`{"id":3,"join":{"room":"a"},"join":{"room":"b"}}`, 3, "several commands"},
		{`{"id":3,"join":"a"}`, 3, "join must be an object"},
		{`{"id":3,"publish":[1]}`, 3, "publish must be an object"},
		{`{"id":3,"join":{}}`, 3, "missing room"},
		{`{"id":3,"join":{"room":null}}`, 3, "missing room"},
		{`{"id":3,"join":{"room":5}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":""}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":"a.b"}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":"*"}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":">"}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":"caf\u00e9"}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":"` + strings.Repeat("z", 65) + `"}}`, 3, "bad room name"},
		{`{"id":3,"join":{"room":"a","room":"b"}}`, 3, "duplicate room"},
		{`{"id":3,"publish":{"room":"a"}}`, 3, "publish needs data or b64"},
		{`{"id":3,"publish":{"room":"a","data":"x","b64":"AA=="}}`, 3, "both data and b64"},
		{`{"id":3,"publish":{"room":"a","data":"x","data":"y"}}`, 3, "duplicate data"},
		{`{"id":3,"publish":{"room":"a","data":5}}`, 3, "data must be a string"},
		{`{"id":3,"publish":{"room":"a","b64":[]}}`, 3, "b64 must be a string"},
		{`{"id":3,"publish":{"room":"a","b64":"AAE"}}`, 3, "bad base64"},    // unpadded
		{`{"id":3,"publish":{"room":"a","b64":"AAF="}}`, 3, "bad base64"},   // trailing bits
		{`{"id":3,"publish":{"room":"a","b64":"AA\nEC"}}`, 3, "bad base64"}, // line break
		{`{"id":3,"publish":{"room":"a","b64":"AA_-"}}`, 3, "bad base64"},   // base64url
		{`{"id":3,"publish":{"room":"a","b64":"!!!!"}}`, 3, "bad base64"},
	}
	for _, tc := range cases {
		got, err := Parse([]byte(tc.frame))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%s) = %+v, %v; want a 400 error", tc.frame, got, err)
			continue
		}
		if e.Code != CodeBadRequest || !strings.Contains(e.Reason, tc.reason) || got.ID != tc.id {
			t.Errorf("Parse(%s): id %d, %v; want id %d, 400 %q", tc.frame, got.ID, err, tc.id, tc.reason)
		}
	}
}

// Body shares the frame's memory only where that is documented, and never
// lets an append write into the frame.
func TestParseBodyCapped(t *testing.T) {
	frame := []byte(`{"id":1,"publish":{"room":"a","data":"hello"}}`)
	c, err := Parse(frame)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(c.Body, "XXXXXXXX"...)
	if string(frame) != `{"id":1,"publish":{"room":"a","data":"hello"}}` {
		t.Fatalf("appending to Body changed the frame: %s", frame)
	}
}

func BenchmarkParse(b *testing.B) {
	frame := []byte(`{"id":12345,"publish":{"room":"lobby","data":"` + strings.Repeat("hello world ", 10) + `"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := Parse(frame); err != nil {
			b.Fatal(err)
		}
	}
}
