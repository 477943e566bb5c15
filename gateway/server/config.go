package server

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/wsgate/wsgate/gateway/admit"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/env"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/shared/natsprobe"
)

// Config is every gateway setting. FromEnv documents each variable's name;
// README.md has the same table.
type Config struct {
	NATSURL          string        // NATS_URL
	Addr             string        // GATEWAY_ADDR
	AdminAddr        string        // GATEWAY_ADMIN_ADDR
	Routes           *route.Table  // GATEWAY_ROUTES
	AuthTimeout      time.Duration // GATEWAY_AUTH_TIMEOUT
	WorkerTimeout    time.Duration // GATEWAY_WORKER_TIMEOUT
	MaxMessageBytes  int           // GATEWAY_MAX_MESSAGE_BYTES
	MaxRooms         int           // GATEWAY_MAX_ROOMS_PER_CONNECTION
	SendQueueBytes   int           // GATEWAY_SEND_QUEUE_BYTES
	HandshakeTimeout time.Duration // GATEWAY_HANDSHAKE_TIMEOUT
	WriteTimeout     time.Duration // GATEWAY_WRITE_TIMEOUT
	WriteCoalesce    time.Duration // GATEWAY_WRITE_COALESCE
	DrainWindow      time.Duration // GATEWAY_DRAIN_WINDOW
	RatePerSecond    float64       // GATEWAY_RATE_PER_SECOND
	RateBurst        int           // GATEWAY_RATE_BURST
	PingInterval     time.Duration // GATEWAY_PING_INTERVAL
	PongTimeout      time.Duration // GATEWAY_PONG_TIMEOUT
	AllowedOrigins   *admit.Origins
	MaxConnections   int           // GATEWAY_MAX_CONNECTIONS
	MaxConnsPerIP    int           // GATEWAY_MAX_CONNECTIONS_PER_IP
	TrustedProxies   admit.Proxies // GATEWAY_TRUSTED_PROXIES
	MaxHeaderBytes   int           // GATEWAY_MAX_HEADER_BYTES
	Compression      bool          // GATEWAY_COMPRESSION
	AuthCookie       string        // GATEWAY_AUTH_COOKIE
	AuthQueryParam   string        // GATEWAY_AUTH_QUERY_PARAM
	Demo             bool          // GATEWAY_DEMO
	NATSProbeTimeout time.Duration // NATS_PROBE_TIMEOUT
	Events           bool          // GATEWAY_EVENTS
	EventsQueue      int           // GATEWAY_EVENTS_QUEUE
	PresenceTTL      time.Duration // PRESENCE_TTL
}

// Defaults returns the configuration of a gateway with no variables set.
func Defaults() Config {
	routes, _ := route.New(route.Defaults())
	origins, _ := admit.ParseOrigins("")
	return Config{
		NATSURL:          natsconn.DefaultURL,
		Addr:             ":8080",
		Routes:           routes,
		AuthTimeout:      2 * time.Second,
		WorkerTimeout:    5 * time.Second,
		MaxMessageBytes:  64 << 10,
		MaxRooms:         128,
		SendQueueBytes:   1 << 20,
		HandshakeTimeout: 10 * time.Second,
		WriteTimeout:     10 * time.Second,
		DrainWindow:      5 * time.Second,
		RatePerSecond:    100,
		RateBurst:        200,
		PingInterval:     25 * time.Second,
		PongTimeout:      10 * time.Second,
		AllowedOrigins:   origins,
		MaxConnections:   defaultMaxConnections(),
		MaxConnsPerIP:    1000,
		MaxHeaderBytes:   16 << 10,
		AuthCookie:       "wsgw_token",
		Demo:             true,
		NATSProbeTimeout: natsprobe.DefaultTimeout,
		Events:           true,
		EventsQueue:      262144,
		PresenceTTL:      contract.DefaultPresenceTTL,
	}
}

// defaultMaxConnections leaves room under the open-files limit (which Go
// raises to the hard limit at start) for NATS, logs and listeners.
func defaultMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 1100 {
		return 1000
	}
	return int(min(rl.Cur-100, 1<<20))
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
	c.AdminAddr = env.String("GATEWAY_ADMIN_ADDR", c.AdminAddr)
	routes, err := route.Parse(env.String("GATEWAY_ROUTES", ""))
	errs = append(errs, err)
	c.Routes = routes
	dur("GATEWAY_AUTH_TIMEOUT", &c.AuthTimeout)
	dur("GATEWAY_WORKER_TIMEOUT", &c.WorkerTimeout)
	num("GATEWAY_MAX_MESSAGE_BYTES", &c.MaxMessageBytes)
	num("GATEWAY_MAX_ROOMS_PER_CONNECTION", &c.MaxRooms)
	num("GATEWAY_SEND_QUEUE_BYTES", &c.SendQueueBytes)
	dur("GATEWAY_HANDSHAKE_TIMEOUT", &c.HandshakeTimeout)
	dur("GATEWAY_WRITE_TIMEOUT", &c.WriteTimeout)
	dur("GATEWAY_WRITE_COALESCE", &c.WriteCoalesce)
	dur("GATEWAY_DRAIN_WINDOW", &c.DrainWindow)
	rate, err := env.Float("GATEWAY_RATE_PER_SECOND", c.RatePerSecond)
	errs = append(errs, err)
	c.RatePerSecond = rate
	num("GATEWAY_RATE_BURST", &c.RateBurst)
	dur("GATEWAY_PING_INTERVAL", &c.PingInterval)
	dur("GATEWAY_PONG_TIMEOUT", &c.PongTimeout)
	c.AllowedOrigins, err = admit.ParseOrigins(env.String("GATEWAY_ALLOWED_ORIGINS", ""))
	errs = append(errs, err)
	num("GATEWAY_MAX_CONNECTIONS", &c.MaxConnections)
	num("GATEWAY_MAX_CONNECTIONS_PER_IP", &c.MaxConnsPerIP)
	c.TrustedProxies, err = admit.ParseProxies(env.String("GATEWAY_TRUSTED_PROXIES", ""))
	if err != nil {
		errs = append(errs, errors.New("GATEWAY_TRUSTED_PROXIES: "+err.Error()))
	}
	num("GATEWAY_MAX_HEADER_BYTES", &c.MaxHeaderBytes)
	comp, err := env.Bool("GATEWAY_COMPRESSION", c.Compression)
	errs = append(errs, err)
	c.Compression = comp
	c.AuthCookie = env.String("GATEWAY_AUTH_COOKIE", c.AuthCookie)
	if os.Getenv("GATEWAY_AUTH_COOKIE") == "-" {
		c.AuthCookie = ""
	}
	c.AuthQueryParam = env.String("GATEWAY_AUTH_QUERY_PARAM", c.AuthQueryParam)
	demo, err := env.Bool("GATEWAY_DEMO", c.Demo)
	errs = append(errs, err)
	c.Demo = demo
	c.NATSProbeTimeout, err = natsprobe.TimeoutFromEnv()
	errs = append(errs, err)
	ev, err := env.Bool("GATEWAY_EVENTS", c.Events)
	errs = append(errs, err)
	c.Events = ev
	num("GATEWAY_EVENTS_QUEUE", &c.EventsQueue)
	dur("PRESENCE_TTL", &c.PresenceTTL)
	// Settings whose zero would break every connection instead of turning
	// something off (0 means off only where README.md says so).
	for _, s := range []struct {
		name string
		zero bool
	}{
		{"GATEWAY_MAX_MESSAGE_BYTES", c.MaxMessageBytes == 0},
		{"GATEWAY_MAX_ROOMS_PER_CONNECTION", c.MaxRooms == 0},
		{"GATEWAY_WORKER_TIMEOUT", c.WorkerTimeout == 0},
		{"GATEWAY_AUTH_TIMEOUT", c.AuthTimeout == 0},
		{"GATEWAY_SEND_QUEUE_BYTES", c.SendQueueBytes == 0},
		{"GATEWAY_WRITE_TIMEOUT", c.WriteTimeout == 0},
		{"GATEWAY_HANDSHAKE_TIMEOUT", c.HandshakeTimeout == 0},
		{"GATEWAY_MAX_HEADER_BYTES", c.MaxHeaderBytes == 0},
		{"GATEWAY_EVENTS_QUEUE", c.EventsQueue == 0},
		{"PRESENCE_TTL", c.PresenceTTL == 0},
	} {
		if s.zero {
			errs = append(errs, errors.New(s.name+" must be positive"))
		}
	}
	if c.WriteCoalesce < 0 {
		errs = append(errs, errors.New("GATEWAY_WRITE_COALESCE must not be negative"))
	}
	if c.PingInterval > 0 && c.PongTimeout == 0 {
		// The pong to a ping always comes after the ping: every client
		// would be dropped at its first heartbeat.
		errs = append(errs, errors.New("GATEWAY_PONG_TIMEOUT must be positive while GATEWAY_PING_INTERVAL is on"))
	}
	return c, errors.Join(errs...)
}
