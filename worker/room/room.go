// Package room is the room worker: it republishes each member's frame on the
// room's broadcast subject, which every gateway with members there listens to.
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
	h := func(req micro.Request) { publish(nc, base, req) }
	return svc, svc.AddEndpoint("publish", micro.HandlerFunc(h),
		micro.WithEndpointSubject(contract.RoomInWildcard(base)))
}

// publish republishes before it acknowledges: the gateway sends a member's
// next frame only after this ack, so one sender's frames leave in order.
func publish(nc *nats.Conn, base string, req micro.Request) {
	subj := req.Subject()
	room := subj[strings.LastIndexByte(subj, '.')+1:]
	if !contract.ValidRoom(room) {
		_ = req.Error("400", "invalid room", nil)
		return
	}
	in := req.Headers()
	msg := &nats.Msg{Subject: contract.RoomOut(base, room), Data: req.Data(), Header: nats.Header{}}
	frame := in.Get(contract.HeaderFrame)
	if frame != contract.FrameBinary {
		frame = contract.FrameText
	}
	msg.Header.Set(contract.HeaderFrame, frame)
	msg.Header.Set(contract.HeaderRoom, room)
	for _, h := range []string{contract.HeaderUser, contract.HeaderConn, contract.HeaderGateway} {
		if v := in.Get(h); v != "" {
			msg.Header.Set(h, v)
		}
	}
	if err := nc.PublishMsg(msg); err != nil {
		_ = req.Error("503", "publish failed", nil)
		return
	}
	_ = req.Respond(nil)
}
