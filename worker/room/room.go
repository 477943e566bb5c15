// Package room is the room worker: it decides what a member's frame puts on
// the room's broadcast subject, which every gateway with members there
// listens to. This one broadcasts every frame unchanged.
package room

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
)

// Add registers the room service on nc for rooms under base (normally
// contract.RoomSubject).
func Add(nc *nats.Conn, base, version string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "room",
		Version:     version,
		Description: "Broadcasts each frame sent in a room to every member of that room",
		QueueGroup:  "room",
		Metadata:    contract.Metadata("subject_in", contract.RoomInWildcard(base), "subject_out", contract.RoomOut(base, "<room>")),
	})
	if err != nil {
		return nil, err
	}
	return svc, svc.AddEndpoint("publish", micro.HandlerFunc(publish),
		micro.WithEndpointSubject(contract.RoomInWildcard(base)))
}

// publish answers a member's frame with the broadcast: the same bytes and
// frame type, marked Wsgw-Broadcast. The sender's gateway publishes it to
// the room, so one sender's frames have one publisher and stay in order on
// every member's gateway, across a NATS cluster too. This is where a room
// worker would moderate, transform or drop (answer without the mark).
func publish(req micro.Request) {
	subj := req.Subject()
	room := subj[strings.LastIndexByte(subj, '.')+1:]
	if !contract.ValidRoom(room) {
		_ = req.Error("400", "invalid room", nil)
		return
	}
	frame := req.Headers().Get(contract.HeaderFrame)
	if frame != contract.FrameBinary {
		frame = contract.FrameText
	}
	_ = req.Respond(req.Data(), micro.WithHeaders(micro.Headers{
		contract.HeaderFrame:     {frame},
		contract.HeaderBroadcast: {"1"},
	}))
}
