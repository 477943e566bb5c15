// Command worker runs one worker role per process: echo, room, auth or
// presence.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/env"
	"github.com/wsgate/wsgate/shared/logging"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/shared/natsprobe"
	"github.com/wsgate/wsgate/worker/admin"
	"github.com/wsgate/wsgate/worker/auth"
	"github.com/wsgate/wsgate/worker/echo"
	"github.com/wsgate/wsgate/worker/presence"
	"github.com/wsgate/wsgate/worker/room"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

const usage = "usage: worker echo|room|auth|presence"

func main() {
	log := logging.MustFromEnv()
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(os.Args[1], log); err != nil {
		log.Error("worker failed", "err", err)
		os.Exit(1)
	}
}

func run(role string, log *slog.Logger) error {
	log = log.With("role", role)
	probeTimeout, err := natsprobe.TimeoutFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	add, err := service(ctx, role, log)
	if err != nil {
		return err
	}
	ne, err := natsconn.FromEnv()
	if err != nil {
		return err
	}
	closed := make(chan struct{})
	nc, err := natsconn.Connect(ne.URL, "worker-"+role, log,
		append(ne.Options, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))...)
	if err != nil {
		return err
	}
	svc, err := add(nc)
	if err != nil {
		nc.Close()
		return err
	}
	if role == "auth" {
		publishPolicy(ctx, nc, log)
	}
	if addr := os.Getenv("WORKER_ADMIN_ADDR"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		probe := natsprobe.Start(nc, probeTimeout)
		defer probe.Stop()
		h, _ := admin.Handler(svc, probe)
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("admin listening", "addr", ln.Addr().String())
	}
	log.Info("worker started", "nats", ne.Redacted(), "id", svc.Info().ID, "version", version)

	select {
	case <-ctx.Done():
	case <-closed:
		// nats.go gave up: the server refused the credentials.
		_ = svc.Stop()
		stopPresence()
		return fmt.Errorf("nats connection closed: %v", nc.LastError())
	}

	// Stop drains the endpoint subscriptions: no new requests, the ones
	// already delivered are answered. Then drain the connection itself.
	log.Info("worker stopping")
	if err := svc.Stop(); err != nil {
		log.Warn("service stop", "err", err)
	}
	stopPresence()
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		nc.Close()
	}
	log.Info("worker stopped")
	return nil
}

func service(ctx context.Context, role string, log *slog.Logger) (func(*nats.Conn) (micro.Service, error), error) {
	switch role {
	case "echo":
		return func(nc *nats.Conn) (micro.Service, error) { return echo.Add(nc, version) }, nil
	case "room":
		h, err := room.HistoryFromEnv()
		if err != nil {
			return nil, err
		}
		return func(nc *nats.Conn) (micro.Service, error) {
			if h.Size > 0 {
				if err := ensureHistory(ctx, nc, h, log); err != nil {
					return nil, err
				}
			}
			return room.Add(nc, contract.RoomSubject, version, h)
		}, nil
	case "presence":
		cfg, err := presence.FromEnv()
		if err != nil {
			return nil, err
		}
		return func(nc *nats.Conn) (micro.Service, error) {
			w, err := presence.Start(ctx, nc, cfg, version, log)
			if err != nil {
				return nil, err
			}
			presenceWorker = w
			return w.Service(), nil
		}, nil
	case "auth":
		p, dev, weak, err := auth.FromEnv(ctx)
		if err != nil {
			return nil, err
		}
		if weak {
			log.Warn("AUTH_JWT_SECRET is shorter than 32 bytes: HS256 tokens are only as strong as that secret")
		}
		if dev {
			log.Warn("no AUTH_TOKENS, AUTH_JWT_SECRET or AUTH_JWKS_URL: accepting the development token 'secret' as user 'user'; configure one in production")
		}
		policy = p
		return func(nc *nats.Conn) (micro.Service, error) { return auth.Add(nc, p, version) }, nil
	}
	return nil, fmt.Errorf("unknown role %q; %s", role, usage)
}

// ensureHistory creates the room history stream, or brings it to the
// settings, before the worker takes any frame: a room worker that asks
// gateways to store broadcasts while the stream is missing would lose them.
// It retries (NATS or JetStream may come up later, a cluster elect its
// leader) until it succeeds or the worker is stopped.
func ensureHistory(ctx context.Context, nc *nats.Conn, h room.History, log *slog.Logger) error {
	wait := 250 * time.Millisecond
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := h.EnsureStream(c, nc, contract.RoomSubject)
		cancel()
		if err == nil {
			log.Info("room history on", "stream", contract.HistoryStream(contract.RoomSubject), "size", h.Size,
				"ttl", h.TTL, "replicas", h.Replicas, "dedupe_window", h.Dedupe)
			return nil
		}
		log.Warn("cannot set up the room history stream yet; not taking frames until it exists", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// retry runs try now, and until it succeeds every 10 s in the background.
func retry(ctx context.Context, log *slog.Logger, done string, try func(context.Context) bool) {
	once := func() bool {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return try(c)
	}
	if once() {
		return
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
				if once() {
					log.Info(done)
					return
				}
			}
		}
	}()
}

// presenceWorker is the presence role's, stopped with the service.
var presenceWorker *presence.Worker

func stopPresence() {
	if presenceWorker != nil {
		presenceWorker.Stop()
	}
}

// policy is the auth role's, for publishPolicy.
var policy *auth.Policy

// publishPolicy tells gateways which rooms are protected. It retries in the
// background until it succeeds (NATS or JetStream may come up later).
func publishPolicy(ctx context.Context, nc *nats.Conn, log *slog.Logger) {
	replicas, err := env.Int("AUTH_POLICY_REPLICAS", 1)
	if err != nil {
		log.Error("bad AUTH_POLICY_REPLICAS; using 1", "err", err)
		replicas = 1
	}
	retry(ctx, log, "protected-room policy published", func(c context.Context) bool {
		if err := auth.PublishPolicy(c, nc, policy, replicas); err != nil {
			log.Warn("cannot publish the protected-room policy yet; protected rooms are enforced only for clients that reach this worker", "err", err)
			return false
		}
		return true
	})
}
