package presence

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	c, err := FromEnv()
	if err != nil || c != Defaults() || c.TTL != 15*time.Second {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	t.Setenv("PRESENCE_TTL", "2s")
	t.Setenv("EVENTS_MAX_AGE", "1h")
	t.Setenv("EVENTS_MAX_BYTES", "-1")
	t.Setenv("EVENTS_REPLICAS", "3")
	if c, err = FromEnv(); err != nil || c.TTL != 2*time.Second || c.EventsMaxAge != time.Hour || c.EventsMaxBytes != -1 || c.EventsReplicas != 3 {
		t.Fatalf("set: %+v %v", c, err)
	}
	for name, bad := range map[string]string{
		"PRESENCE_TTL": "0s", "EVENTS_MAX_AGE": "-1s", "EVENTS_MAX_BYTES": "0", "EVENTS_REPLICAS": "6",
		"EVENTS_DUPLICATE_WINDOW": "2h", "PRESENCE_REPLICAS": "x",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, bad)
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%s: %v", name, bad, err)
			}
		})
	}
}
