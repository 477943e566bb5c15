// Package natstest starts a real nats-server in-process on a random loopback
// port, for tests.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
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
	return StartWith(t, func(o *server.Options) { o.Port = port })
}

// StartConfig runs a server from a nats-server configuration file (its
// $VARIABLE references resolve from the environment), on 127.0.0.1 with a
// random port, JetStream storage in a temporary directory and monitoring
// off, whatever the file says. It stops at test end.
func StartConfig(t testing.TB, path string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server config %s: %v", path, err)
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.HTTPPort, opts.HTTPSPort = 0, 0
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	return run(t, opts)
}

// Cluster runs n servers routed to each other on loopback, with JetStream,
// and waits until every route is up. They stop at test end.
func Cluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	// Clustered JetStream needs its routes configured from the start, so
	// the cluster ports are chosen first.
	var routes []*url.URL
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ports = append(ports, port)
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	var servers []*server.Server
	for i := 0; i < n; i++ {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		})
		if err != nil {
			t.Fatalf("nats-server %d: %v", i+1, err)
		}
		go s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		servers = append(servers, s)
	}
	deadline := time.Now().Add(15 * time.Second)
	for i, s := range servers {
		if !s.ReadyForConnections(15 * time.Second) {
			t.Fatalf("nats-server %d did not start", i+1)
		}
		for s.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("cluster did not form: %s has %d routes", s.Name(), s.NumRoutes())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return servers
}

// URLs is the comma-separated client URLs of servers, for NATS_URL.
func URLs(servers []*server.Server) string {
	var u []string
	for _, s := range servers {
		u = append(u, s.ClientURL())
	}
	return strings.Join(u, ",")
}
