package hub

import (
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Broadcast is one message of a room, or one push to a user, as every local
// member receives it. What members send their clients is made from it once
// per message, by the first member that asks, however many members there
// are: raw members take Raw, /ws/rooms members Proto. Its methods may be
// called only from Receive (the fan-out is single-threaded); what they
// return may be kept and is never modified.
type Broadcast struct {
	Msg *nats.Msg
	// Room is the room's name; empty for a push to a user.
	Room string
	// Type is the WebSocket message type the body goes out as; 0 for a
	// push that carries no frame, only Wsgw-Close.
	Type int
	// Seq is the message's sequence number in the room's history; 0 when
	// the room has none.
	Seq uint64

	raw         *client.Broadcast
	proto       *client.Broadcast
	closeParsed bool
	hasClose    bool
	close       wsclose.Close
}

// Push reports a push to a user, as opposed to a room message.
func (b *Broadcast) Push() bool { return b.Room == "" }

// Raw is the body as it came, for raw members; nil when there is no frame.
func (b *Broadcast) Raw() *client.Broadcast {
	if b.raw == nil && b.Type != 0 {
		b.raw = client.NewBroadcast(b.Type, b.Msg.Data)
	}
	return b.raw
}

// Proto is the body as one line of the /ws/rooms protocol (a room message,
// or a push) in a text frame; nil when there is no frame.
func (b *Broadcast) Proto() *client.Broadcast {
	if b.proto == nil && b.Type != 0 {
		binary := b.Type == websocket.BinaryMessage
		var line []byte
		if b.Push() {
			line = roomsproto.AppendPush(nil, b.Msg.Data, binary)
		} else {
			line = roomsproto.AppendMessage(nil, &roomsproto.Message{
				Room: b.Room, Body: b.Msg.Data, Binary: binary, User: b.Msg.Header.Get(contract.HeaderUser), Seq: b.Seq,
			})
		}
		b.proto = client.NewBroadcast(websocket.TextMessage, line)
	}
	return b.proto
}

// Close is the close a push asks for with Wsgw-Close, after its frame.
func (b *Broadcast) Close() (wsclose.Close, bool) {
	if !b.closeParsed {
		b.closeParsed = true
		if v := b.Msg.Header.Get(contract.HeaderClose); v != "" && b.Push() {
			b.close, b.hasClose = wsclose.FromHeader(v, b.Msg.Data), true
		}
	}
	return b.close, b.hasClose
}
