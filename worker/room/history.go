package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/env"
)

// History is how the room worker keeps room history: the limits of the
// history stream it owns. Size 0 turns history off.
type History struct {
	Size     int           // ROOM_HISTORY_SIZE: messages kept per room
	TTL      time.Duration // ROOM_HISTORY_TTL: how long a message is kept
	Replicas int           // ROOM_HISTORY_REPLICAS
	Dedupe   time.Duration // ROOM_DEDUPE_WINDOW: how long a msg_id is remembered
}

// HistoryFromEnv reads the History settings; a bad value is an error naming
// its variable.
func HistoryFromEnv() (History, error) {
	var h History
	var errs []error
	var err error
	if h.Size, err = env.Int("ROOM_HISTORY_SIZE", 100); err == nil && h.Size < 0 {
		err = errors.New("ROOM_HISTORY_SIZE: must be 0 (off) or more")
	}
	errs = append(errs, err)
	if h.TTL, err = env.Duration("ROOM_HISTORY_TTL", 24*time.Hour); err == nil && h.TTL <= 0 {
		err = errors.New("ROOM_HISTORY_TTL: must be positive")
	}
	errs = append(errs, err)
	if h.Replicas, err = env.Int("ROOM_HISTORY_REPLICAS", 1); err == nil && (h.Replicas < 1 || h.Replicas > 5) {
		err = errors.New("ROOM_HISTORY_REPLICAS: must be 1 to 5")
	}
	errs = append(errs, err)
	if h.Dedupe, err = env.Duration("ROOM_DEDUPE_WINDOW", 2*time.Minute); err == nil && (h.Dedupe <= 0 || h.Dedupe > h.TTL) {
		err = errors.New("ROOM_DEDUPE_WINDOW: must be positive and at most ROOM_HISTORY_TTL")
	}
	errs = append(errs, err)
	return h, errors.Join(errs...)
}

// StreamConfig is the history stream of the rooms under base: one subject
// per room, the last Size messages of each kept for TTL, republished to the
// room's broadcast subject as they are stored (with Nats-Sequence and
// Nats-Last-Sequence, by which gateways order and check what they
// deliver), readable by direct gets from any replica.
func (h History) StreamConfig(base string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              contract.HistoryStream(base),
		Description:       "wsgate room history: the last messages of every room",
		Subjects:          []string{contract.RoomLogWildcard(base)},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(h.Size),
		MaxAge:            h.TTL,
		Duplicates:        h.Dedupe,
		Replicas:          h.Replicas,
		Storage:           jetstream.FileStorage,
		AllowDirect:       true,
		RePublish: &jetstream.RePublish{
			Source:      contract.RoomLogWildcard(base),
			Destination: contract.RoomOut(base, "{{wildcard(1)}}"),
		},
	}
}

// EnsureStream creates the history stream, or brings an existing one to
// these settings.
func (h History) EnsureStream(ctx context.Context, nc *nats.Conn, base string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateStream(ctx, h.StreamConfig(base)); err != nil {
		return fmt.Errorf("room history stream %s: %w", contract.HistoryStream(base), err)
	}
	return nil
}
