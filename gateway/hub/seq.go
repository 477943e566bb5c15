package hub

import (
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/history"
)

// Rooms with history: their messages come republished by the history
// stream with Nats-Sequence and Nats-Last-Sequence (the previous sequence
// number on the same subject). A room remembers the last sequence number it
// delivered, on its dispatcher (one goroutine per room, so without a lock),
// and delivers each message once and in order: an older or repeated one is
// dropped; one whose predecessor it has not delivered (NATS dropped a
// message, the stream's leader moved, the gateway was cut from NATS) is
// delivered after what is missing, read from the stream (Options.Fill).

// resync marks a queued message as a request to read what a room missed
// (after a reconnection to NATS), not a room message.
const resync = "Wsgw-Resync"

func (h *Hub[M]) sequenced(r *room[M], msg *nats.Msg, seq, last uint64) {
	if msg.Header.Get(resync) != "" {
		h.fill(r, 0)
		return
	}
	if seq <= r.seq {
		return // delivered already
	}
	if r.seq != 0 && last > r.seq {
		h.fill(r, seq)
	}
	if seq > r.seq {
		r.seq = seq
		h.deliver(r, msg, seq)
	}
}

// fill delivers the stored messages after the room's last one and before
// before (0: up to the last stored).
func (h *Hub[M]) fill(r *room[M], before uint64) {
	if h.opts.Fill == nil || r.seq == 0 {
		return
	}
	for _, m := range h.opts.Fill(r.subject, r.seq, before) {
		seq, _, ok := history.Seqs(m.Header)
		if !ok || seq <= r.seq || before != 0 && seq >= before {
			continue
		}
		r.seq = seq
		h.filled.Add(1)
		h.deliver(r, m, seq)
	}
}

// Resync has every room with history read what it missed while the gateway
// was cut from NATS: call it once NATS is back. A room whose queue is full
// is skipped: its next message finds the gap anyway.
func (h *Hub[M]) Resync() {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for subject, r := range s.rooms {
			if r.push {
				continue
			}
			m := &nats.Msg{Subject: subject, Sub: r.sub, Header: nats.Header{resync: {"1"}, "Nats-Sequence": {"1"}}}
			select {
			case h.queue(subject) <- m:
			default:
			}
		}
		s.mu.RUnlock()
	}
}

// Filled is how many room messages were read from history to fill gaps.
func (h *Hub[M]) Filled() int64 { return h.filled.Load() }
