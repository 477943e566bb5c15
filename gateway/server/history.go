package server

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/history"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/shared/contract"
)

// openHistory makes a history reader for the subject base of every room
// route. Whether a room has history is the room worker's choice: the
// stream exists or it does not.
func (g *Gateway) openHistory() error {
	g.history = map[string]*history.JetStream{}
	for _, p := range g.cfg.Routes.Paths() {
		rt, _, _ := g.cfg.Routes.Match(p)
		if rt == nil || rt.Kind != route.KindRoom && rt.Kind != route.KindRooms {
			continue
		}
		if _, ok := g.history[rt.Subject]; ok {
			continue
		}
		st, err := history.New(g.nc, rt.Subject)
		if err != nil {
			return err
		}
		g.history[rt.Subject] = st
	}
	return nil
}

// fill reads from history what a room's subscription (on subject, a
// RoomOut) missed: hub.Options.Fill.
func (g *Gateway) fill(subject string, after, before uint64) []*nats.Msg {
	i := strings.LastIndex(subject, ".out.")
	if i < 0 {
		return nil
	}
	st := g.history[subject[:i]]
	if st == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.WorkerTimeout)
	defer cancel()
	var out []*nats.Msg
	err := st.Range(ctx, contract.RoomLog(subject[:i], subject[i+len(".out."):]), after+1, func(m history.Msg) bool {
		if before != 0 && m.Seq >= before {
			return false
		}
		out = append(out, &nats.Msg{Subject: subject, Header: m.Header, Data: m.Data})
		return true
	})
	if err != nil {
		g.log.Warn("room history: gap not filled", "subject", subject, "after", after, "err", err)
	}
	g.m.HistoryFilled.Add(float64(len(out)))
	return out
}
