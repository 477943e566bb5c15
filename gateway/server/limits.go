package server

import "github.com/wsgate/wsgate/gateway/client"

// natsHeaderReserve is what the frame limit keeps under the NATS server's
// max_payload, which counts headers too. The headers the gateway adds to a
// frame take at most about 450 bytes (a 256-byte user id, a 64-byte room,
// two ids, the frame type); the rest leaves room for a worker to answer
// with a body a little longer than the frame (echo adds 6 bytes) and a
// few headers of its own.
const natsHeaderReserve = 1 << 10

// fitLimit is the frame limit for a NATS server whose max_payload is
// maxPayload (0: not known yet, the configured limit stands). A frame over
// the server's limit could never be published: the client would get 1013
// "backend unavailable" instead of 1009 "too big".
func fitLimit(configured int, maxPayload int64) int {
	if maxPayload <= 0 || int64(configured)+natsHeaderReserve <= maxPayload {
		return configured
	}
	return int(max(maxPayload-natsHeaderReserve, 1))
}

// options are the client options for a new connection, with the frame
// limit fitted to the max_payload of the NATS server the last probe
// reached: known at start when NATS is, and checked again at each upgrade,
// since a reconnect may land on a server with another limit. Connections
// keep the options they started with.
func (g *Gateway) options() *client.Options {
	limit := int64(fitLimit(g.cfg.MaxMessageBytes, g.probe.Status().MaxPayload))
	if o := g.opts.Load(); o != nil && o.MaxMessageBytes == limit {
		return o
	}
	g.optsMu.Lock()
	defer g.optsMu.Unlock()
	if o := g.opts.Load(); o != nil && o.MaxMessageBytes == limit {
		return o
	}
	o := g.copts
	o.MaxMessageBytes = limit
	if limit < int64(g.cfg.MaxMessageBytes) {
		g.log.Warn("GATEWAY_MAX_MESSAGE_BYTES is over the NATS server's max_payload; clamped",
			"configured", g.cfg.MaxMessageBytes, "max_payload", g.probe.Status().MaxPayload, "limit", limit)
	} else if g.opts.Load() != nil {
		g.log.Info("GATEWAY_MAX_MESSAGE_BYTES fits the NATS server again", "limit", limit)
	}
	g.opts.Store(&o)
	return &o
}
