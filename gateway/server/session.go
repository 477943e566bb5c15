package server

import (
	"net/netip"
	"time"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/metrics"
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
	expiry   *time.Timer // closes the socket when the credential expires
}

// serve runs a client's reader on its own goroutine until the socket ends.
func (g *Gateway) serve(s *session) {
	start := time.Now()
	s.client.Serve()
	g.release(s)
	st := s.client.Stats()
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
		g.hub.Leave(s.joined, s.client)
	}
	if s.client != nil {
		g.hub.Disconnect(s.client.ID, s.user, s.client)
	}
	if s.admitted {
		g.limiter.Release(s.ip)
	}
	g.active.Done()
}
