package server

import (
	"strings"
	"testing"
)

// A zero that would break every connection stops the gateway at start
// with an error naming the variable; a zero documented as "off" is fine.
func TestZeroSettings(t *testing.T) {
	for _, name := range []string{
		"GATEWAY_WORKER_TIMEOUT", "GATEWAY_SEND_QUEUE_BYTES", "GATEWAY_WRITE_TIMEOUT", "GATEWAY_HANDSHAKE_TIMEOUT",
		"GATEWAY_AUTH_TIMEOUT", "GATEWAY_MAX_HEADER_BYTES", "GATEWAY_MAX_MESSAGE_BYTES", "GATEWAY_PONG_TIMEOUT", "NATS_PROBE_TIMEOUT",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "0")
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=0: %v", name, err)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		for _, name := range []string{"GATEWAY_RATE_PER_SECOND", "GATEWAY_PING_INTERVAL", "GATEWAY_PONG_TIMEOUT",
			"GATEWAY_DRAIN_WINDOW", "GATEWAY_MAX_CONNECTIONS", "GATEWAY_MAX_CONNECTIONS_PER_IP"} {
			t.Setenv(name, "0")
		}
		c, err := FromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if c.PingInterval != 0 || c.RatePerSecond != 0 || c.MaxConnections != 0 {
			t.Fatalf("zeros not taken: %+v", c)
		}
	})
	if _, err := FromEnv(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// GATEWAY_WRITE_COALESCE is off at 0 and by default, and may not be
// negative; a bad in_flight in GATEWAY_ROUTES stops the gateway too.
func TestWriteCoalesceAndInFlightSettings(t *testing.T) {
	c, err := FromEnv()
	if err != nil || c.WriteCoalesce != 0 {
		t.Fatalf("default: %v %v", c.WriteCoalesce, err)
	}
	t.Setenv("GATEWAY_WRITE_COALESCE", "10ms")
	if c, err := FromEnv(); err != nil || c.WriteCoalesce.Milliseconds() != 10 {
		t.Fatalf("10ms: %v %v", c.WriteCoalesce, err)
	}
	t.Setenv("GATEWAY_WRITE_COALESCE", "-1ms")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "GATEWAY_WRITE_COALESCE") {
		t.Fatalf("negative: %v", err)
	}
	t.Setenv("GATEWAY_WRITE_COALESCE", "")
	for _, n := range []string{"0.5", "-1", "1025"} {
		t.Setenv("GATEWAY_ROUTES", `[{"path":"/ws","kind":"request","subject":"wsgw.echo","in_flight":`+n+`}]`)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "GATEWAY_ROUTES") {
			t.Fatalf("in_flight %s: %v", n, err)
		}
	}
}
