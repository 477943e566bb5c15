package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// The names follow Prometheus conventions.
func TestLint(t *testing.T) {
	m := NewGateway()
	m.GaugeFunc("wsgate_gateway_room_subscriptions", "Rooms this gateway is subscribed to.", func() float64 { return 0 })
	m.Accepted.WithLabelValues("/ws").Inc()
	m.Refused.WithLabelValues("origin").Inc()
	m.Disconnects.WithLabelValues(CodeLabel(1000)).Inc()
	m.AuthDecisions.WithLabelValues("ok").Inc()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "wsgate_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestCodeLabel(t *testing.T) {
	if CodeLabel(0) != "1006" || CodeLabel(1013) != "1013" || CodeLabel(4321) != "other" {
		t.Fatal("code labels")
	}
}
