package roomsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	cases := []struct {
		got  []byte
		want string
	}{
		{AppendMessage(nil, &Message{Room: "lobby", Body: []byte("hello"), User: "alice"}),
			`{"room":"lobby","data":"hello","user":"alice"}`},
		{AppendMessage(nil, &Message{Room: "lobby", Body: []byte("hi")}),
			`{"room":"lobby","data":"hi"}`},
		{AppendMessage(nil, &Message{Room: "lobby", Body: []byte{0, 1, 2}, Binary: true}),
			`{"room":"lobby","b64":"AAEC"}`},
		{AppendMessage(nil, &Message{Room: "r", Body: []byte("no"), Direct: true}),
			`{"room":"r","data":"no","direct":true}`},
		{AppendMessage(nil, &Message{Room: "r", Body: nil}),
			`{"room":"r","data":""}`},
		{AppendMessage(nil, &Message{Room: "r", Body: []byte("a\"b\\c\nd\re\tf\x00\x1f\x7f</é😀\u2028")}),
			`{"room":"r","data":"a\"b\\c\nd\re\tf\u0000\u001f` + "\x7f</é😀\u2028" + `"}`},
		// Text that is not UTF-8 goes as b64, byte for byte.
		{AppendMessage(nil, &Message{Room: "r", Body: []byte("ok\xff")}),
			`{"room":"r","b64":"b2v/"}`},
		// A user id that is not UTF-8 cannot break the line.
		{AppendMessage(nil, &Message{Room: "r", Body: []byte("x"), User: "a\xffb\"\n"}),
			`{"room":"r","data":"x","user":"a\ufffdb\"\n"}`},
		{AppendPush(nil, []byte("hi"), false), `{"push":{"data":"hi"}}`},
		{AppendPush(nil, []byte{0xfb, 0xff}, true), `{"push":{"b64":"+/8="}}`},
		{AppendPush(nil, []byte("\xc3("), false), `{"push":{"b64":"wyg="}}`},
		{AppendOK(nil, 1), `{"id":1,"ok":{}}`},
		{AppendPublished(nil, 3, true, 0), `{"id":3,"ok":{"broadcast":true}}`},
		{AppendPublished(nil, 3, false, 0), `{"id":3,"ok":{"broadcast":false}}`},
		{AppendPublished(nil, 3, true, 1301), `{"id":3,"ok":{"broadcast":true,"seq":1301}}`},
		{AppendJoined(nil, 1, 1234, true), `{"id":1,"ok":{"seq":1234,"recovered":true}}`},
		{AppendJoined(nil, 1, 0, false), `{"id":1,"ok":{"seq":0,"recovered":false}}`},
		{AppendMessage(nil, &Message{Room: "r", Body: []byte("x"), User: "u", Seq: 7}), `{"room":"r","data":"x","user":"u","seq":7}`},
		{AppendHistory(nil, 5, nil), `{"id":5,"ok":{"messages":[]}}`},
		{AppendHistory(nil, 5, []Message{{Room: "r", Body: []byte("a"), Seq: 1}, {Room: "r", Body: []byte{1}, Binary: true, Seq: 9}}),
			`{"id":5,"ok":{"messages":[{"room":"r","data":"a","seq":1},{"room":"r","b64":"AQ==","seq":9}]}}`},
		{AppendError(nil, 2, ErrNotJoined), `{"id":2,"error":{"code":404,"reason":"room not joined"}}`},
		{AppendError(nil, 0, badRequest("missing id")), `{"id":0,"error":{"code":400,"reason":"missing id"}}`},
		{AppendError(nil, MaxID, fmt.Errorf("join: %w", ErrForbidden)), `{"id":9007199254740991,"error":{"code":403,"reason":"not allowed"}}`},
		// Any other error fails closed, without its text.
		{AppendError(nil, 5, errors.New("nats: connection closed")), `{"id":5,"error":{"code":503,"reason":"unavailable"}}`},
		// Appending keeps what dst held.
		{AppendOK([]byte("x\n"), 7), "x\n" + `{"id":7,"ok":{}}`},
	}
	for _, tc := range cases {
		if string(tc.got) != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
		line := bytes.TrimPrefix(tc.got, []byte("x\n"))
		if !json.Valid(line) || bytes.IndexByte(line, '\n') >= 0 {
			t.Errorf("not one line of valid JSON: %q", tc.got)
		}
	}
}

// Several messages in one frame, as a client splits them.
func TestDecodeFrame(t *testing.T) {
	var frame []byte
	frame = AppendPublished(frame, 3, true, 0)
	frame = append(frame, Separator)
	frame = AppendMessage(frame, &Message{Room: "lobby", Body: []byte("a\nb"), User: "alice"})
	frame = append(frame, Separator)
	frame = AppendMessage(frame, &Message{Room: "lobby", Body: []byte{1, 2}, Binary: true, Direct: true})
	frame = append(frame, Separator)
	frame = AppendPush(frame, []byte("p"), false)
	frame = append(frame, Separator)
	frame = AppendError(frame, 4, ErrAlreadyJoined)
	msgs, err := Decode(frame)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("Decode: %d messages, %v", len(msgs), err)
	}
	if msgs[0].ID == nil || *msgs[0].ID != 3 || string(msgs[0].OK) != `{"broadcast":true}` || msgs[0].Error != nil {
		t.Errorf("reply: %+v", msgs[0])
	}
	if b, bin, err := msgs[1].Body(); err != nil || bin || string(b) != "a\nb" || msgs[1].Room != "lobby" || msgs[1].User != "alice" || msgs[1].Direct {
		t.Errorf("text message: %+v %q %v %v", msgs[1], b, bin, err)
	}
	if b, bin, err := msgs[2].Body(); err != nil || !bin || !bytes.Equal(b, []byte{1, 2}) || !msgs[2].Direct || msgs[2].User != "" {
		t.Errorf("binary message: %+v %q %v %v", msgs[2], b, bin, err)
	}
	if b, bin, err := msgs[3].Body(); err != nil || bin || string(b) != "p" || msgs[3].Push == nil {
		t.Errorf("push: %+v %q %v %v", msgs[3], b, bin, err)
	}
	if e := msgs[4].Error; e == nil || *msgs[4].ID != 4 || e.Code != CodeConflict || e.Reason != "room already joined" {
		t.Errorf("error: %+v", msgs[4])
	}
	if _, err := Decode([]byte("{\"id\":1,\"ok\":{}}\n\n")); err == nil {
		t.Error("Decode accepted an empty line")
	}
}

func TestAsError(t *testing.T) {
	if AsError(nil) != ErrUnavailable || AsError((*Error)(nil)) != ErrUnavailable {
		t.Error("nil errors must fail closed")
	}
	if e := AsError(fmt.Errorf("a: %w", ErrTooManyRooms)); e != ErrTooManyRooms {
		t.Errorf("wrapped: %v", e)
	}
	if ErrTooManyRooms.Error() != "429 too many rooms" {
		t.Errorf("Error() = %q", ErrTooManyRooms.Error())
	}
}

var sink []byte

// The hot path: one room message, encoded once for all its members, into a
// reused buffer (0 allocations) and into a fresh one (1).
func BenchmarkAppendMessage(b *testing.B) {
	text := []byte(strings.Repeat("hello wörld ", 10)) // 130 bytes
	big := bytes.Repeat(text, 8)                       // 1 KiB
	escaped := []byte(strings.Repeat(`say "hi"\n`, 13))
	bin := bytes.Repeat([]byte{0, 1, 2, 0xff}, 256)
	for _, bc := range []struct {
		name string
		m    Message
	}{
		{"text128", Message{Room: "lobby", Body: text, User: "alice"}},
		{"text1k", Message{Room: "lobby", Body: big, User: "alice"}},
		{"escaped128", Message{Room: "lobby", Body: escaped, User: "alice"}},
		{"binary1k", Message{Room: "lobby", Body: bin, Binary: true, User: "alice"}},
	} {
		b.Run(bc.name+"/reuse", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.m.Body)))
			var buf []byte
			for b.Loop() {
				buf = AppendMessage(buf[:0], &bc.m)
			}
			sink = buf
		})
		b.Run(bc.name+"/fresh", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.m.Body)))
			for b.Loop() {
				sink = AppendMessage(nil, &bc.m)
			}
		})
	}
}

// For comparison: what encoding/json would cost for the same envelope.
func BenchmarkAppendMessageStdlib(b *testing.B) {
	type msg struct {
		Room string `json:"room"`
		Data string `json:"data"`
		User string `json:"user,omitempty"`
	}
	body := []byte(strings.Repeat("hello wörld ", 10))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sink, _ = json.Marshal(msg{Room: "lobby", Data: string(body), User: "alice"})
	}
}
