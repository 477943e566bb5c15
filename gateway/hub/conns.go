package hub

import (
	"time"

	"github.com/wsgate/wsgate/shared/contract"
)

// Connect registers a connection by its id and, unless user is empty, makes
// it a member of the user's subject, where pushes to the user arrive. It
// returns once NATS has that subscription, so a push sent after Connect
// reaches m; on failure nothing is registered.
func (h *Hub[M]) Connect(id, user string, m M, timeout time.Duration) error {
	if user != "" {
		if err := h.join(contract.UserSubject(user), true, m, timeout); err != nil {
			return err
		}
	}
	s := h.shard(id)
	s.mu.Lock()
	if _, dup := s.conns[id]; !dup {
		h.clients.Add(1)
	}
	s.conns[id] = m
	s.mu.Unlock()
	return nil
}

// Disconnect forgets what Connect registered; the last connection of a user
// releases the user's subscription. It is harmless for a connection that
// was never registered.
func (h *Hub[M]) Disconnect(id, user string, m M) {
	s := h.shard(id)
	s.mu.Lock()
	if cur, ok := s.conns[id]; ok && cur == m {
		delete(s.conns, id)
		h.clients.Add(-1)
	}
	s.mu.Unlock()
	if user != "" {
		h.Leave(contract.UserSubject(user), m)
	}
}

// Conn finds a connection by id.
func (h *Hub[M]) Conn(id string) (M, bool) {
	s := h.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.conns[id]
	return m, ok
}

// UserConns returns the connections of a user.
func (h *Hub[M]) UserConns(user string) []M {
	r := h.lookup(contract.UserSubject(user))
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]M(nil), r.members...)
}

// Conns returns every registered connection.
func (h *Hub[M]) Conns() []M {
	out := make([]M, 0, h.Clients())
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, m := range s.conns {
			out = append(out, m)
		}
		s.mu.RUnlock()
	}
	return out
}

// Clients is the number of registered connections.
func (h *Hub[M]) Clients() int { return int(h.clients.Load()) }
