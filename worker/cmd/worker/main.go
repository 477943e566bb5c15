// Command worker runs one worker role per process: echo, room or auth.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/env"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/worker/auth"
	"github.com/wsgate/wsgate/worker/echo"
	"github.com/wsgate/wsgate/worker/room"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

const usage = "usage: worker echo|room|auth"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
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
	add, err := service(role, log)
	if err != nil {
		return err
	}
	url := env.String("NATS_URL", natsconn.DefaultURL)
	closed := make(chan struct{})
	nc, err := natsconn.Connect(url, "worker-"+role, log,
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return err
	}
	svc, err := add(nc)
	if err != nil {
		nc.Close()
		return err
	}
	log.Info("worker started", "nats", url, "id", svc.Info().ID, "version", version)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()

	// Stop drains the endpoint subscriptions: no new requests, the ones
	// already delivered are answered. Then drain the connection itself.
	log.Info("worker stopping")
	if err := svc.Stop(); err != nil {
		log.Warn("service stop", "err", err)
	}
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

func service(role string, log *slog.Logger) (func(*nats.Conn) (micro.Service, error), error) {
	switch role {
	case "echo":
		return func(nc *nats.Conn) (micro.Service, error) { return echo.Add(nc, version) }, nil
	case "room":
		return func(nc *nats.Conn) (micro.Service, error) { return room.Add(nc, contract.RoomSubject, version) }, nil
	case "auth":
		spec := os.Getenv("AUTH_TOKENS")
		tokens, err := auth.ParseTokens(spec)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(spec) == "" {
			log.Warn("AUTH_TOKENS is not set: accepting the development token 'secret' as user 'user'; set AUTH_TOKENS in production")
		}
		denied := strings.Split(os.Getenv("AUTH_DENIED_USERS"), ",")
		p := auth.NewPolicy(tokens, denied)
		return func(nc *nats.Conn) (micro.Service, error) { return auth.Add(nc, p, version) }, nil
	}
	return nil, fmt.Errorf("unknown role %q; %s", role, usage)
}
