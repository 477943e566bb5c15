package hub

// Connect registers a connection by its id, and by its user unless user is
// empty.
func (h *Hub[M]) Connect(id, user string, m M) {
	s := h.shard(id)
	s.mu.Lock()
	if _, dup := s.conns[id]; !dup {
		h.clients.Add(1)
	}
	s.conns[id] = m
	s.mu.Unlock()
	if user == "" {
		return
	}
	s = h.shard(user)
	s.mu.Lock()
	set := s.users[user]
	if set == nil {
		set = map[M]struct{}{}
		s.users[user] = set
	}
	set[m] = struct{}{}
	s.mu.Unlock()
}

// Disconnect forgets what Connect registered; it is harmless for a
// connection that was never registered.
func (h *Hub[M]) Disconnect(id, user string, m M) {
	s := h.shard(id)
	s.mu.Lock()
	if cur, ok := s.conns[id]; ok && cur == m {
		delete(s.conns, id)
		h.clients.Add(-1)
	}
	s.mu.Unlock()
	if user == "" {
		return
	}
	s = h.shard(user)
	s.mu.Lock()
	if set := s.users[user]; set != nil {
		delete(set, m)
		if len(set) == 0 {
			delete(s.users, user)
		}
	}
	s.mu.Unlock()
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
	s := h.shard(user)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]M, 0, len(s.users[user]))
	for m := range s.users[user] {
		out = append(out, m)
	}
	return out
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
