package server

import (
	"context"
	"time"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/events"
	"github.com/wsgate/wsgate/gateway/presence"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// startPresence starts the lifecycle events' outbox, the heartbeat and the
// presence notices (GATEWAY_EVENTS); nothing when it is off.
func (g *Gateway) startPresence() error {
	if !g.cfg.Events {
		return nil
	}
	sink, err := events.NewJetStream(g.nc, 2*time.Second)
	if err != nil {
		return err
	}
	dropped := g.m.Counter("wsgate_gateway_events_dropped_total", "Lifecycle events and presence records dropped: the gateway's outbox (GATEWAY_EVENTS_QUEUE) was full, or still held them when it shut down.")
	retried := g.m.Counter("wsgate_gateway_events_retries_total", "Batches of lifecycle events and presence records that JetStream did not acknowledge and were sent again (NATS away, the stream not created yet).")
	g.heart = presence.StartHeart(g.nc, g.id, g.cfg.PresenceTTL, g.log, g.onLost)
	g.sink = sink
	g.out = events.New(sink, events.Options{
		Queue: g.cfg.EventsQueue, Log: g.log, Ready: g.heart.Ready(),
		Dropped: func(n int) { dropped.Add(float64(n)) },
		Retried: retried.Inc,
	})
	g.m.GaugeFunc("wsgate_gateway_events_pending", "Lifecycle events and presence records waiting for JetStream's acknowledgement.",
		func() float64 { return float64(g.out.Pending()) })
	g.rec = &presence.Recorder{Gateway: g.id, Out: g.out}
	g.watch = presence.NewWatchers(g.nc)
	return nil
}

// stopPresence publishes the events still queued (while JetStream takes
// them, at most until ctx ends), then removes the heartbeat.
func (g *Gateway) stopPresence(ctx context.Context) {
	if g.out == nil {
		return
	}
	g.watch.Close()
	g.out.Close(ctx)
	_ = g.sink.Close()
	g.heart.Stop()
}

// onLost runs when a presence worker declared this gateway lost (it was cut
// off from NATS, or frozen, for longer than PRESENCE_TTL allows) and has
// emitted the leaves and disconnects of its connections: they must not
// live on as ghosts, so every connection open now is closed (1013, reason
// gateway_lost in its disconnect event, whose id is the one the worker
// used). The gateway registered again before this: new connections count.
func (g *Gateway) onLost() {
	g.lostGen.Add(1)
	for _, c := range g.hub.Conns() {
		c.Close(wsclose.New(contract.CloseTryAgainLater, "gateway lost presence"))
	}
}

// track records an accepted connection, and the room of a room route.
func (g *Gateway) track(s *session, remote string) {
	if g.rec == nil {
		return
	}
	s.gen = g.lostGen.Load()
	s.track = g.rec.Connect(s.client.ID, s.user, s.route.Path, remote)
	if s.route.Kind == route.KindRoom {
		s.track.Join(s.room)
	}
}

// untrack records the end of a connection, with why it ended.
func (g *Gateway) untrack(s *session, st client.Stats) {
	if s.track == nil {
		return
	}
	s.track.Disconnect(st.CloseCode, g.reason(s, st))
}

// reason says why a connection ended, for its disconnect event.
func (g *Gateway) reason(s *session, st client.Stats) string {
	switch {
	case g.lostGen.Load() != s.gen:
		return contract.ReasonGatewayLost
	case st.SlowConsumer:
		return contract.ReasonSlowConsumer
	case g.stopping() && (!st.Sent || st.CloseCode == contract.CloseGoingAway):
		// Closed by the drain (1001), or cut when its window ended.
		return contract.ReasonDrain
	case !st.Sent:
		return contract.ReasonClient // its close frame, or its connection dropped or went silent
	case st.CloseCode == contract.CloseTokenExpired:
		return contract.ReasonExpired
	case st.CloseCode == contract.CloseRevoked:
		return contract.ReasonRevoked
	}
	return contract.ReasonServer
}

func (g *Gateway) stopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.shutting
}

// roomsPresence links a /ws/rooms session to presence.
type roomsPresence struct {
	g *Gateway
	s *session
}

func (p roomsPresence) Joined(room string) { p.s.track.Join(room) }
func (p roomsPresence) Left(room string)   { p.s.track.Leave(room) }
func (p roomsPresence) Watch(room string) error {
	return p.g.watch.Watch(room, p.s.client)
}
func (p roomsPresence) Unwatch(room string) { p.g.watch.Unwatch(room, p.s.client) }
func (p roomsPresence) Query(ctx context.Context, room string) (contract.PresenceAnswer, error) {
	return presence.Query(ctx, p.g.nc, room, p.g.cfg.WorkerTimeout)
}
