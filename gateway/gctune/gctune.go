// Package gctune lets the gateway's garbage collector work less during
// connection storms. A gateway's heap is mostly long-lived connection
// state, so it runs with a low GC target (GOGC=50) to keep an idle
// connection's memory small; but a storm of handshakes or disconnects
// (after a deploy, or a network blip on the clients' side) allocates fast
// while the live heap grows, and at that target the collector runs back to
// back: a third of the gateway's CPU, and pauses that every other room's
// deliveries wait behind. The Governor raises the target while connections
// open or close faster than Rate per second, and once it has been calm
// for Calm sets it back and returns the memory the storm freed to the
// system, so that what the storm cost in memory does not stay.
package gctune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Defaults: a storm is 1,000 connections opened or closed per second (a
// reconnecting fleet, not a busy day), and it is over after 300 ms below
// that. Memory is returned at most every 2 s (each return is a full
// collection: at 20,000 connections about 50 ms of CPU).
const (
	DefaultRate    = 1000
	DefaultCalm    = 300 * time.Millisecond
	DefaultMinFree = 2 * time.Second
	tick           = 100 * time.Millisecond
)

// Governor switches the GC target between Base and Storm.
type Governor struct {
	Base, Storm int           // GC percents: normally, and during a storm
	Rate        int           // connection events per second that make a storm
	Calm        time.Duration // how long under Rate ends a storm
	MinFree     time.Duration // least time between two returns of memory
	Log         *slog.Logger
	Storms      func() // counts storms; may be nil

	// SetGC and Free act on the runtime (debug.SetGCPercent and
	// debug.FreeOSMemory unless set): tests replace them.
	SetGC func(int)
	Free  func()

	events atomic.Int64
	s      state
}

// state is what tick decides from; only Run's goroutine touches it.
type state struct {
	last    int64
	storm   bool
	start   time.Time // when the storm began
	busy    time.Time // the last tick at storm rate
	freed   time.Time // the last return of memory
	owed    bool      // a storm ended and its memory is not returned yet
	counted int64     // events when the storm began
}

// New is a Governor with the defaults, from base to storm; log may be nil.
func New(base, storm int, log *slog.Logger) *Governor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Governor{Base: base, Storm: storm, Rate: DefaultRate, Calm: DefaultCalm, MinFree: DefaultMinFree, Log: log}
}

// Event records that a connection opened or closed. Safe for concurrent use.
func (g *Governor) Event() { g.events.Add(1) }

// Run ticks until ctx ends, then leaves the target at Base.
func (g *Governor) Run(ctx context.Context) {
	if g.SetGC == nil {
		g.SetGC = func(p int) { debug.SetGCPercent(p) }
	}
	if g.Free == nil {
		g.Free = debug.FreeOSMemory
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if g.s.storm {
				g.SetGC(g.Base)
			}
			return
		case now := <-t.C:
			g.tick(now, tick)
		}
	}
}

// tick decides, from the events since the last tick (interval ago).
func (g *Governor) tick(now time.Time, interval time.Duration) {
	n := g.events.Load()
	d := n - g.s.last
	g.s.last = n
	if float64(d) >= float64(g.Rate)*interval.Seconds() {
		g.s.busy = now
		if !g.s.storm {
			g.s.storm, g.s.start, g.s.counted = true, now, n-d
			g.SetGC(g.Storm)
			if g.Storms != nil {
				g.Storms()
			}
			g.Log.Info("connection storm: collecting garbage less often", "gogc", g.Storm)
		}
		return
	}
	if g.s.storm && now.Sub(g.s.busy) >= g.Calm {
		g.s.storm, g.s.owed = false, true
		g.SetGC(g.Base)
		g.Log.Info("connection storm over", "gogc", g.Base, "connections", n-g.s.counted,
			"duration", g.s.busy.Sub(g.s.start).Round(time.Millisecond))
	}
	if g.s.owed && !g.s.storm && now.Sub(g.s.freed) >= g.MinFree {
		g.s.owed, g.s.freed = false, now
		g.Free()
	}
}
