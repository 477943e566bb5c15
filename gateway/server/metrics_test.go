package server

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// What clients do shows up in the admin listener's /metrics.
func TestMetrics(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	worker(t, url, "auth")
	g := gateway(t, url, func(c *Config) { c.MaxMessageBytes = 16 })
	admin := httptest.NewServer(g.AdminHandler())
	defer admin.Close()

	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.TextMessage, "hello")
	read(t, ws)
	send(t, ws, websocket.TextMessage, strings.Repeat("x", 17))
	closeCode(t, ws, 3*time.Second)
	dialStatus(t, g.url+"/ws/room/a.b", nil)
	dialStatus(t, g.url+"/ws/private", bearer("wrong"))
	eventually(t, 3*time.Second, "the close to be counted", func() bool {
		return testutil.ToFloat64(g.m.Disconnects.WithLabelValues("1009")) == 1
	})

	checks := map[string]float64{
		"accepted /ws":         testutil.ToFloat64(g.m.Accepted.WithLabelValues("/ws")),
		"refused bad_room":     testutil.ToFloat64(g.m.Refused.WithLabelValues("bad_room")),
		"refused unauthorized": testutil.ToFloat64(g.m.Refused.WithLabelValues("unauthorized")),
		"auth unauthorized":    testutil.ToFloat64(g.m.AuthDecisions.WithLabelValues("unauthorized")),
		"frames in":            testutil.ToFloat64(g.m.FramesIn),
		"frames out":           testutil.ToFloat64(g.m.FramesOut),
		"bytes in":             testutil.ToFloat64(g.m.BytesIn) / 5,
		"open":                 testutil.ToFloat64(g.m.Connections) + 1,
	}
	for name, v := range checks {
		if v != 1 {
			t.Errorf("%s: %v", name, v)
		}
	}
	resp, err := admin.Client().Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wsgate_gateway_connections_accepted_total{route="/ws"} 1`,
		`wsgate_gateway_disconnects_total{code="1009"} 1`,
		"wsgate_gateway_worker_request_duration_seconds_count 1",
		"wsgate_gateway_nats_connected 1",
		"wsgate_gateway_room_subscriptions 0",
		"wsgate_gateway_room_messages_dropped_total 0",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
