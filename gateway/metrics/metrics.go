// Package metrics defines the gateway's Prometheus metrics. Labels are
// bounded sets only: never a room, user or connection id.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Gateway holds every gateway metric and the registry they live in.
type Gateway struct {
	Registry *prometheus.Registry

	Connections    prometheus.Gauge
	Accepted       *prometheus.CounterVec // route
	Refused        *prometheus.CounterVec // reason
	Disconnects    *prometheus.CounterVec // code
	FramesIn       prometheus.Counter
	FramesOut      prometheus.Counter
	SocketWrites   prometheus.Counter
	BytesIn        prometheus.Counter
	BytesOut       prometheus.Counter
	RateLimited    prometheus.Counter
	SlowConsumers  prometheus.Counter
	RoomDrops      prometheus.Counter
	HistoryFilled  prometheus.Counter
	WorkerTimeouts prometheus.Counter
	NoResponders   prometheus.Counter
	WorkerDropped  *prometheus.CounterVec // reason
	WorkerErrors   prometheus.Counter
	WorkerLatency  prometheus.Histogram
	AuthDecisions  *prometheus.CounterVec // outcome
	AuthLatency    prometheus.Histogram
	Commands       *prometheus.CounterVec // command, code (/ws/rooms)
}

// Latency buckets from 50 µs to 5 s: a NATS round trip on a LAN is about
// 100 µs, the default auth and worker timeouts are 2 s and 5 s.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// NewGateway registers the gateway's metrics, with Go and process metrics,
// in a registry of its own.
func NewGateway() *Gateway {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Gateway{Registry: r}
	m.Connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_gateway_connections", Help: "Open client connections."})
	m.Accepted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_gateway_connections_accepted_total", Help: "Upgrades accepted, by route path."}, []string{"route"})
	m.Refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_gateway_connections_refused_total", Help: "Handshakes refused before the upgrade, by reason."}, []string{"reason"})
	m.Disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_gateway_disconnects_total", Help: "Closed client connections, by WebSocket close code (1006: no close frame)."}, []string{"code"})
	m.FramesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_frames_received_total", Help: "Frames received from clients."})
	m.FramesOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_frames_sent_total", Help: "Frames written to clients."})
	m.SocketWrites = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_socket_writes_total", Help: "Writes to client sockets, each carrying the frames queued for that client (one system call unless its socket was full)."})
	m.BytesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_received_bytes_total", Help: "Payload bytes received from clients."})
	m.BytesOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_sent_bytes_total", Help: "Payload bytes written to clients."})
	m.RateLimited = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_rate_limited_total", Help: "Clients closed for exceeding their frame rate."})
	m.SlowConsumers = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_slow_consumer_closes_total", Help: "Clients closed because their outbound queue was full."})
	m.HistoryFilled = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_history_filled_total", Help: "Room messages read from a room's history stream because the gateway's subscription missed them (a drop, a NATS reconnection, a stream leader change), delivered in order."})
	m.RoomDrops = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_room_messages_dropped_total", Help: "Room broadcasts and pushes to users dropped before fan-out because the gateway's room dispatch queue was full (a slow room subscription); the log names the room or user subject."})
	m.WorkerTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_worker_timeouts_total", Help: "Frames dropped because no worker answered in time (on /ws/rooms, publishes answered with 503)."})
	m.NoResponders = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_no_responders_total", Help: "Frames no worker was subscribed for (client closed with 1013; on /ws/rooms, a 503 reply)."})
	m.WorkerDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_gateway_worker_messages_dropped_total", Help: "Worker replies, pushes and broadcasts not sent to clients, by reason (invalid_utf8, frame_type, too_big); a broadcast counts once."}, []string{"reason"})
	m.WorkerErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_gateway_worker_errors_total", Help: "Replies that were NATS micro errors (Nats-Service-Error-Code); the client was closed with 1011 (on /ws/rooms, a 503 reply)."})
	m.WorkerLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wsgate_gateway_worker_request_duration_seconds", Help: "Time from sending a frame to NATS to its worker's reply.", Buckets: latencyBuckets})
	m.AuthDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_gateway_auth_decisions_total", Help: "Auth worker decisions, by outcome (ok, unauthorized, forbidden, unavailable)."}, []string{"outcome"})
	m.AuthLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wsgate_gateway_auth_duration_seconds", Help: "Time to get an auth decision.", Buckets: latencyBuckets})
	m.Commands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wsgate_gateway_rooms_commands_total", Help: "Commands of /ws/rooms clients answered, by command (join, leave, publish, invalid) and reply code (200 for ok)."}, []string{"command", "code"})
	for _, c := range []prometheus.Collector{m.Commands, m.Connections, m.Accepted, m.Refused, m.Disconnects, m.FramesIn, m.FramesOut, m.SocketWrites,
		m.BytesIn, m.BytesOut, m.RateLimited, m.SlowConsumers, m.RoomDrops, m.HistoryFilled, m.WorkerTimeouts, m.NoResponders, m.WorkerDropped, m.WorkerErrors, m.WorkerLatency, m.AuthDecisions, m.AuthLatency} {
		f(c)
	}
	return m
}

// GaugeFunc registers a gauge computed at scrape time.
func (m *Gateway) GaugeFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// knownCodes are the close codes that get their own label value.
var knownCodes = map[int]bool{1000: true, 1001: true, 1002: true, 1003: true, 1005: true, 1006: true, 1007: true,
	1008: true, 1009: true, 1010: true, 1011: true, 1012: true, 1013: true, 4001: true, 4003: true}

// CodeLabel bounds the code label: codes workers invent become "other".
func CodeLabel(code int) string {
	if code == 0 {
		code = 1006
	}
	if knownCodes[code] {
		return strconv.Itoa(code)
	}
	return "other"
}

// Counter registers and returns a counter without labels.
func (m *Gateway) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.Registry.MustRegister(c)
	return c
}
