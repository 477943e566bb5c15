package server

import (
	"net/netip"
	"time"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/presence"
	"github.com/wsgate/wsgate/gateway/rooms"
	"github.com/wsgate/wsgate/gateway/route"
)

// session is what one client holds in the gateway, to give back when it
// goes: its admission slot, its room membership and its registration.
type session struct {
	route    *route.Route
	room     string
	user     string
	ip       netip.Addr
	admitted bool
	joined   string // room broadcast subject, once joined
	client   *client.Conn
	member   member         // what the hub holds: client, or rooms
	rooms    *rooms.Session // the protocol session of a /ws/rooms client
	expiry   *time.Timer    // closes the socket when the credential expires
	track    *presence.Conn // its lifecycle events (presence.go); nil when off
	gen      uint64         // the gateway's lostGen when it connected
}

// serve starts a client's reader, which runs until the socket ends.
func (g *Gateway) serve(s *session) {
	start := time.Now()
	end := func() { g.ended(s, start) }
	if s.rooms != nil {
		s.client.Run(s.rooms, end) // frames are commands, run by the session
	} else {
		s.client.Run(nil, end)
	}
}

// ended gives back what the session took and records its end.
func (g *Gateway) ended(s *session, start time.Time) {
	if g.connEvent != nil {
		g.connEvent()
	}
	g.release(s)
	st := s.client.Stats()
	g.untrack(s, st)
	g.m.Connections.Dec()
	g.m.Disconnects.WithLabelValues(metrics.CodeLabel(st.CloseCode)).Inc()
	g.log.Info("connection closed", "conn", s.client.ID, "route", s.route.Path, "room", s.room, "user", s.user,
		"code", st.CloseCode, "duration", time.Since(start).Round(time.Millisecond),
		"frames_in", st.FramesIn, "frames_out", st.FramesOut, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut,
		"writes", st.Writes)
}

// release gives back everything s took, in reverse order.
func (g *Gateway) release(s *session) {
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.joined != "" {
		g.hub.Leave(s.joined, s.member)
	}
	if s.rooms != nil {
		s.rooms.End()
	}
	if s.member != nil {
		g.hub.Disconnect(s.client.ID, s.user, s.member)
	}
	if s.admitted {
		g.limiter.Release(s.ip)
	}
	g.active.Done()
}
