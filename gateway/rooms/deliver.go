package rooms

import (
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/hub"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Reasons of the 503 answers to a publish, for the client and the tests.
var (
	errNoWorker    = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "no room worker"}
	errWorkerError = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "worker error"}
)

// act computes a publish's reply from its worker's answer, in the order of
// the publishes, and acts on the answer as for a raw member: the broadcast
// is published (or stored, see store), a frame for the sender alone comes
// as a "direct" room message (in the same frame, before the reply).
// Wsgw-Close closes the socket once the reply is sent (send).
func (s *Session) act(p *pending) {
	done := func(line []byte, code int) {
		s.mu.Lock()
		p.acted, p.line, p.code, p.worker = true, line, code, p.reply
		s.mu.Unlock()
	}
	if closed(s.conn.Done()) {
		// The client is gone: the answer is not wanted, and its broadcast
		// is not published (as for a raw member).
		done(nil, 0)
		return
	}
	msg := p.reply
	switch {
	case p.fail != nil:
		if p.fail == errTimeout {
			s.cfg.Metrics.WorkerTimeouts.Inc()
		}
		e := roomsproto.AsError(p.fail)
		done(roomsproto.AppendError(nil, p.id, e), e.Code)
	case msg.Header.Get("Status") == "503":
		// NATS "no responders": no room worker subscribes.
		s.cfg.Metrics.NoResponders.Inc()
		done(roomsproto.AppendError(nil, p.id, errNoWorker), errNoWorker.Code)
	case s.cfg.Outbound.ServiceError(msg):
		// The worker's description is for operators, not for the client.
		done(roomsproto.AppendError(nil, p.id, errWorkerError), errWorkerError.Code)
	case msg.Header.Get(contract.HeaderBroadcast) != "" && msg.Header.Get(contract.HeaderStore) != "":
		s.store(p, msg)
	case msg.Header.Get(contract.HeaderBroadcast) != "":
		ok, err := s.broadcast(p.room, msg)
		if err != nil {
			done(roomsproto.AppendError(nil, p.id, roomsproto.ErrUnavailable), roomsproto.CodeUnavailable)
		} else {
			done(roomsproto.AppendPublished(nil, p.id, ok, 0), 200)
		}
	default:
		// Declined (moderated); a frame, if any, is for the sender alone.
		var line []byte
		if typ, ok := s.cfg.Outbound.Frame(msg, "reply"); ok {
			line = roomsproto.AppendMessage(line, &roomsproto.Message{
				Room: p.room.room, Body: msg.Data, Binary: typ == websocket.BinaryMessage, Direct: true,
			})
			line = append(line, roomsproto.Separator)
		}
		done(roomsproto.AppendPublished(line, p.id, false, 0), 200)
	}
}

// send writes a completed command's reply, then closes the socket if its
// worker asked to.
func (s *Session) send(p *pending) {
	if p.store {
		p.line, p.code = s.stored(p)
	}
	if p.line == nil {
		return // the client is gone
	}
	s.count(p.cmd, p.code)
	s.conn.Send(websocket.TextMessage, p.line)
	if p.worker != nil {
		s.closeIfAsked(p.worker)
	}
}

// broadcast publishes a room worker's answer to the room, with the identity
// only the gateway vouches for, exactly as for a raw member. done is false
// when the body could reach no member (it is dropped and counted).
func (s *Session) broadcast(m *membership, reply *nats.Msg) (done bool, err error) {
	b, ok := s.message(m, reply)
	if !ok {
		return false, nil
	}
	b.Subject = m.out
	err = s.cfg.Pub.PublishMsg(b)
	b.Data = nil
	if err != nil {
		s.cfg.Log.Warn("rooms: broadcast not published", "conn", s.id, "room", m.room, "err", err)
		return false, err
	}
	return true, nil
}

// message makes the broadcast of a room worker's answer (in s.bcast, its
// headers reused): false when its body could reach no member.
func (s *Session) message(m *membership, reply *nats.Msg) (*nats.Msg, bool) {
	typ, ok := s.cfg.Outbound.Broadcast(reply)
	if !ok {
		return nil, false
	}
	b := &s.bcast
	if b.Header == nil {
		b.Header = client.IdentityHeader(s.id, s.cfg.Gateway, s.user, "")
	}
	b.Header[contract.HeaderRoom] = m.roomHdr
	b.Header[contract.HeaderFrame] = client.FrameKind(typ)
	b.Data = reply.Data
	return b, true
}

// Receive queues a room message or a push for the client (hub.Member): the
// line is encoded once per message for every protocol member.
func (s *Session) Receive(b *hub.Broadcast) {
	if b.Seq != 0 && s.sequenced(b) {
		return
	}
	if p := b.Proto(); p != nil {
		s.conn.SendPrepared(p)
	}
	if cl, ok := b.Close(); ok {
		s.conn.Close(cl)
	}
}

// Push delivers a message sent to this connection alone (on the gateway's
// inbox) as a push: {"push":{"data":...}}, then closes if it has
// Wsgw-Close.
func (s *Session) Push(msg *nats.Msg) {
	if typ, ok := s.cfg.Outbound.Frame(msg, "push"); ok {
		s.conn.Send(websocket.TextMessage, roomsproto.AppendPush(nil, msg.Data, typ == websocket.BinaryMessage))
	}
	s.closeIfAsked(msg)
}

func (s *Session) closeIfAsked(msg *nats.Msg) {
	if v := msg.Header.Get(contract.HeaderClose); v != "" {
		s.conn.Close(wsclose.FromHeader(v, msg.Data))
	}
}

// count records a command's outcome.
func (s *Session) count(cmd string, code int) {
	if s.cfg.Metrics.Commands != nil {
		s.cfg.Metrics.Commands.WithLabelValues(cmd, codeLabel(code)).Inc()
	}
}

func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case roomsproto.CodeBadRequest:
		return "400"
	case roomsproto.CodeUnauthorized:
		return "401"
	case roomsproto.CodeForbidden:
		return "403"
	case roomsproto.CodeNotFound:
		return "404"
	case roomsproto.CodeConflict:
		return "409"
	case roomsproto.CodeTooManyRooms:
		return "429"
	}
	return "503"
}
