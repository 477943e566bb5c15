// Command gateway terminates WebSocket connections and bridges their frames
// to NATS. Configuration comes from environment variables (see README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/gateway/gctune"
	"github.com/wsgate/wsgate/gateway/server"
	"github.com/wsgate/wsgate/shared/env"
	"github.com/wsgate/wsgate/shared/logging"
	"github.com/wsgate/wsgate/shared/natsconn"
)

func main() {
	log := logging.MustFromEnv()
	if err := run(log); err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	if os.Getenv("GOGC") == "" {
		// A gateway's heap is mostly long-lived connection state, and each
		// handshake leaves about 8 KiB of net/http buffers behind. With
		// Go's default GOGC=100 the heap may grow to twice the live state
		// before a collection, which is most of an idle client's RSS;
		// 50 trades a little GC CPU for a third less memory. GOGC overrides.
		debug.SetGCPercent(50)
	}
	cfg, err := server.FromEnv()
	ne, nerr := natsconn.FromEnv() // NATS_URL again, with credentials and TLS
	stormGC, serr := stormGOGC()
	if err = errors.Join(err, nerr, serr); err != nil {
		return err
	}
	closed := make(chan struct{})
	opts := append(append(ne.Options, server.NATSOptions()...), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := natsconn.Connect(ne.URL, "gateway", log, opts...)
	if err != nil {
		return err
	}
	g, err := server.New(cfg, nc, log)
	if err != nil {
		return err
	}
	// During connection storms, collect less often (package gctune).
	base := debug.SetGCPercent(-1) // reads GOGC (or the 50 above) back
	debug.SetGCPercent(base)
	if base >= 0 && stormGC > base {
		gov := gctune.New(base, stormGC, log)
		gov.Storms = g.StormCounter()
		g.OnConnection(gov.Event)
		gctx, stopGov := context.WithCancel(context.Background())
		defer stopGov()
		go gov.Run(gctx)
	}
	srv := &http.Server{}
	g.ConfigureHTTP(srv)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "nats", ne.Redacted(), "id", g.ID())
	if cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			return err
		}
		admin := &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = admin.Serve(aln) }()
		defer admin.Close()
		log.Info("admin listening", "addr", aln.Addr().String())
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-closed:
		// nats.go gave up: the server refused the credentials.
		return fmt.Errorf("nats connection closed: %v", nc.LastError())
	case <-ctx.Done():
	}

	log.Info("gateway draining", "window", cfg.DrainWindow)
	g.StopAccepting()
	grace, cancel := context.WithTimeout(context.Background(), cfg.DrainWindow+5*time.Second)
	defer cancel()
	// Shutdown stops the listener; hijacked WebSockets are not its business.
	if err := srv.Shutdown(grace); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	g.Shutdown(grace)
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	select {
	case <-closed:
	case <-grace.Done():
		nc.Close()
	}
	log.Info("gateway stopped")
	return nil
}

// stormGOGC is GATEWAY_STORM_GOGC: the GC target during connection storms
// (default 200); 0, or not above GOGC, turns the governor off.
func stormGOGC() (int, error) { return env.Int("GATEWAY_STORM_GOGC", 200) }
