package presence

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
)

// Requester is the part of a NATS connection Query uses.
type Requester interface {
	RequestMsgWithContext(ctx context.Context, msg *nats.Msg) (*nats.Msg, error)
}

// Reasons of the 503 answers to a presence query.
var (
	ErrNoWorker    = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "no presence worker"}
	ErrTimeout     = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "worker timeout"}
	ErrWorkerError = &roomsproto.Error{Code: roomsproto.CodeUnavailable, Reason: "worker error"}
)

// Query asks the presence service who is in room, within timeout, and
// checks the answer. Failures are roomsproto errors (503).
func Query(ctx context.Context, nc Requester, room string, timeout time.Duration) (contract.PresenceAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(contract.PresenceQuery{Room: room})
	msg, err := nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: contract.PresenceQuerySubject, Data: body})
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return contract.PresenceAnswer{}, ErrNoWorker
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return contract.PresenceAnswer{}, ErrTimeout
	case err != nil:
		return contract.PresenceAnswer{}, roomsproto.ErrUnavailable
	case msg.Header.Get("Nats-Service-Error-Code") != "":
		return contract.PresenceAnswer{}, ErrWorkerError
	}
	a, ok := ParseAnswer(msg.Data)
	if !ok {
		return a, ErrWorkerError
	}
	return a, nil
}
