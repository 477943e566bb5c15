// Package admin serves a worker's admin listener (WORKER_ADMIN_ADDR):
// Prometheus metrics, health and readiness. Nothing it serves waits for
// NATS: NATS state comes from a natsprobe.Prober.
package admin

import (
	"net/http"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsgate/wsgate/shared/natsprobe"
)

// stats turns the micro service's own counters into metrics at scrape
// time, so the request path pays nothing extra. Labels: the service and
// endpoint names, a fixed set.
type stats struct {
	svc                          micro.Service
	requests, errors, processing *prometheus.Desc
	connected                    *prometheus.Desc
	probe                        *natsprobe.Prober
}

func newStats(svc micro.Service, probe *natsprobe.Prober) *stats {
	l := []string{"service", "endpoint"}
	return &stats{
		svc: svc, probe: probe,
		requests:   prometheus.NewDesc("wsgate_worker_requests_total", "Requests handled, by endpoint.", l, nil),
		errors:     prometheus.NewDesc("wsgate_worker_errors_total", "Requests answered with an error, by endpoint.", l, nil),
		processing: prometheus.NewDesc("wsgate_worker_processing_seconds_total", "Time spent handling requests, by endpoint.", l, nil),
		connected:  prometheus.NewDesc("wsgate_worker_nats_connected", "1 while connected to NATS, as of the last probe.", nil, nil),
	}
}

func (s *stats) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.requests
	ch <- s.errors
	ch <- s.processing
	ch <- s.connected
}

func (s *stats) Collect(ch chan<- prometheus.Metric) {
	st := s.svc.Stats()
	for _, e := range st.Endpoints {
		ch <- prometheus.MustNewConstMetric(s.requests, prometheus.CounterValue, float64(e.NumRequests), st.Name, e.Name)
		ch <- prometheus.MustNewConstMetric(s.errors, prometheus.CounterValue, float64(e.NumErrors), st.Name, e.Name)
		ch <- prometheus.MustNewConstMetric(s.processing, prometheus.CounterValue, e.ProcessingTime.Seconds(), st.Name, e.Name)
	}
	up := 0.0
	if s.probe.Status().Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(s.connected, prometheus.GaugeValue, up)
}

// Handler serves /metrics, /healthz and /readyz for one worker. /readyz is
// 503 once NATS has not answered a probe for probe.Timeout(), or the service
// stopped.
func Handler(svc micro.Service, probe *natsprobe.Prober) (http.Handler, *prometheus.Registry) {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newStats(svc, probe))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !probe.Ready() || svc.Stopped() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux, r
}
