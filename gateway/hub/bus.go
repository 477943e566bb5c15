package hub

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Bus is what the hub needs of NATS, behind an interface so the hub's
// decisions have unit tests without sockets. A subscription is identified by
// its *nats.Subscription, which also marks every message it delivers
// (nats.Msg.Sub).
type Bus interface {
	// ChanSubscribe delivers subject's messages into ch. It never blocks on
	// ch: a message that finds ch full is dropped and counted by Dropped.
	ChanSubscribe(subject string, ch chan *nats.Msg) (*nats.Subscription, error)
	// Unsubscribe stops the subscription; nothing is sent to its channel
	// after it returns.
	Unsubscribe(*nats.Subscription) error
	// Dropped is how many messages the subscription dropped so far; an
	// error means it is no longer valid.
	Dropped(*nats.Subscription) (int, error)
	// FlushTimeout returns once the server has processed everything sent
	// before it, subscriptions included.
	FlushTimeout(time.Duration) error
}

// natsBus is Bus over a real connection.
type natsBus struct{ nc *nats.Conn }

func (b natsBus) ChanSubscribe(subject string, ch chan *nats.Msg) (*nats.Subscription, error) {
	return b.nc.ChanSubscribe(subject, ch)
}

func (b natsBus) Unsubscribe(s *nats.Subscription) error    { return s.Unsubscribe() }
func (b natsBus) Dropped(s *nats.Subscription) (int, error) { return s.Dropped() }
func (b natsBus) FlushTimeout(timeout time.Duration) error  { return b.nc.FlushTimeout(timeout) }
