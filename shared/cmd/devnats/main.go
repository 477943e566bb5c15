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
	config := flag.String("config", "", "nats-server configuration file, e.g. deployments/nats/wsgate.conf; the flags above override it when given")
	flag.Parse()

	opts := &server.Options{
		ServerName: "devnats",
		Host:       *host,
		Port:       *port,
		HTTPHost:   *host,
		HTTPPort:   *monitor,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   *store,
	}
	if *config != "" {
		var err error
		if opts, err = fromFile(*config, *host, *port, *monitor, *store); err != nil {
			slog.Error("nats-server config", "file", *config, "err", err)
			os.Exit(1)
		}
	}
	s, err := server.NewServer(opts)
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

// fromFile loads a nats-server configuration, as `nats-server -c` would,
// with the flags the user gave on top.
func fromFile(path, host string, port, monitor int, store string) (*server.Options, error) {
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		return nil, err
	}
	opts.NoSigs = true
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "host":
			opts.Host, opts.HTTPHost = host, host
		case "port":
			opts.Port = port
		case "monitor":
			opts.HTTPPort = monitor
		case "store":
			opts.StoreDir = store
		}
	})
	return opts, nil
}
