package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/roomsproto"
)

// rc is a /ws/rooms client as the tests play it: it numbers its commands
// and sorts what arrives into replies, by id, and the rest (room messages
// and pushes), in order of arrival.
type rc struct {
	t       testing.TB
	ws      *websocket.Conn
	id      uint64
	replies map[uint64]roomsproto.Received
	order   []uint64              // ids of the replies, in order of arrival
	zero    []roomsproto.Received // replies with id 0, to frames without a valid id
	msgs    []roomsproto.Received
}

func dialRooms(t testing.TB, base string, hdr http.Header) *rc {
	t.Helper()
	return &rc{t: t, ws: dial(t, base+"/ws/rooms", hdr), replies: map[uint64]roomsproto.Received{}}
}

// raw sends a text frame as is.
func (c *rc) raw(frame string) {
	c.t.Helper()
	send(c.t, c.ws, websocket.TextMessage, frame)
}

// cmd sends {"id":<next>,"<op>":<arg>} and returns the id.
func (c *rc) cmd(op string, arg any) uint64 {
	c.t.Helper()
	c.id++
	b, err := json.Marshal(map[string]any{"id": c.id, op: arg})
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(string(b))
	return c.id
}

// pull reads one frame and sorts its lines.
func (c *rc) pull() {
	c.t.Helper()
	typ, frame := read(c.t, c.ws)
	if typ != websocket.TextMessage {
		c.t.Fatalf("/ws/rooms sent a binary frame: %q", frame)
	}
	msgs, err := roomsproto.Decode([]byte(frame))
	if err != nil {
		c.t.Fatalf("undecodable frame %q: %v", frame, err)
	}
	for _, m := range msgs {
		if m.ID != nil && *m.ID == 0 {
			c.zero = append(c.zero, m)
			c.order = append(c.order, 0)
			continue
		}
		if m.ID != nil {
			if _, dup := c.replies[*m.ID]; dup {
				c.t.Fatalf("a second reply for id %d: %q", *m.ID, frame)
			}
			c.replies[*m.ID] = m
			c.order = append(c.order, *m.ID)
			continue
		}
		c.msgs = append(c.msgs, m)
	}
}

// reply waits for the reply to id.
func (c *rc) reply(id uint64) roomsproto.Received {
	c.t.Helper()
	for {
		if r, ok := c.replies[id]; ok {
			return r
		}
		c.pull()
	}
}

// zeroReply waits for the next reply with id 0 and returns its error.
func (c *rc) zeroReply() *roomsproto.Error {
	c.t.Helper()
	for len(c.zero) == 0 {
		c.pull()
	}
	r := c.zero[0]
	c.zero = c.zero[1:]
	if r.Error == nil || r.OK != nil {
		c.t.Fatalf("reply with id 0 is not an error: %+v", r)
	}
	return r.Error
}

// result waits for the reply to id: its ok, or its error.
func (c *rc) result(id uint64) (json.RawMessage, *roomsproto.Error) {
	c.t.Helper()
	r := c.reply(id)
	if (r.OK == nil) == (r.Error == nil) {
		c.t.Fatalf("reply %d has neither or both of ok and error: %+v", id, r)
	}
	return r.OK, r.Error
}

// ok runs a command that must succeed and returns its result.
func (c *rc) ok(op string, arg any) string {
	c.t.Helper()
	ok, e := c.result(c.cmd(op, arg))
	if e != nil {
		c.t.Fatalf("%s %v: error %d %s", op, arg, e.Code, e.Reason)
	}
	return string(ok)
}

// fails runs a command that must fail with code, and returns the reason.
func (c *rc) fails(code int, op string, arg any) string {
	c.t.Helper()
	return c.failsID(code, c.cmd(op, arg))
}

func (c *rc) failsID(code int, id uint64) string {
	c.t.Helper()
	ok, e := c.result(id)
	if e == nil || e.Code != code {
		c.t.Fatalf("command %d: ok %s, error %+v; want error %d", id, ok, e, code)
	}
	return e.Reason
}

func (c *rc) join(room string) { c.t.Helper(); c.ok("join", map[string]string{"room": room}) }

func (c *rc) publish(room, data string) string {
	c.t.Helper()
	return c.ok("publish", map[string]string{"room": room, "data": data})
}

func (c *rc) publishBin(room string, body []byte) string {
	c.t.Helper()
	return c.ok("publish", map[string]string{"room": room, "b64": base64.StdEncoding.EncodeToString(body)})
}

// message waits for the next room message or push.
func (c *rc) message() roomsproto.Received {
	c.t.Helper()
	for len(c.msgs) == 0 {
		c.pull()
	}
	m := c.msgs[0]
	c.msgs = c.msgs[1:]
	return m
}

// expect waits for the next room message or push and checks it: room ("" for
// a push), body and its kind, user, direct.
func (c *rc) expect(room, body string, binary bool, user string, direct bool) {
	c.t.Helper()
	m := c.message()
	got, bin, err := m.Body()
	isPush := m.Push != nil
	if err != nil || string(got) != body || bin != binary || m.Room != room || m.User != user || m.Direct != direct || isPush != (room == "") {
		c.t.Fatalf("got %s; want room %q body %q binary %v user %q direct %v",
			describe(m), room, body, binary, user, direct)
	}
}

func describe(m roomsproto.Received) string {
	b, _, err := m.Body()
	return fmt.Sprintf("{room %q body %q err %v user %q direct %v push %v}", m.Room, b, err, m.User, m.Direct, m.Push != nil)
}

// within bounds how long a test waits for a frame that must come.
const within = 5 * time.Second

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
