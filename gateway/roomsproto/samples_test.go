package roomsproto

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/samples.json")

// samples.json holds frames this package accepts and refuses, and lines it
// writes, for .ci/asyncapi to check against the schemas of
// shared/asyncapi.yaml: the spec and the code cannot drift apart unseen.
const samplesFile = "testdata/samples.json"

type samples struct {
	Commands        []string `json:"commands"`
	InvalidCommands []string `json:"invalid_commands"` // only what a JSON schema can tell
	Messages        []string `json:"messages"`
}

func TestSamples(t *testing.T) {
	s := samples{
		Commands: []string{
			`{"id":1,"join":{"room":"lobby"}}`,
			`{"id":2,"leave":{"room":"lobby"}}`,
			`{"id":3,"publish":{"room":"lobby","data":"hello"}}`,
			`{"id":4,"publish":{"room":"lobby","b64":"AAEC"}}`,
			`{"id":5,"publish":{"room":"r","b64":"/w=="}}`,
			`{"id":6,"publish":{"room":"r","b64":"AAE="}}`,
			`{"id":7,"publish":{"room":"r","data":""}}`,
			`{"id":9007199254740991,"join":{"room":"` + strings.Repeat("z", 64) + `"},"trace":"x"}`,
			`{"id":10,"join":{"room":"lobby","since":1234}}`,
			`{"id":11,"join":{"room":"lobby","since":0}}`,
			`{"id":12,"join":{"room":"lobby","history":20}}`,
			`{"id":13,"join":{"room":"lobby","since":5,"history":100}}`,
			`{"id":14,"history":{"room":"lobby","before":1300,"limit":50}}`,
			`{"id":15,"history":{"room":"lobby"}}`,
			`{"id":16,"publish":{"room":"lobby","data":"hi","msg_id":"0b7e-4c1d"}}`,
			`{"id":17,"publish":{"room":"lobby","data":"hi","msg_id":"` + strings.Repeat("m", 64) + `"}}`,
			`{"id":18,"presence":{"room":"lobby"}}`,
			`{"id":19,"join":{"room":"lobby","presence":true,"since":7}}`,
		},
		InvalidCommands: []string{
			`{"join":{"room":"lobby"}}`,
			`{"id":0,"join":{"room":"lobby"}}`,
			`{"id":"1","join":{"room":"lobby"}}`,
			`{"id":1.5,"join":{"room":"lobby"}}`,
			`{"id":9007199254740992,"join":{"room":"lobby"}}`,
			`{"id":1}`,
			`{"id":1,"subscribe":{"room":"lobby"}}`,
			`{"id":1,"join":{"room":"lobby"},"leave":{"room":"lobby"}}`,
			`{"id":1,"join":"lobby"}`,
			`{"id":1,"join":{}}`,
			`{"id":1,"join":{"room":"a.b"}}`,
			`{"id":1,"join":{"room":""}}`,
			`{"id":1,"join":{"room":"` + strings.Repeat("z", 65) + `"}}`,
			`{"id":1,"publish":{"room":"lobby"}}`,
			`{"id":1,"publish":{"room":"lobby","data":"x","b64":"AA=="}}`,
			`{"id":1,"publish":{"room":"lobby","data":5}}`,
			`{"id":1,"publish":{"room":"lobby","b64":"AAE"}}`,
			`{"id":1,"publish":{"room":"lobby","b64":"AAF="}}`,
			`{"id":1,"publish":{"room":"lobby","b64":"AA_-"}}`,
			`{"id":1,"join":{"room":"lobby","since":-1}}`,
			`{"id":1,"join":{"room":"lobby","since":"5"}}`,
			`{"id":1,"join":{"room":"lobby","history":101}}`,
			`{"id":1,"history":{"room":"lobby","limit":0}}`,
			`{"id":1,"history":{"room":"lobby","limit":101}}`,
			`{"id":1,"history":{"room":"lobby","before":0}}`,
			`{"id":1,"publish":{"room":"lobby","data":"x","msg_id":""}}`,
			`{"id":1,"publish":{"room":"lobby","data":"x","msg_id":"` + strings.Repeat("m", 65) + `"}}`,
			`{"id":1,"publish":{"room":"lobby","data":"x","msg_id":"a b"}}`,
			`{"id":1,"join":{"room":"lobby","presence":"yes"}}`,
			`{"id":1,"presence":{}}`,
		},
	}
	for _, f := range s.Commands {
		if _, err := Parse([]byte(f)); err != nil {
			t.Errorf("Parse(%s): %v", f, err)
		}
	}
	for _, f := range s.InvalidCommands {
		if c, err := Parse([]byte(f)); err == nil {
			t.Errorf("Parse(%s) = %+v, want an error", f, c)
		}
	}
	var lines [][]byte
	add := func(b []byte) { lines = append(lines, b) }
	add(AppendOK(nil, 1))
	add(AppendPublished(nil, 3, true, 0))
	add(AppendPublished(nil, 3, false, 0))
	add(AppendPublished(nil, 3, true, 1301))
	add(AppendJoined(nil, 1, 1234, false))
	add(AppendPresence(nil, 6, []PresenceUser{{User: "alice", Connections: 2}}, 3))
	add(AppendPresenceEvent(nil, "lobby", "join", "bob"))
	add(AppendHistory(nil, 5, []Message{{Room: "lobby", Body: []byte("hi"), User: "alice", Seq: 1299}}))
	add(AppendError(nil, 0, badRequest("missing id")))
	for _, e := range []*Error{ErrUnauthorized, ErrForbidden, ErrNotJoined, ErrAlreadyJoined, ErrTooManyRooms, ErrUnavailable} {
		add(AppendError(nil, MaxID, e))
	}
	add(AppendMessage(nil, &Message{Room: "lobby", Body: []byte("hello"), User: "alice"}))
	add(AppendMessage(nil, &Message{Room: "lobby", Body: []byte{0, 1, 2}, Binary: true}))
	add(AppendMessage(nil, &Message{Room: "lobby", Body: []byte("refused"), Direct: true, User: "Zoë \"Z\""}))
	add(AppendMessage(nil, &Message{Room: "lobby", Body: []byte("a\nb\x00\"\\ é😀")}))
	add(AppendMessage(nil, &Message{Room: "lobby", Body: []byte("not UTF-8 \xff")}))
	add(AppendMessage(nil, &Message{Room: "lobby", Body: nil, Binary: true}))
	add(AppendPush(nil, []byte("you have mail"), false))
	add(AppendPush(nil, []byte{0xfb, 0xff}, true))
	for _, l := range lines {
		s.Messages = append(s.Messages, string(l))
	}

	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(samplesFile, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(samplesFile)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%s is out of date (%v): go test ./gateway/roomsproto -run TestSamples -update", samplesFile, err)
	}
}
