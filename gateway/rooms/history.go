package rooms

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/history"
	"github.com/wsgate/wsgate/gateway/hub"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// Rooms with history (the room worker answers with Wsgw-Store): a publish
// is acknowledged once the stream stored its broadcast, with its seq; a
// join says where the room stands (seq) and may first deliver what the
// client missed (since) or the last messages (history); every message is
// delivered once, in seq order. Each joined room is tracked: while a join
// catches up, the room's live messages wait in the track (bounded; past
// the bound they are read again from the stream); then the track delivers
// only messages newer than the last one the client got.

// maxWaiting bounds the live messages a catching-up join holds; past it,
// they are read from the stream instead.
const maxWaiting = 1024

// maxFrame is about the most a catch-up frame holds: several lines per
// frame, as the protocol allows, without making one huge frame.
const maxFrame = 64 << 10

// Reasons of the 503 answers that concern history.
var (
	errNotStored = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "not stored"}
	errHistory   = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "history unavailable"}
)

// track is what a session delivered of one joined room.
type track struct {
	live     bool
	last     uint64              // the last seq the client got
	waiting  []*client.Broadcast // live messages during catch-up, with their seq
	seqs     []uint64
	overflow bool // some were not kept: read them from the stream
}

// sequenced delivers a room message that has a seq, once and in order, or
// keeps it while its room catches up. false: the room is not tracked.
func (s *Session) sequenced(b *hub.Broadcast) bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	t := s.tracks[b.Room]
	if t == nil {
		return false
	}
	if !t.live {
		if len(t.waiting) < maxWaiting {
			// Made here: a Broadcast's lines are made on the fan-out only.
			t.waiting, t.seqs = append(t.waiting, b.Proto()), append(t.seqs, b.Seq)
		} else {
			t.overflow = true
		}
		return true
	}
	if b.Seq > t.last {
		t.last = b.Seq
		if p := b.Proto(); p != nil {
			s.conn.SendPrepared(p)
		}
	}
	return true
}

// catchUp runs after the hub join of a room with history: it delivers
// what cmd asks for from the stream, then what arrived live meanwhile, and
// makes the track live. It returns the join's reply; history.ErrOff when
// the room has no history.
func (s *Session) catchUp(ctx context.Context, cmd roomsproto.Command, m *membership, t *track) ([]byte, error) {
	var (
		frame     []byte
		recovered = true
		last      uint64 // the last seq delivered
		err       error
	)
	flush := func() {
		if len(frame) > 0 {
			s.conn.Send(websocket.TextMessage, frame)
			frame = nil
		}
	}
	emit := func(msg history.Msg) {
		sm, ok := s.storedMessage(m.room, msg)
		last = msg.Seq
		if !ok {
			return
		}
		line := roomsproto.AppendMessage(nil, &sm)
		if len(frame) > 0 {
			if len(frame)+len(line) > maxFrame {
				flush()
			} else {
				frame = append(frame, roomsproto.Separator)
			}
		}
		frame = append(frame, line...)
	}
	switch {
	case cmd.HasSince:
		// Message since itself still stored on the room's subject proves
		// nothing after it was removed (the stream removes the oldest
		// first). Since 0: everything stored; recovered unless the room
		// is full (its oldest messages may have been pushed out).
		first, n := true, 0
		err = s.cfg.History.Range(ctx, m.log, max(cmd.Since, 1), func(msg history.Msg) bool {
			if first && cmd.Since > 0 {
				first = false
				if msg.Seq == cmd.Since {
					last = msg.Seq
					return true
				}
				recovered = false
			}
			n++
			emit(msg)
			return true
		})
		if err == nil && cmd.Since > 0 && first {
			recovered = false // since is gone, and nothing after it is left
		}
		if err == nil && cmd.Since == 0 {
			recovered, err = s.notFull(ctx, n)
		}
	case cmd.History > 0:
		var lastN []history.Msg
		lastN, err = s.lastMessages(ctx, m.log, 0, cmd.History)
		for _, msg := range lastN {
			emit(msg)
		}
	}
	if err == nil && last == 0 {
		// Nothing delivered, nor since found: where the room stands.
		last, err = s.cfg.History.Last(ctx, m.log)
	}
	if err != nil {
		return nil, err
	}
	for range 3 {
		s.rmu.Lock()
		if t.overflow {
			// Too much arrived meanwhile: read it from the stream.
			t.overflow, t.waiting, t.seqs = false, nil, nil
			s.rmu.Unlock()
			if err := s.cfg.History.Range(ctx, m.log, last+1, func(msg history.Msg) bool { emit(msg); return true }); err != nil {
				return nil, err
			}
			continue
		}
		flush()
		for i, b := range t.waiting {
			if t.seqs[i] > last && b != nil {
				s.conn.SendPrepared(b)
				last = t.seqs[i]
			}
		}
		t.live, t.last, t.waiting, t.seqs = true, last, nil, nil
		s.rmu.Unlock()
		return roomsproto.AppendJoined(nil, cmd.ID, last, recovered), nil
	}
	return nil, errHistory
}

// notFull reports whether the room holds fewer messages than the stream
// keeps per room: then none was pushed out.
func (s *Session) notFull(ctx context.Context, n int) (bool, error) {
	limit, err := s.cfg.History.Limit(ctx)
	if err != nil {
		return false, err
	}
	return limit <= 0 || int64(n) < limit, nil
}

// lastMessages reads the last limit messages stored on subject before seq
// before (0: none), oldest first.
func (s *Session) lastMessages(ctx context.Context, subject string, before uint64, limit int) ([]history.Msg, error) {
	ring := make([]history.Msg, 0, limit)
	start := 0
	err := s.cfg.History.Range(ctx, subject, 1, func(msg history.Msg) bool {
		if before != 0 && msg.Seq >= before {
			return false
		}
		if len(ring) < limit {
			ring = append(ring, msg)
		} else {
			ring[start] = msg
			start = (start + 1) % limit
		}
		return true
	})
	return append(ring[start:], ring[:start]...), err
}

// storedMessage is a stored message as the room's live members get it; false when
// no client may get it, decided as for a live broadcast (Outbound.Broadcast,
// the hub's Check).
func (s *Session) storedMessage(room string, msg history.Msg) (roomsproto.Message, bool) {
	typ, ok := s.cfg.Outbound.Broadcast(&nats.Msg{Subject: room, Header: msg.Header, Data: msg.Data})
	if !ok {
		return roomsproto.Message{}, false
	}
	return roomsproto.Message{
		Room: room, Body: msg.Data, Binary: typ == websocket.BinaryMessage,
		User: msg.Header.Get(contract.HeaderUser), Seq: msg.Seq,
	}, true
}

// historyCmd answers the history command: allowed to whoever may join the
// room. With history off the list is empty.
func (s *Session) historyCmd(cmd roomsproto.Command) error {
	if _, ok := s.joined[cmd.Room]; !ok {
		if _, err := s.auth.Authorize(doneCtx{s.conn.Done()}, cmd.Room); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(doneCtx{s.conn.Done()}, s.cfg.WorkerTimeout)
	defer cancel()
	var msgs []roomsproto.Message
	if s.cfg.History != nil {
		stored, err := s.lastMessages(ctx, contract.RoomLog(s.cfg.Base, cmd.Room), cmd.Before, cmd.History)
		if err != nil && !errors.Is(err, history.ErrOff) {
			s.cfg.Log.Warn("rooms: history unavailable", "conn", s.id, "room", cmd.Room, "err", err)
			return errHistory
		}
		for _, msg := range stored {
			if m, ok := s.storedMessage(cmd.Room, msg); ok {
				msgs = append(msgs, m)
			}
		}
	}
	s.answer(roomsproto.AppendHistory(nil, cmd.ID, msgs), "history", 200)
	return nil
}

// store publishes a publish's broadcast to the room's history, with the
// client's msg_id as its deduplication id, and waits for the stream's
// acknowledgement (send makes the reply from it).
func (s *Session) store(p *pending, worker *nats.Msg) {
	b, ok := s.message(p.room, worker)
	if !ok {
		s.mu.Lock()
		p.acted, p.line, p.code, p.worker = true, roomsproto.AppendPublished(nil, p.id, false, 0), 200, worker
		s.mu.Unlock()
		return
	}
	seq := s.seq.Add(1)
	b.Subject, b.Reply = p.room.log, s.replyTo(seq)
	if p.msgID != "" {
		b.Header[contract.HeaderNatsMsgID] = []string{dedupeID(p.room.room, s.user, p.msgID)}
	}
	s.mu.Lock()
	p.acted, p.store, p.ready, p.seq, p.worker, p.reply, p.sent = true, true, false, seq, worker, nil, time.Now()
	arm := !s.armed
	s.armed = true
	s.mu.Unlock()
	err := s.cfg.Pub.PublishMsg(b)
	b.Data, b.Reply = nil, ""
	delete(b.Header, contract.HeaderNatsMsgID)
	if err != nil {
		s.cfg.Log.Warn("rooms: broadcast not stored", "conn", s.id, "room", p.room.room, "err", err)
		s.resolve(seq, nil, roomsproto.ErrUnavailable)
	}
	if arm {
		s.arm(s.cfg.WorkerTimeout)
	}
}

// stored is a stored publish's reply, from the stream's acknowledgement.
func (s *Session) stored(p *pending) ([]byte, int) {
	if closed(s.conn.Done()) {
		return nil, 0
	}
	if p.fail != nil {
		// Perhaps stored, perhaps not: a retry with the same msg_id is
		// stored once either way.
		return roomsproto.AppendError(nil, p.id, errNotStored), errNotStored.Code
	}
	var ack struct {
		Seq   uint64    `json:"seq"`
		Error *struct{} `json:"error"`
	}
	if p.reply.Header.Get("Status") != "" || json.Unmarshal(p.reply.Data, &ack) != nil || ack.Error != nil || ack.Seq == 0 {
		s.cfg.Log.Warn("rooms: broadcast not stored", "conn", s.id, "room", p.room.room,
			"status", p.reply.Header.Get("Status"), "answer", string(p.reply.Data))
		return roomsproto.AppendError(nil, p.id, errHistory), errHistory.Code
	}
	return roomsproto.AppendPublished(nil, p.id, true, ack.Seq), 200
}

// dedupeID is the stream's deduplication id of a client's msg_id: scoped to
// the room and the user, so that no one can suppress another's message.
func dedupeID(room, user, msgID string) string {
	h := sha256.New()
	for _, f := range []string{room, user, msgID} {
		h.Write(binary.AppendUvarint(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}
