package presence

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/env"
)

// Config is the presence worker's settings (README.md has the table).
type Config struct {
	TTL              time.Duration // PRESENCE_TTL: for gateways that do not say their own
	EventsMaxAge     time.Duration // EVENTS_MAX_AGE
	EventsMaxBytes   int64         // EVENTS_MAX_BYTES (-1: no limit)
	EventsReplicas   int           // EVENTS_REPLICAS
	EventsDuplicates time.Duration // EVENTS_DUPLICATE_WINDOW
	PresenceReplicas int           // PRESENCE_REPLICAS
}

// Defaults is the configuration with no variables set.
func Defaults() Config {
	return Config{
		TTL:              contract.DefaultPresenceTTL,
		EventsMaxAge:     7 * 24 * time.Hour,
		EventsMaxBytes:   1 << 30,
		EventsReplicas:   1,
		EventsDuplicates: 2 * time.Minute,
		PresenceReplicas: 1,
	}
}

// FromEnv reads the environment over Defaults.
func FromEnv() (Config, error) {
	c := Defaults()
	var errs []error
	var err error
	c.TTL, err = env.Duration("PRESENCE_TTL", c.TTL)
	errs = append(errs, err)
	c.EventsMaxAge, err = env.Duration("EVENTS_MAX_AGE", c.EventsMaxAge)
	errs = append(errs, err)
	if v := os.Getenv("EVENTS_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("EVENTS_MAX_BYTES: %q is not an integer", v))
		}
		c.EventsMaxBytes = n
	}
	c.EventsReplicas, err = env.Int("EVENTS_REPLICAS", c.EventsReplicas)
	errs = append(errs, err)
	c.EventsDuplicates, err = env.Duration("EVENTS_DUPLICATE_WINDOW", c.EventsDuplicates)
	errs = append(errs, err)
	c.PresenceReplicas, err = env.Int("PRESENCE_REPLICAS", c.PresenceReplicas)
	errs = append(errs, err)
	for _, s := range []struct {
		name string
		bad  bool
	}{
		{"PRESENCE_TTL must be positive", c.TTL <= 0},
		{"EVENTS_MAX_AGE must not be negative (0: no limit)", c.EventsMaxAge < 0},
		{"EVENTS_MAX_BYTES must be positive or -1 (no limit)", c.EventsMaxBytes == 0 || c.EventsMaxBytes < -1},
		{"EVENTS_REPLICAS must be 1 to 5", c.EventsReplicas < 1 || c.EventsReplicas > 5},
		{"EVENTS_DUPLICATE_WINDOW must be positive", c.EventsDuplicates <= 0},
		{"PRESENCE_REPLICAS must be 1 to 5", c.PresenceReplicas < 1 || c.PresenceReplicas > 5},
	} {
		if s.bad {
			errs = append(errs, errors.New(s.name))
		}
	}
	if c.EventsMaxAge > 0 && c.EventsDuplicates > c.EventsMaxAge {
		errs = append(errs, errors.New("EVENTS_DUPLICATE_WINDOW must not exceed EVENTS_MAX_AGE"))
	}
	return c, errors.Join(errs...)
}
