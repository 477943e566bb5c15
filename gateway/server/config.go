package server

import (
	"errors"
	"time"

	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/shared/env"
	"github.com/wsgate/wsgate/shared/natsconn"
)

// Config is every gateway setting. FromEnv documents each variable's name;
// README.md has the same table.
type Config struct {
	NATSURL          string        // NATS_URL
	Addr             string        // GATEWAY_ADDR
	Routes           *route.Table  // GATEWAY_ROUTES
	AuthTimeout      time.Duration // GATEWAY_AUTH_TIMEOUT
	WorkerTimeout    time.Duration // GATEWAY_WORKER_TIMEOUT
	MaxMessageBytes  int           // GATEWAY_MAX_MESSAGE_BYTES
	SendQueueBytes   int           // GATEWAY_SEND_QUEUE_BYTES
	HandshakeTimeout time.Duration // GATEWAY_HANDSHAKE_TIMEOUT
	WriteTimeout     time.Duration // GATEWAY_WRITE_TIMEOUT
	DrainWindow      time.Duration // GATEWAY_DRAIN_WINDOW
}

// Defaults returns the configuration of a gateway with no variables set.
func Defaults() Config {
	routes, _ := route.New(route.Defaults())
	return Config{
		NATSURL:          natsconn.DefaultURL,
		Addr:             ":8080",
		Routes:           routes,
		AuthTimeout:      2 * time.Second,
		WorkerTimeout:    5 * time.Second,
		MaxMessageBytes:  64 << 10,
		SendQueueBytes:   1 << 20,
		HandshakeTimeout: 10 * time.Second,
		WriteTimeout:     10 * time.Second,
		DrainWindow:      5 * time.Second,
	}
}

// FromEnv reads the environment over Defaults.
func FromEnv() (Config, error) {
	c := Defaults()
	var errs []error
	dur := func(name string, p *time.Duration) {
		v, err := env.Duration(name, *p)
		errs = append(errs, err)
		*p = v
	}
	num := func(name string, p *int) {
		v, err := env.Int(name, *p)
		errs = append(errs, err)
		*p = v
	}
	c.NATSURL = env.String("NATS_URL", c.NATSURL)
	c.Addr = env.String("GATEWAY_ADDR", c.Addr)
	routes, err := route.Parse(env.String("GATEWAY_ROUTES", ""))
	errs = append(errs, err)
	c.Routes = routes
	dur("GATEWAY_AUTH_TIMEOUT", &c.AuthTimeout)
	dur("GATEWAY_WORKER_TIMEOUT", &c.WorkerTimeout)
	num("GATEWAY_MAX_MESSAGE_BYTES", &c.MaxMessageBytes)
	num("GATEWAY_SEND_QUEUE_BYTES", &c.SendQueueBytes)
	dur("GATEWAY_HANDSHAKE_TIMEOUT", &c.HandshakeTimeout)
	dur("GATEWAY_WRITE_TIMEOUT", &c.WriteTimeout)
	dur("GATEWAY_DRAIN_WINDOW", &c.DrainWindow)
	if c.MaxMessageBytes == 0 {
		errs = append(errs, errors.New("GATEWAY_MAX_MESSAGE_BYTES must be positive"))
	}
	return c, errors.Join(errs...)
}
