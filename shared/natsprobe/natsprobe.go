// Package natsprobe tells whether NATS answers, without anyone waiting for
// it: a background goroutine pings the server on an interval and records
// what it found, and readiness and metrics read that record. A NATS server
// that is silently gone (frozen, or behind a partition: no TCP reset) keeps
// the connection "connected" for tens of seconds; only an answer proves it
// is there, and asking for one at request time would block the asker.
package natsprobe

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/env"
)

// EnvTimeout names the variable that sets how long NATS may go without
// answering before a process reports itself not ready.
const EnvTimeout = "NATS_PROBE_TIMEOUT"

// DefaultTimeout is EnvTimeout's default.
const DefaultTimeout = 2 * time.Second

// TimeoutFromEnv reads EnvTimeout; zero is refused, as it would make a
// process never ready.
func TimeoutFromEnv() (time.Duration, error) {
	d, err := env.Duration(EnvTimeout, DefaultTimeout)
	if err == nil && d == 0 {
		err = errors.New(EnvTimeout + ": must be positive")
	}
	return d, err
}

// Status is what the probes found so far.
type Status struct {
	// Connected is the connection's state at the last probe.
	Connected bool
	// Answered is when NATS last answered a ping; zero if never.
	Answered time.Time
	// RTT is the round trip of the last probe; negative when it got no
	// answer (timeout, or not connected).
	RTT time.Duration
	// MaxPayload is the server's max_payload as of the last answer.
	MaxPayload int64
}

// Ready is the readiness decision: connected, and an answer no older than
// within.
func (s Status) Ready(now time.Time, within time.Duration) bool {
	return s.Connected && !s.Answered.IsZero() && now.Sub(s.Answered) <= within
}

// Prober pings one NATS connection. It pings every timeout/2 and waits at
// most timeout/2 for each answer, so a server that answers within
// timeout/2 keeps it ready without a gap, and one that stops answering
// makes it not ready timeout after its last answer. A change of the
// connection's state (a disconnect, a reconnect) triggers a probe at once.
type Prober struct {
	nc      *nats.Conn
	timeout time.Duration
	events  chan nats.Status
	status  atomic.Pointer[Status]
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Start probes nc once, then keeps probing in the background until Stop
// or until nc is closed. timeout <= 0 means DefaultTimeout.
func Start(nc *nats.Conn, timeout time.Duration) *Prober {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	p := &Prober{
		nc: nc, timeout: timeout,
		events: nc.StatusChanged(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	p.status.Store(&Status{RTT: -1})
	p.probe()
	go p.run()
	return p
}

// Timeout is how long NATS may go without answering before Ready is false.
func (p *Prober) Timeout() time.Duration { return p.timeout }

// Status is the latest record; it never blocks.
func (p *Prober) Status() Status { return *p.status.Load() }

// Ready reports whether NATS answered within the timeout; it never blocks.
func (p *Prober) Ready() bool { return p.Status().Ready(time.Now(), p.timeout) }

// Stop ends the probing and waits for the last probe (at most timeout/2).
func (p *Prober) Stop() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

func (p *Prober) run() {
	defer close(p.done)
	defer p.nc.RemoveStatusListener(p.events)
	tick := time.NewTicker(p.timeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.events:
		case <-tick.C:
		}
		if p.nc.IsClosed() {
			p.record(false, -1)
			return
		}
		p.probe()
	}
}

// probe pings once. The ping waits behind whatever the connection has
// queued for the server, so an answer also says the connection flows.
func (p *Prober) probe() {
	if !p.nc.IsConnected() {
		p.record(false, -1)
		return
	}
	start := time.Now()
	if err := p.nc.FlushTimeout(p.timeout / 2); err != nil {
		p.record(p.nc.IsConnected(), -1)
		return
	}
	p.record(true, time.Since(start))
}

func (p *Prober) record(connected bool, rtt time.Duration) {
	s := p.Status()
	s.Connected, s.RTT = connected, rtt
	if rtt >= 0 {
		s.Answered = time.Now()
		s.MaxPayload = p.nc.MaxPayload()
	}
	p.status.Store(&s)
}
