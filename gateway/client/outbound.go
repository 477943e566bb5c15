package client

import (
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/shared/contract"
)

// Reasons a worker's message does not reach a client, as counted.
const (
	DropInvalidUTF8 = "invalid_utf8" // a text body that is not UTF-8: browsers fail the whole socket on it
	DropFrameType   = "frame_type"   // Wsgw-Frame is neither text nor binary
	DropTooBig      = "too_big"      // larger than GATEWAY_MAX_MESSAGE_BYTES, the size clients are promised
)

// FrameType returns the WebSocket message type a worker's body goes to
// clients as, given its Wsgw-Frame kind; or why it may not go to any client.
// maxBytes <= 0 sets no size limit. It is pure, so that a room broadcast is
// checked once for all its members.
func FrameType(kind string, data []byte, maxBytes int) (typ int, drop string) {
	switch kind {
	case contract.FrameText:
		typ = websocket.TextMessage
	case contract.FrameBinary:
		typ = websocket.BinaryMessage
	default:
		return 0, DropFrameType
	}
	if maxBytes > 0 && len(data) > maxBytes {
		return 0, DropTooBig
	}
	if typ == websocket.TextMessage && !utf8.Valid(data) {
		return 0, DropInvalidUTF8
	}
	return typ, ""
}

// Outbound vets what workers send before any of it reaches a client. What
// fails is dropped, counted and logged; the connection goes on, as after a
// lost reply. Logs come at most once a second: a broken worker must not
// flood them.
type Outbound struct {
	maxBytes int
	m        *metrics.Gateway
	log      *slog.Logger
	logged   atomic.Int64 // when a drop was last logged, Unix nanoseconds
}

// NewOutbound checks worker messages against maxBytes, the largest frame
// clients are promised (GATEWAY_MAX_MESSAGE_BYTES).
func NewOutbound(maxBytes int, m *metrics.Gateway, log *slog.Logger) *Outbound {
	return &Outbound{maxBytes: maxBytes, m: m, log: log}
}

// Frame returns the message type msg's body goes to a client as, for a
// reply or a push (what). ok is false when nothing goes: msg has no
// Wsgw-Frame (a plain acknowledgement) or fails a check.
func (o *Outbound) Frame(msg *nats.Msg, what string) (typ int, ok bool) {
	kind := msg.Header.Get(contract.HeaderFrame)
	if kind == "" {
		return 0, false
	}
	return o.check(kind, msg, what)
}

// Broadcast is Frame for a room broadcast, which goes out as text when it
// has no Wsgw-Frame. The hub calls it once per message, not per member.
func (o *Outbound) Broadcast(msg *nats.Msg) (typ int, ok bool) {
	return o.check(BroadcastKind(msg), msg, "broadcast")
}

// BroadcastKind is a broadcast's Wsgw-Frame kind: text when it has none.
func BroadcastKind(msg *nats.Msg) string {
	if kind := msg.Header.Get(contract.HeaderFrame); kind != "" {
		return kind
	}
	return contract.FrameText
}

func (o *Outbound) check(kind string, msg *nats.Msg, what string) (int, bool) {
	typ, drop := FrameType(kind, msg.Data, o.maxBytes)
	if drop == "" {
		return typ, true
	}
	o.m.WorkerDropped.WithLabelValues(drop).Inc()
	if o.sometimes() {
		o.log.Warn("worker message dropped", "reason", drop, "message", what, "subject", msg.Subject,
			"frame", kind, "bytes", len(msg.Data))
	}
	return 0, false
}

// ServiceError reports a NATS micro error reply (Nats-Service-Error-Code):
// the worker could not handle the frame. It is counted and logged, with the
// worker's description, which never goes to the client.
func (o *Outbound) ServiceError(msg *nats.Msg) bool {
	code := msg.Header.Get(micro.ErrorCodeHeader)
	if code == "" {
		return false
	}
	o.m.WorkerErrors.Inc()
	if o.sometimes() {
		desc := msg.Header.Get(micro.ErrorHeader)
		o.log.Warn("worker answered with an error", "subject", msg.Subject, "code", trim(code, 16), "error", trim(desc, 200))
	}
	return true
}

// sometimes is true at most once a second.
func (o *Outbound) sometimes() bool {
	now := time.Now().UnixNano()
	last := o.logged.Load()
	return now-last >= int64(time.Second) && o.logged.CompareAndSwap(last, now)
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
