package hub

import (
	"strings"
	"time"
)

// A room subscription delivers into its dispatcher's queue without waiting:
// when the queue is full, nats.go drops the message and counts it on the
// subscription. The hub turns those counts into the Dropped metric and a log
// line naming the room.

// dropState is what a room's drops were last seen as. Guarded by room.dmu.
type dropState struct {
	seen     int       // the subscription's drop count already counted
	unlogged int       // counted since the room's last log line
	logged   time.Time // that line
}

// maxDropLines bounds the log lines of one check across all rooms; rooms
// over it are logged at a later check.
const maxDropLines = 10

func (h *Hub[M]) checkDrops() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.DropCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.sweepDrops()
		}
	}
}

// sweepDrops counts every room's new drops.
func (h *Hub[M]) sweepDrops() {
	budget := maxDropLines
	var rooms []*room[M]
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, r := range s.rooms {
			rooms = append(rooms, r)
		}
		s.mu.RUnlock()
		for _, r := range rooms {
			h.countDrops(r, false, &budget)
		}
		rooms = rooms[:0]
	}
}

// countDrops adds what r's subscription dropped since the last look to the
// metric, and logs it unless the room was logged less than DropLogEvery ago
// or budget is spent. final (the room is going) logs regardless.
func (h *Hub[M]) countDrops(r *room[M], final bool, budget *int) {
	n, err := h.bus.Dropped(r.sub)
	if err != nil {
		return // already released: counted then
	}
	now := time.Now()
	r.dmu.Lock()
	d := &r.drops
	delta := n - d.seen
	if delta > 0 {
		d.seen = n
		d.unlogged += delta
	}
	report := d.unlogged > 0 && (final || (now.Sub(d.logged) >= h.opts.DropLogEvery && *budget > 0))
	count := d.unlogged
	if report {
		d.unlogged, d.logged = 0, now
		if !final {
			*budget--
		}
	}
	r.dmu.Unlock()
	if delta > 0 && h.opts.Dropped != nil {
		h.opts.Dropped.Add(float64(delta))
	}
	if report {
		h.opts.Log.Warn("room broadcasts dropped: the gateway's room queue was full",
			"room", roomName(r.subject), "subject", r.subject, "dropped", count)
	}
}

// roomName is the last token of a room's broadcast subject
// (<base>.out.<room>; room names have no dots).
func roomName(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}
