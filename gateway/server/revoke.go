package server

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// onRevoke closes what a RevokeRequest names, with CloseRevoked. Every
// gateway gets every revocation and acts on its own connections.
func (g *Gateway) onRevoke(msg *nats.Msg) {
	var req contract.RevokeRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		g.log.Warn("malformed revocation", "err", err)
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "revoked"
	}
	cl := wsclose.New(contract.CloseRevoked, reason) // any text a publisher sent, made a valid reason
	var victims []*client.Conn
	if req.User != "" {
		victims = g.hub.UserConns(req.User)
	}
	if req.Gateway == g.id && req.Conn != "" {
		if c, ok := g.hub.Conn(req.Conn); ok {
			victims = append(victims, c)
		}
	}
	for _, c := range victims {
		c.Close(cl)
	}
	if len(victims) > 0 {
		g.log.Info("revoked", "user", req.User, "conn", req.Conn, "closed", len(victims))
	}
}
