// Package rooms is the gateway's side of the multiplexed /ws/rooms
// protocol: a Session owns one connection's room memberships, runs its
// commands (join, leave, publish; wire format in package roomsproto) and
// answers each one, in the order the commands were sent. It is the
// connection's hub member, so room messages and pushes reach it, encoded
// once per message for all protocol members (hub.Broadcast.Proto).
//
// A session speaks to workers exactly as raw members do: a publish is the
// request a raw member's frame would be (same subject, headers and reply
// subject scheme), and a room worker's Wsgw-Broadcast answer is published
// by the gateway, in order. Workers cannot tell the two kinds of member
// apart.
package rooms

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/history"
	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Conn is what a session needs of its connection (a *client.Conn).
type Conn interface {
	Send(typ int, data []byte)
	SendPrepared(b *client.Broadcast)
	Close(wsclose.Close)
	Abort()
	Done() <-chan struct{}
}

// Rooms is where a session takes and gives back room memberships: the
// gateway's hub, with the session as the member. Join returns once the
// member receives every broadcast on subject sent after it.
type Rooms interface {
	Join(subject string) error
	Leave(subject string)
}

// Authorizer decides joins: exactly as it would decide a handshake to the
// room route with the session's credential. It returns whether the member
// may publish there, or roomsproto.ErrUnauthorized, ErrForbidden, or any
// other error for "no decision" (fail closed: 503).
type Authorizer interface {
	Authorize(ctx context.Context, room string) (mayPublish bool, err error)
}

// Options are what the sessions of one route share.
type Options struct {
	Gateway  string // the gateway's id
	Base     string // the route's subject base: rooms are <Base>.in|out.<room>
	Inbox    string // the gateway's inbox: replies come on <Inbox>.<conn>.<seq>
	MaxRooms int    // GATEWAY_MAX_ROOMS_PER_CONNECTION
	// Window bounds the commands whose reply is not sent yet; the reader
	// waits for room past it.
	Window        int
	WorkerTimeout time.Duration // how long a publish waits for its room worker
	Pub           client.Publisher
	Outbound      *client.Outbound // vets worker replies, as for raw members
	Metrics       *metrics.Gateway
	Log           *slog.Logger
	// History reads the rooms' history stream; nil turns history off at
	// this gateway (rooms behave as without it).
	History history.Store
}

// Session is one /ws/rooms connection's protocol state.
type Session struct {
	cfg      *Options
	conn     Conn
	id, user string // the connection's id and user (empty: anonymous)
	rooms    Rooms
	auth     Authorizer
	pres     presenceState // presence.go

	// Reader only: what the client joined, and the headers of its publish
	// requests.
	joined map[string]*membership
	hdr    nats.Header
	seq    atomic.Uint64 // numbers the answers a publish waits for

	// The joined rooms with history (history.go): the reader adds and
	// removes them, the fan-out delivers through them.
	rmu    sync.Mutex
	tracks map[string]*track

	// The commands whose reply is not sent yet, oldest first (pipeline.go).
	mu        sync.Mutex
	queue     []*pending
	acted     int // queue[:acted] were acted on (pipeline.go)
	releasing bool
	timer     *time.Timer   // the worker timeout of the oldest publish in flight
	armed     bool          // timer is set
	space     chan struct{} // a token when the queue drops below the window
	ended     bool          // End ran: nothing is queued any more
	bcast     nats.Msg      // releases only: a broadcast's message, headers reused
}

// membership is a joined room.
type membership struct {
	room, in, out, log string
	roomHdr            []string // Wsgw-Room
	publish            bool
}

// New makes the session of connection id of user over conn; the caller
// makes it conn's Handler and hub member, and calls End when the
// connection is over.
func New(conn Conn, id, user string, rooms Rooms, auth Authorizer, opts *Options) *Session {
	return &Session{cfg: opts, conn: conn, id: id, user: user, rooms: rooms, auth: auth, space: make(chan struct{}, 1)}
}

// Frame runs one command frame (client.Handler). Replies go out in the
// order of the frames; an error never closes the socket.
func (s *Session) Frame(typ int, data []byte) {
	if !s.waitRoom() {
		return
	}
	if typ != websocket.TextMessage {
		s.answer(roomsproto.AppendError(nil, 0, errBinary), "invalid", roomsproto.CodeBadRequest)
		return
	}
	cmd, err := roomsproto.Parse(data)
	if err != nil {
		s.answer(roomsproto.AppendError(nil, cmd.ID, err), "invalid", roomsproto.CodeBadRequest)
		return
	}
	switch cmd.Op {
	case roomsproto.Join:
		s.fail(cmd, s.join(cmd))
	case roomsproto.Leave:
		s.fail(cmd, s.leave(cmd))
	case roomsproto.Publish:
		s.fail(cmd, s.publish(cmd))
	case roomsproto.History:
		s.fail(cmd, s.historyCmd(cmd))
	case roomsproto.Presence:
		s.fail(cmd, s.presence(cmd))
	}
}

// errBinary answers a binary frame: commands are JSON text.
var errBinary = &roomsproto.Error{Code: roomsproto.CodeBadRequest, Reason: "binary frames are not commands"}

// fail answers cmd with err, when there is one.
func (s *Session) fail(cmd roomsproto.Command, err error) {
	if err != nil {
		e := roomsproto.AsError(err)
		s.answer(roomsproto.AppendError(nil, cmd.ID, e), cmd.Op.String(), e.Code)
	}
}

func (s *Session) join(cmd roomsproto.Command) error {
	if _, ok := s.joined[cmd.Room]; ok {
		return roomsproto.ErrAlreadyJoined
	}
	if len(s.joined) >= s.cfg.MaxRooms {
		return roomsproto.ErrTooManyRooms
	}
	publish, err := s.auth.Authorize(doneCtx{s.conn.Done()}, cmd.Room)
	if err != nil {
		if e := roomsproto.AsError(err); e.Code == roomsproto.CodeUnavailable {
			s.cfg.Log.Warn("rooms: join undecided; refused", "conn", s.id, "room", cmd.Room, "err", err)
		}
		return err
	}
	m := &membership{
		room: cmd.Room, publish: publish, roomHdr: []string{cmd.Room},
		in: contract.RoomIn(s.cfg.Base, cmd.Room), out: contract.RoomOut(s.cfg.Base, cmd.Room),
		log: contract.RoomLog(s.cfg.Base, cmd.Room),
	}
	var t *track
	if s.cfg.History != nil {
		t = s.follow(cmd.Room)
	}
	if err := s.rooms.Join(m.out); err != nil {
		s.unfollow(cmd.Room)
		s.cfg.Log.Warn("rooms: join failed", "conn", s.id, "room", cmd.Room, "err", err)
		return roomsproto.ErrUnavailable
	}
	reply := roomsproto.AppendOK(nil, cmd.ID)
	if t != nil {
		ctx, cancel := context.WithTimeout(doneCtx{s.conn.Done()}, s.cfg.WorkerTimeout)
		line, err := s.catchUp(ctx, cmd, m, t)
		cancel()
		switch {
		case errors.Is(err, history.ErrOff):
			s.unfollow(cmd.Room) // no history: messages go as they come
		case err != nil:
			s.unfollow(cmd.Room)
			s.rooms.Leave(m.out)
			s.cfg.Log.Warn("rooms: join failed: history unavailable", "conn", s.id, "room", cmd.Room, "err", err)
			return errHistory
		default:
			reply = line
		}
	}
	if err := s.presenceJoin(cmd); err != nil {
		s.unfollow(cmd.Room)
		s.rooms.Leave(m.out)
		return err
	}
	if s.joined == nil {
		s.joined = map[string]*membership{}
	}
	s.joined[cmd.Room] = m
	s.answer(reply, "join", 200)
	return nil
}

// follow tracks a room being joined: its messages with a seq wait until the
// join caught up.
func (s *Session) follow(room string) *track {
	t := &track{}
	s.rmu.Lock()
	if s.tracks == nil {
		s.tracks = map[string]*track{}
	}
	s.tracks[room] = t
	s.rmu.Unlock()
	return t
}

func (s *Session) unfollow(room string) {
	s.rmu.Lock()
	delete(s.tracks, room)
	s.rmu.Unlock()
}

func (s *Session) leave(cmd roomsproto.Command) error {
	m, ok := s.joined[cmd.Room]
	if !ok {
		return roomsproto.ErrNotJoined
	}
	s.rooms.Leave(m.out)
	s.unfollow(cmd.Room)
	s.presenceLeave(cmd.Room)
	delete(s.joined, cmd.Room)
	s.answer(roomsproto.AppendOK(nil, cmd.ID), "leave", 200)
	return nil
}

// End gives back every room; the connection is over (its reader returned).
func (s *Session) End() {
	for room, m := range s.joined {
		s.rooms.Leave(m.out)
		s.unfollow(room)
		s.presenceLeave(room)
		delete(s.joined, room)
	}
	s.mu.Lock()
	s.ended, s.queue, s.acted = true, nil, 0
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

// Joined is how many rooms the session is in; reader only (or after End).
func (s *Session) Joined() int { return len(s.joined) }

// Close and Abort end the connection (for revocations and shutdown).
func (s *Session) Close(cl wsclose.Close) { s.conn.Close(cl) }

// Abort ends the connection at once.
func (s *Session) Abort() { s.conn.Abort() }

// doneCtx is a context cancelled when the connection closes, so that a join
// waiting for the auth worker ends with it.
type doneCtx struct{ done <-chan struct{} }

func (c doneCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c doneCtx) Done() <-chan struct{}       { return c.done }
func (c doneCtx) Value(any) any               { return nil }
func (c doneCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

var _ context.Context = doneCtx{}

// closed reports whether done is closed.
func closed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// errTimeout fails a publish whose room worker did not answer within
// GATEWAY_WORKER_TIMEOUT. Its answer, should it come later, is dropped: the
// message was not broadcast, as for a raw member's frame.
var errTimeout = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "worker timeout"}
