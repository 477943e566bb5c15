// Package natsconn connects gateways and workers to NATS the same way: retry
// the first connect, reconnect forever with jitter, and log state changes.
package natsconn

import (
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultURL is the NATS_URL default of every process.
const DefaultURL = "nats://127.0.0.1:4222"

// Options are the connection options shared by every process. Extra options
// are applied after them. Set handlers here, before micro.AddService, which
// wraps (and would otherwise replace) them.
func Options(name string, log *slog.Logger, extra ...nats.Option) []nats.Option {
	failed := &throttle{every: 30 * time.Second}
	opts := []nats.Option{
		nats.Name(name),
		// Keep trying while NATS is down at start, and never give up later:
		// nats.go's default is to stop after 60 attempts.
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: a deliberate close or drain
				log.Warn("nats disconnected", "err", err)
			}
		}),
		// A failed attempt (server down, credentials refused, TLS refused)
		// says why, once per distinct reason and at most every 30 s.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if failed.allow(err.Error()) {
				log.Warn("nats connect failed", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", Redact(nc.ConnectedUrl())) // nats.go's own redaction leaves tokens
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
	return append(opts, extra...)
}

// Connect dials url with Options.
func Connect(url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(url, Options(name, log, extra...)...)
}

// throttle lets a message through when it differs from the last one or
// when `every` has passed since.
type throttle struct {
	every time.Duration
	mu    sync.Mutex
	last  string
	at    time.Time
}

func (t *throttle) allow(msg string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if msg == t.last && time.Since(t.at) < t.every {
		return false
	}
	t.last, t.at = msg, time.Now()
	return true
}
