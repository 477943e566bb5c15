// Package natstest starts a real nats-server in-process on a random loopback
// port, for tests.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a server on 127.0.0.1 with a random port; it stops at test end.
func Start(t testing.TB) *server.Server {
	t.Helper()
	return StartOn(t, -1)
}

// StartOn runs a server on the given port (-1 for random), so a test can
// stop a server and start a new one where the old one listened.
func StartOn(t testing.TB, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  t.TempDir(),
	})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}
