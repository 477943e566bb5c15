// Command devnats runs an embedded nats-server for local development, so
// `task run` needs nothing but Go. Production uses a real NATS cluster.
package main

import (
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	host := flag.String("host", "127.0.0.1", "listen address")
	port := flag.Int("port", 4222, "client port")
	monitor := flag.Int("monitor", 8222, "HTTP monitoring port (0 disables)")
	store := flag.String("store", filepath.Join(os.TempDir(), "wsgate-devnats"), "JetStream storage directory")
	flag.Parse()

	s, err := server.NewServer(&server.Options{
		ServerName: "devnats",
		Host:       *host,
		Port:       *port,
		HTTPHost:   *host,
		HTTPPort:   *monitor,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   *store,
	})
	if err != nil {
		slog.Error("nats-server config", "err", err)
		os.Exit(1)
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		slog.Error("nats-server did not start")
		os.Exit(1)
	}
	slog.Info("embedded nats-server ready", "url", s.ClientURL())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
}
