// Package admin serves a worker's admin listener (WORKER_ADMIN_ADDR):
// Prometheus metrics, health and readiness.
package admin

import (
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// stats turns the micro service's own counters into metrics at scrape
// time, so the request path pays nothing extra. Labels: the service and
// endpoint names, a fixed set.
type stats struct {
	svc                          micro.Service
	requests, errors, processing *prometheus.Desc
	connected                    *prometheus.Desc
	nc                           *nats.Conn
}

func newStats(nc *nats.Conn, svc micro.Service) *stats {
	l := []string{"service", "endpoint"}
	return &stats{
		svc: svc, nc: nc,
		requests:   prometheus.NewDesc("wsgate_worker_requests_total", "Requests handled, by endpoint.", l, nil),
		errors:     prometheus.NewDesc("wsgate_worker_errors_total", "Requests answered with an error, by endpoint.", l, nil),
		processing: prometheus.NewDesc("wsgate_worker_processing_seconds_total", "Time spent handling requests, by endpoint.", l, nil),
		connected:  prometheus.NewDesc("wsgate_worker_nats_connected", "1 while connected to NATS.", nil, nil),
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
	if s.nc.IsConnected() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(s.connected, prometheus.GaugeValue, up)
}

// Handler serves /metrics, /healthz and /readyz for one worker.
func Handler(nc *nats.Conn, svc micro.Service) (http.Handler, *prometheus.Registry) {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newStats(nc, svc))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !nc.IsConnected() || svc.Stopped() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux, r
}
