package rooms

import (
	"context"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// Presence is a session's link to presence and lifecycle events (package
// presence, through the gateway): joins and leaves are recorded, members
// that joined with "presence": true get the room's presence events, and
// the presence command asks the presence service.
type Presence interface {
	Joined(room string)
	Left(room string)
	// Watch makes the connection receive room's presence events; Unwatch
	// stops them.
	Watch(room string) error
	Unwatch(room string)
	Query(ctx context.Context, room string) (contract.PresenceAnswer, error)
}

// presenceState is the session's presence: reader only.
type presenceState struct {
	p        Presence            // nil: presence is off
	watching map[string]struct{} // rooms whose presence events the client asked for
}

// SetPresence links the session to presence; call it before the first
// frame.
func (s *Session) SetPresence(p Presence) { s.pres.p = p }

// presenceJoin records a join that took effect and, when asked, starts the
// room's presence events.
func (s *Session) presenceJoin(cmd roomsproto.Command) error {
	if s.pres.p == nil {
		return nil
	}
	if cmd.Presence {
		if err := s.pres.p.Watch(cmd.Room); err != nil {
			s.cfg.Log.Warn("rooms: presence events unavailable", "conn", s.id, "room", cmd.Room, "err", err)
			return roomsproto.ErrUnavailable
		}
		if s.pres.watching == nil {
			s.pres.watching = map[string]struct{}{}
		}
		s.pres.watching[cmd.Room] = struct{}{}
	}
	s.pres.p.Joined(cmd.Room)
	return nil
}

// presenceLeave records a leave and stops the room's presence events.
func (s *Session) presenceLeave(room string) {
	if s.pres.p == nil {
		return
	}
	if _, ok := s.pres.watching[room]; ok {
		s.pres.p.Unwatch(room)
		delete(s.pres.watching, room)
	}
	s.pres.p.Left(room)
}

// errNoPresence answers a presence query on a gateway without presence.
var errNoPresence = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "no presence worker"}

// presence answers who is in a room. It is allowed to whoever may join the
// room: a member of it, or a client whose join would be allowed now (the
// same authorization a join runs; its errors are a join's).
func (s *Session) presence(cmd roomsproto.Command) error {
	if s.pres.p == nil {
		return errNoPresence
	}
	ctx := doneCtx{s.conn.Done()}
	if _, in := s.joined[cmd.Room]; !in {
		if _, err := s.auth.Authorize(ctx, cmd.Room); err != nil {
			return err
		}
	}
	a, err := s.pres.p.Query(ctx, cmd.Room)
	if err != nil {
		return err
	}
	users := make([]roomsproto.PresenceUser, len(a.Users))
	for i, u := range a.Users {
		users[i] = roomsproto.PresenceUser{User: u.User, Connections: u.Connections}
	}
	s.answer(roomsproto.AppendPresence(nil, cmd.ID, users, a.Anonymous), "presence", 200)
	return nil
}
