package server

import (
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// userIndex finds the connections of a user, for revocation.
type userIndex struct {
	mu sync.Mutex
	m  map[string]map[*client.Conn]struct{}
}

func (u *userIndex) init() { u.m = map[string]map[*client.Conn]struct{}{} }

func (u *userIndex) add(user string, c *client.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	set := u.m[user]
	if set == nil {
		set = map[*client.Conn]struct{}{}
		u.m[user] = set
	}
	set[c] = struct{}{}
}

// remove is safe to call for a connection that was never added.
func (u *userIndex) remove(user string, c *client.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if set := u.m[user]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(u.m, user)
		}
	}
}

func (u *userIndex) conns(user string) []*client.Conn {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*client.Conn, 0, len(u.m[user]))
	for c := range u.m[user] {
		out = append(out, c)
	}
	return out
}

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
		victims = g.users.conns(req.User)
	}
	if req.Gateway == g.id && req.Conn != "" {
		if v, ok := g.conns.Load(req.Conn); ok {
			victims = append(victims, v.(*client.Conn))
		}
	}
	for _, c := range victims {
		c.Close(cl)
	}
	if len(victims) > 0 {
		g.log.Info("revoked", "user", req.User, "conn", req.Conn, "closed", len(victims))
	}
}
