package auth

import (
	"encoding/json"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
)

// Add registers the auth service on nc.
func Add(nc *nats.Conn, p *Policy, version string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "auth",
		Version:     version,
		Description: "Decides whether a WebSocket client may connect, and what it may do, before the upgrade",
		QueueGroup:  "auth",
		Metadata: contract.Metadata("subject", contract.AuthSubject,
			"jwt", yesNo(p.jwt.Enabled()), "protected_rooms", joinPatterns(p.protected)),
	})
	if err != nil {
		return nil, err
	}
	h := func(req micro.Request) {
		var ar contract.AuthRequest
		if err := json.Unmarshal(req.Data(), &ar); err != nil {
			_ = req.Error("400", "malformed auth request", nil)
			return
		}
		_ = req.RespondJSON(p.Decide(ar))
	}
	return svc, svc.AddEndpoint("authorize", micro.HandlerFunc(h),
		micro.WithEndpointSubject(contract.AuthSubject))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func joinPatterns(p Patterns) string {
	b, _ := json.Marshal(p)
	return string(b)
}
