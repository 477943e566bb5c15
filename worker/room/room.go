// Package room is the room worker: it decides what a member's frame puts on
// the room's broadcast subject, which every gateway with members there
// listens to. This one broadcasts every frame unchanged. With history on,
// it also owns the room history stream (history.go) and asks gateways to
// store each broadcast there.
package room

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
)

// Add registers the room service on nc for rooms under base (normally
// contract.RoomSubject). With h.Size > 0 the history stream must exist
// (EnsureStream) for publishes to succeed.
func Add(nc *nats.Conn, base, version string, h History) (micro.Service, error) {
	meta := []string{"subject_in", contract.RoomInWildcard(base), "subject_out", contract.RoomOut(base, "<room>")}
	if h.Size > 0 {
		meta = append(meta, "history_stream", contract.HistoryStream(base), "subject_log", contract.RoomLog(base, "<room>"))
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "room",
		Version:     version,
		Description: "Broadcasts each frame sent in a room to every member of that room",
		QueueGroup:  "room",
		Metadata:    contract.Metadata(meta...),
	})
	if err != nil {
		return nil, err
	}
	answer := micro.Headers{contract.HeaderBroadcast: {"1"}}
	if h.Size > 0 {
		answer[contract.HeaderStore] = []string{"1"}
	}
	return svc, svc.AddEndpoint("publish", publisher(answer),
		micro.WithEndpointSubject(contract.RoomInWildcard(base)))
}

// publisher answers a member's frame with the broadcast: the same bytes and
// frame type, marked Wsgw-Broadcast (and Wsgw-Store with history on). The
// sender's gateway publishes (or stores) it, so one sender's frames have one
// publisher and stay in order on every member's gateway, across a NATS
// cluster too. This is where a room worker would moderate, transform or
// drop (answer without the mark).
func publisher(marks micro.Headers) micro.HandlerFunc {
	text := micro.Headers{contract.HeaderFrame: {contract.FrameText}}
	binary := micro.Headers{contract.HeaderFrame: {contract.FrameBinary}}
	for k, v := range marks {
		text[k], binary[k] = v, v
	}
	return func(req micro.Request) {
		subj := req.Subject()
		room := subj[strings.LastIndexByte(subj, '.')+1:]
		if !contract.ValidRoom(room) {
			_ = req.Error("400", "invalid room", nil)
			return
		}
		h := text
		if req.Headers().Get(contract.HeaderFrame) == contract.FrameBinary {
			h = binary
		}
		_ = req.Respond(req.Data(), micro.WithHeaders(h))
	}
}
