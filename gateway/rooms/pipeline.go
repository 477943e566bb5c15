package rooms

import (
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// Commands are answered in the order they were sent, while publishes wait
// for their room worker concurrently: every command takes a place in the
// queue, and replies leave it from the front only. A join, a leave or an
// error is decided on the reader at once; a publish waits for its worker's
// answer, or its timeout. Whoever completes a command releases the queue,
// one goroutine at a time: it acts on the answers in order (publishes the
// broadcasts, so one connection's broadcasts reach its rooms in the order
// of its publishes), then sends the replies at the front. A broadcast the
// room worker asks to store (history) waits in the queue for the stream's
// acknowledgement after it was published, without holding up the next
// publishes' broadcasts: those are published behind it, in order.

// pending is one command in the queue.
type pending struct {
	ready bool // what it waits for came: its worker's answer, its ack, or a failure
	acted bool // its answer was acted on (act)
	cmd   string
	line  []byte // the reply, once known
	code  int    // its code

	// A publish in flight.
	id     uint64
	seq    uint64 // what its answer comes back as: <inbox>.<conn>.<seq>
	room   *membership
	msgID  string
	sent   time.Time
	reply  *nats.Msg // its worker's answer, then the stream's ack when storing
	worker *nats.Msg // its worker's answer, kept for Wsgw-Close while storing
	fail   error     // or why there is none
	store  bool      // waiting for the history stream's ack
}

// waitRoom waits while Window replies are pending; false once the
// connection closed.
func (s *Session) waitRoom() bool {
	for {
		s.mu.Lock()
		full := len(s.queue) >= s.cfg.Window
		s.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-s.space:
		case <-s.conn.Done():
			return false
		}
	}
}

// answer queues a reply known at once.
func (s *Session) answer(line []byte, cmd string, code int) {
	s.mu.Lock()
	if !s.ended {
		s.queue = append(s.queue, &pending{ready: true, acted: true, cmd: cmd, line: line, code: code})
	}
	s.mu.Unlock()
	s.release()
}

// publish sends cmd to its room worker as a request, exactly as a raw
// member's frame; its reply is made when it is released (see act).
func (s *Session) publish(cmd roomsproto.Command) error {
	m, ok := s.joined[cmd.Room]
	switch {
	case !ok:
		return roomsproto.ErrNotJoined
	case !m.publish:
		return roomsproto.ErrForbidden
	}
	if s.hdr == nil {
		// Built at the first publish: an idle client never pays for it.
		s.hdr = client.IdentityHeader(s.id, s.cfg.Gateway, s.user, "")
	}
	seq := s.seq.Add(1)
	p := &pending{cmd: "publish", id: cmd.ID, seq: seq, room: m, msgID: cmd.MsgID, sent: time.Now()}
	s.hdr[contract.HeaderFrame] = client.FrameKind(frameType(cmd.Binary))
	s.hdr[contract.HeaderRoom] = m.roomHdr
	if cmd.MsgID != "" {
		s.hdr[contract.HeaderMsgID] = []string{cmd.MsgID}
	} else {
		delete(s.hdr, contract.HeaderMsgID)
	}
	msg := &nats.Msg{
		Subject: m.in,
		Reply:   s.replyTo(seq),
		Header:  s.hdr,
		Data:    cmd.Body,
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	s.queue = append(s.queue, p)
	arm := !s.armed
	s.armed = true
	s.mu.Unlock()
	// PublishMsg copies the message out before it returns: the frame's
	// buffer (cmd.Body) and the headers may be reused.
	if err := s.cfg.Pub.PublishMsg(msg); err != nil {
		s.resolve(seq, nil, roomsproto.ErrUnavailable)
		return nil
	}
	if arm {
		s.arm(s.cfg.WorkerTimeout)
	}
	return nil
}

// replyTo is where the answer numbered seq comes: the gateway's inbox.
func (s *Session) replyTo(seq uint64) string {
	return s.cfg.Inbox + "." + s.id + "." + strconv.FormatUint(seq, 10)
}

func frameType(binary bool) int {
	if binary {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}

// Reply takes the worker's answer to publish seq, or the stream's ack of
// its broadcast (the gateway's inbox subscription calls it). An answer to a
// publish no longer waiting for it (it timed out) is dropped, as for raw
// members.
func (s *Session) Reply(seq uint64, msg *nats.Msg) { s.resolve(seq, msg, nil) }

// resolve completes what publish seq waits for with its answer, or err.
func (s *Session) resolve(seq uint64, msg *nats.Msg, err error) {
	var sent time.Time
	var store bool
	s.mu.Lock()
	for _, p := range s.queue {
		if p.seq == seq && !p.ready {
			p.ready, p.reply, p.fail = true, msg, err
			sent, store = p.sent, p.store
			break
		}
	}
	s.mu.Unlock()
	if sent.IsZero() {
		return
	}
	if err == nil && !store {
		s.cfg.Metrics.WorkerLatency.Observe(time.Since(sent).Seconds())
	}
	s.release()
}

// arm sets the timer for the oldest publish in flight.
func (s *Session) arm(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.expire)
		return
	}
	s.timer.Reset(d)
}

// expire fails what waited longer than the worker timeout (a worker's
// answer, or a stream's ack), and sets the timer for the next one.
func (s *Session) expire() {
	now := time.Now()
	var next time.Duration
	s.mu.Lock()
	for _, p := range s.queue {
		if p.seq == 0 || p.ready {
			continue
		}
		left := s.cfg.WorkerTimeout - now.Sub(p.sent)
		if left <= 0 {
			p.ready, p.fail = true, errTimeout
		} else if next == 0 || left < next {
			next = left
		}
	}
	s.armed = next > 0
	if s.armed && !s.ended {
		s.timer.Reset(next)
	}
	s.mu.Unlock()
	s.release()
}

// release acts on the answers that came, in order, and sends the replies
// at the front of the queue that are complete, one goroutine at a time.
func (s *Session) release() {
	s.mu.Lock()
	if s.releasing {
		s.mu.Unlock()
		return // the goroutine releasing will see what became ready
	}
	s.releasing = true
	for {
		if s.acted < len(s.queue) && s.queue[s.acted].ready {
			p := s.queue[s.acted]
			s.acted++
			if p.acted {
				continue
			}
			s.mu.Unlock()
			s.act(p)
			s.mu.Lock()
			continue
		}
		if len(s.queue) == 0 || !s.queue[0].ready || !s.queue[0].acted {
			break
		}
		p := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.acted--
		if len(s.queue) == s.cfg.Window-1 {
			select {
			case s.space <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
		s.send(p)
		s.mu.Lock()
	}
	s.releasing = false
	s.mu.Unlock()
}
