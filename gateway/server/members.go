package server

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/auth"
	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/hub"
	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// member is a connection as the hub holds it: a raw client, or the session
// of a /ws/rooms client (*rooms.Session).
type member interface {
	hub.Member
	// Reply takes a worker's answer to the connection's request seq.
	Reply(seq uint64, msg *nats.Msg)
	// Push delivers a message sent to this connection alone.
	Push(msg *nats.Msg)
	Close(wsclose.Close)
	Abort()
}

// raw is a client of a raw route: room messages and pushes reach it as the
// frames they came as.
type raw struct{ *client.Conn }

func (r raw) Receive(b *hub.Broadcast) {
	if p := b.Raw(); p != nil {
		r.SendPrepared(p)
	}
	if cl, ok := b.Close(); ok {
		r.Close(cl)
	}
}

func (r raw) Push(msg *nats.Msg) { r.Deliver(msg) }

// hubRooms is where a session joins rooms: the hub, with the session as
// the member.
type hubRooms struct {
	g *Gateway
	m member
}

func (h *hubRooms) Join(subject string) error {
	return h.g.hub.Join(subject, h.m, h.g.cfg.WorkerTimeout)
}
func (h *hubRooms) Leave(subject string) { h.g.hub.Leave(subject, h.m) }

// joinAuth decides the joins of one /ws/rooms client exactly as the
// handshake of a room route (the same rt.Auth) with the same credential
// would be decided: the auth worker is asked when it would be asked then,
// with the handshake's request and the room, and its answer is judged the
// same way. A client admitted listen-only at its handshake publishes
// nowhere.
type joinAuth struct {
	g       *Gateway
	rt      *route.Route
	req     contract.AuthRequest // the handshake's, without room
	user    string               // the identity admitted at the handshake
	publish bool                 // what the handshake's answer allowed
}

func (a *joinAuth) Authorize(ctx context.Context, room string) (bool, error) {
	g := a.g
	if !g.mustAsk(a.rt, room, auth.Credentials{Token: a.req.Token}) {
		return a.publish, nil
	}
	req := a.req
	req.Room = room
	start := time.Now()
	resp, err := auth.Ask(ctx, g.nc, req, g.cfg.AuthTimeout)
	g.m.AuthLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		g.m.AuthDecisions.WithLabelValues("unavailable").Inc()
		return false, err
	}
	status, why := auth.Verdict(resp, a.rt.Auth == route.AuthRequired, time.Now())
	if why != "" {
		g.log.Warn("auth answer refused", "route", a.rt.Path, "room", room, "status", status, "why", why)
	}
	switch status {
	case 200:
		if resp.User != a.user {
			// The same credential names another identity: no decision.
			g.m.AuthDecisions.WithLabelValues("unavailable").Inc()
			g.log.Warn("auth answer refused", "route", a.rt.Path, "room", room, "why", "the user differs from the handshake's")
			return false, roomsproto.ErrUnavailable
		}
		g.m.AuthDecisions.WithLabelValues("ok").Inc()
		return a.publish && resp.MayPublish(), nil
	case 403:
		g.m.AuthDecisions.WithLabelValues("forbidden").Inc()
		return false, roomsproto.ErrForbidden
	}
	g.m.AuthDecisions.WithLabelValues("unauthorized").Inc()
	return false, roomsproto.ErrUnauthorized
}
