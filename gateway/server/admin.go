package server

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves what operators and tools read, on an address apart
// from the public listener (GATEWAY_ADMIN_ADDR): Prometheus metrics,
// health, readiness and the Go profiler.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	pub := g.Handler()
	mux.Handle("GET /healthz", pub)
	mux.Handle("GET /readyz", pub)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
