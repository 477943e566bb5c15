// Package echo is the echo worker: every frame comes back prefixed "echo: ".
package echo

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
)

// Prefix is put before every echoed payload.
const Prefix = "echo: "

// Add registers the echo service on nc. Instances share the queue group
// "echo", so NATS spreads requests over them.
func Add(nc *nats.Conn, version string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "echo",
		Version:     version,
		Description: "Answers each WebSocket frame with the same frame prefixed by 'echo: '",
		QueueGroup:  "echo",
		Metadata:    contract.Metadata("subject", contract.EchoSubject),
	})
	if err != nil {
		return nil, err
	}
	return svc, svc.AddEndpoint("echo", micro.HandlerFunc(handle),
		micro.WithEndpointSubject(contract.EchoSubject))
}

func handle(req micro.Request) {
	frame := req.Headers().Get(contract.HeaderFrame)
	if frame != contract.FrameBinary {
		frame = contract.FrameText
	}
	out := make([]byte, 0, len(Prefix)+len(req.Data()))
	out = append(append(out, Prefix...), req.Data()...)
	_ = req.Respond(out, micro.WithHeaders(micro.Headers{contract.HeaderFrame: {frame}}))
}
