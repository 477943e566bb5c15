// Package server is the gateway: it accepts WebSockets on the routes of its
// table and bridges their frames to NATS. It holds no echo, room or auth
// logic; workers do, on the other side of NATS.
package server

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/wsgate/wsgate/gateway/admit"
	"github.com/wsgate/wsgate/gateway/auth"
	"github.com/wsgate/wsgate/gateway/client"
	"github.com/wsgate/wsgate/gateway/events"
	"github.com/wsgate/wsgate/gateway/history"
	"github.com/wsgate/wsgate/gateway/hub"
	"github.com/wsgate/wsgate/gateway/metrics"
	"github.com/wsgate/wsgate/gateway/policy"
	"github.com/wsgate/wsgate/gateway/presence"
	"github.com/wsgate/wsgate/gateway/rooms"
	"github.com/wsgate/wsgate/gateway/route"
	"github.com/wsgate/wsgate/gateway/web"
	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natsprobe"
)

// Gateway serves WebSocket clients over one NATS connection.
type Gateway struct {
	cfg   Config
	log   *slog.Logger
	nc    *nats.Conn
	id    string
	inbox string // wsgw.gw.<id>

	hub      *hub.Hub[member]          // connections, users and rooms
	roomsOpt map[string]*rooms.Options // what the sessions of each /ws/rooms route share, by path
	m        *metrics.Gateway
	limiter  *admit.Limiter
	creds    auth.Extractor
	sub      *nats.Subscription
	revoke   *nats.Subscription
	policy   *policy.Watcher
	nextID   atomic.Uint64
	upgrader websocket.Upgrader
	copts    client.Options
	probe    *natsprobe.Prober

	// Lifecycle events and presence (presence.go); nil when GATEWAY_EVENTS is off.
	out     *events.Outbox
	sink    *events.JetStream
	rec     *presence.Recorder
	watch   *presence.Watchers
	heart   *presence.Heart
	lostGen atomic.Uint64 // counts the times this gateway was declared lost

	opts   atomic.Pointer[client.Options] // copts with the frame limit fitted to NATS; see options
	optsMu sync.Mutex

	history   map[string]*history.JetStream // by room subject base; read-only after New
	mu        sync.Mutex
	shutting  bool
	closeOnce sync.Once
	active    sync.WaitGroup // handlers that may hold a client

	connEvent func() // see OnConnection; set before serving
}

// NATSOptions are the gateway's own NATS connection options, on top of
// natsconn's. Without a reconnect buffer, a frame that arrives while NATS
// is away fails at once (the client gets 1013) instead of being held for a
// reply that would come too late.
func NATSOptions() []nats.Option {
	return []nats.Option{nats.ReconnectBufSize(-1)}
}

// New subscribes the gateway's inbox: one subscription carries the replies
// and pushes of all its clients.
func New(cfg Config, nc *nats.Conn, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: log, nc: nc, id: nuid.Next(), m: metrics.NewGateway()}
	g.inbox = contract.GatewayPrefix + "." + g.id
	g.copts = client.Options{
		Publisher:       nc,
		Inbox:           g.inbox,
		Log:             log,
		MaxMessageBytes: int64(cfg.MaxMessageBytes),
		SendQueueBytes:  cfg.SendQueueBytes,
		WriteTimeout:    cfg.WriteTimeout,
		WorkerTimeout:   cfg.WorkerTimeout,
		CloseGrace:      time.Second,
		PingInterval:    cfg.PingInterval,
		PongTimeout:     cfg.PongTimeout,
		RatePerSecond:   cfg.RatePerSecond,
		RateBurst:       cfg.RateBurst,
		Compression:     cfg.Compression,
		WriteCoalesce:   cfg.WriteCoalesce,
		Metrics:         g.m,
		// No frame to a client is larger than what it may send or what its
		// send queue holds, whichever is more.
		Outbound: client.NewOutbound(max(cfg.MaxMessageBytes, cfg.SendQueueBytes), g.m, log),
	}
	g.limiter = admit.NewLimiter(cfg.MaxConnections, cfg.MaxConnsPerIP)
	g.upgrader = websocket.Upgrader{
		// No ReadBufferSize: an accepted client reads through the 512-byte
		// buffer package client gives gorilla (client/idle.go), not
		// net/http's 4 KiB one; a refusal's socket closes at once.
		HandshakeTimeout:  cfg.HandshakeTimeout,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.Compression,
		CheckOrigin:       cfg.AllowedOrigins.Allow,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	g.creds = auth.Extractor{Cookie: cfg.AuthCookie, QueryParam: cfg.AuthQueryParam}
	sub, err := nc.Subscribe(g.inbox+".>", g.onInbox)
	if err != nil {
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, 256<<20)
	g.sub = sub
	if g.revoke, err = nc.Subscribe(contract.RevokeSubject, g.onRevoke); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	g.hub = hub.New[member](nc, hub.Options{
		Dispatchers: max(2, runtime.GOMAXPROCS(0)),
		Queue:       roomQueue,
		Dropped:     g.m.RoomDrops,
		Log:         log,
		Check:       g.copts.Outbound.Broadcast,
		CheckPush:   func(msg *nats.Msg) (int, bool) { return g.copts.Outbound.Frame(msg, "push") },
		Fill:        g.fill,
	})
	// Rooms with history read what they missed while NATS was away.
	prev := nc.Opts.ReconnectedCB
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		g.hub.Resync()
	})
	if err := g.openHistory(); err != nil {
		return nil, err
	}
	g.roomsOpt = map[string]*rooms.Options{}
	for _, p := range cfg.Routes.Paths() {
		if rt, _, _ := cfg.Routes.Match(p); rt != nil && rt.Kind == route.KindRooms {
			// The route's in_flight bounds a client's commands waiting for
			// their reply; its next frames wait in the socket past it.
			window := rt.InFlight
			if window == 0 {
				window = route.DefaultInFlight
			}
			g.roomsOpt[p] = &rooms.Options{
				Gateway: g.id, Base: rt.Subject, Inbox: g.inbox, MaxRooms: cfg.MaxRooms, Window: window,
				WorkerTimeout: cfg.WorkerTimeout, Pub: nc, Outbound: g.copts.Outbound, Metrics: g.m, Log: log,
				History: g.history[rt.Subject],
			}
		}
	}
	g.policy = policy.Watch(nc, log, 2*time.Second)
	g.m.GaugeFunc("wsgate_gateway_room_subscriptions", "Rooms this gateway holds a NATS subscription for.",
		func() float64 { return float64(g.hub.Rooms()) })
	g.m.GaugeFunc("wsgate_gateway_user_subscriptions", "Users this gateway holds a push subscription (wsgw.user.<token>) for: those with a connection here.",
		func() float64 { return float64(g.hub.Users()) })
	// Readiness and metrics read what the prober found: a scrape or a
	// /readyz never waits for NATS, which may be frozen.
	g.probe = natsprobe.Start(nc, cfg.NATSProbeTimeout)
	g.m.GaugeFunc("wsgate_gateway_nats_connected", "1 while connected to NATS, as of the last probe.", func() float64 {
		if g.probe.Status().Connected {
			return 1
		}
		return 0
	})
	g.m.GaugeFunc("wsgate_gateway_nats_rtt_seconds", "Round trip to the NATS server measured by the last probe; -1 when it got no answer or NATS has not answered for NATS_PROBE_TIMEOUT.", func() float64 {
		// Stale as soon as readiness is: a probe still waiting says nothing yet.
		if rtt := g.probe.Status().RTT; rtt >= 0 && g.probe.Ready() {
			return rtt.Seconds()
		}
		return -1
	})
	if err := g.startPresence(); err != nil {
		g.probe.Stop()
		g.policy.Stop()
		_ = g.revoke.Unsubscribe()
		_ = sub.Unsubscribe()
		g.hub.Close()
		return nil, err
	}
	g.options() // warns now if the frame limit is over the server's
	return g, nil
}

// roomQueue is the pending limit of room subscriptions: how many broadcasts
// may wait for each fan-out dispatcher (nats.go has no byte limit for channel
// subscriptions). A dispatcher spends about 1 µs per member on a broadcast
// (measured with 1,000 attached clients), so 4,096 waiting broadcasts are
// about 4 s of work for a 1,000-member room and 40 ms for a 10-member one:
// room for any burst, where a longer backlog would only deliver later than
// anyone waits. Past it NATS drops; the hub counts and logs each drop.
const roomQueue = 4096

// ConfigureHTTP sets the handler and the limits that guard the handshake:
// a client must send its request headers within GATEWAY_HANDSHAKE_TIMEOUT
// (slowloris) and in at most GATEWAY_MAX_HEADER_BYTES. net/http reads up
// to 4 KiB more than its MaxHeaderBytes, so that is set 4 KiB lower (the
// limit then holds to the byte, request line included), and the handler
// measures what a lower limit cannot express.
func (g *Gateway) ConfigureHTTP(srv *http.Server) {
	srv.Handler = limitHeaders(g.cfg.MaxHeaderBytes, g.Handler())
	srv.ReadHeaderTimeout = g.cfg.HandshakeTimeout
	srv.IdleTimeout = 60 * time.Second
	srv.MaxHeaderBytes = max(g.cfg.MaxHeaderBytes-headerSlack, 1)
}

// ID is the gateway's id, as it appears in subjects and headers.
func (g *Gateway) ID() string { return g.id }

// OnConnection has f called at every WebSocket handshake and every end of
// a connection (for the GC governor, package gctune); set it before
// serving. StormCounter is the counter of the storms it sees.
func (g *Gateway) OnConnection(f func()) { g.connEvent = f }

// StormCounter registers wsgate_gateway_storms_total and returns its Inc.
func (g *Gateway) StormCounter() func() {
	return g.m.Counter("wsgate_gateway_storms_total", "Connection storms (GATEWAY_STORM_GOGC): periods with 1,000 or more handshakes and disconnects a second, during which the garbage collector ran less often.").Inc
}

// Hub exposes connections and room membership, for tests and metrics.
func (g *Gateway) Hub() *hub.Hub[member] { return g.hub }

// Handler serves the routes, /healthz and /readyz. Paths are matched as
// sent: http.ServeMux would answer one with an empty, "." or ".." segment
// with a redirect to its cleaned form (307), which a WebSocket client does
// not follow; such a path goes to serveWS, where it matches no route (404)
// or names a bad room (400).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /asyncapi.yaml", serveAsyncAPI)
	web.Register(mux, g.cfg.Demo)
	mux.HandleFunc("/", g.serveWS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !route.Canonical(r.URL.Path) || !route.Canonical(r.URL.EscapedPath()) {
			g.serveWS(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Ready is true while NATS answers (it answered a probe within
// NATS_PROBE_TIMEOUT) and the gateway is not shutting down. It never
// waits for NATS.
func (g *Gateway) Ready() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.shutting && g.probe.Ready()
}

// onInbox routes wsgw.gw.<gateway>.<conn>[.<seq>] to its client.
func (g *Gateway) onInbox(msg *nats.Msg) {
	rest := strings.TrimPrefix(msg.Subject, g.inbox+".")
	id, seqStr, isReply := strings.Cut(rest, ".")
	c, ok := g.hub.Conn(id)
	if !ok {
		return
	}
	if !isReply {
		c.Push(msg)
		return
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return
	}
	c.Reply(seq, msg)
}

func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutting {
		return false
	}
	g.active.Add(1)
	return true
}

// serveWS admits and upgrades a client, then hands it to its own goroutine
// and returns, so net/http frees the request and its per-connection state:
// an open client costs its reader goroutine and little else.
func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if g.connEvent != nil {
		g.connEvent()
	}
	rt, room, status := g.cfg.Routes.Match(r.URL.Path)
	switch {
	case status == http.StatusNotFound:
		g.refuse(w, r, status, "no_route", "no such route")
		return
	case status != 0:
		g.refuse(w, r, status, "bad_room", "room names are 1-64 characters of A-Z a-z 0-9 _ -")
		return
	case r.Method != http.MethodGet:
		g.refuse(w, r, http.StatusMethodNotAllowed, "method", "method not allowed")
		return
	case !websocket.IsWebSocketUpgrade(r):
		g.refuse(w, r, http.StatusBadRequest, "not_websocket", "expected a WebSocket upgrade")
		return
	case !g.cfg.AllowedOrigins.Allow(r):
		g.refuse(w, r, http.StatusForbidden, "origin", "origin not allowed")
		return
	case !g.enter():
		g.refuse(w, r, http.StatusServiceUnavailable, "shutting_down", "shutting down")
		return
	}
	s := &session{route: rt, room: room}
	handed := false
	defer func() {
		if !handed {
			g.release(s) // refused before the upgrade: give back what was taken
		}
	}()
	if !g.probe.Ready() {
		// Without NATS (gone, or silent past NATS_PROBE_TIMEOUT) no frame
		// could be answered: send the client to a gateway that has it.
		g.refuse(w, r, http.StatusServiceUnavailable, "nats_down", "backend unavailable")
		return
	}
	ip := g.cfg.TrustedProxies.ClientIP(r)
	if status := g.limiter.Acquire(ip); status != 0 {
		reason := "gateway_full"
		if status == http.StatusTooManyRequests {
			reason = "ip_limit"
		}
		g.refuse(w, r, status, reason, "too many connections")
		return
	}
	s.ip, s.admitted = ip, true

	creds := g.creds.Extract(r)
	if creds.Oversized && rt.Auth != route.AuthNone {
		// Judged as presented: never skipped for the next source.
		w.Header().Set("WWW-Authenticate", `Bearer realm="wsgate"`)
		g.refuse(w, r, http.StatusUnauthorized, "unauthorized", "credential too large")
		return
	}
	var decision contract.AuthResponse
	var req contract.AuthRequest // kept by a /ws/rooms client, to ask again at its joins
	ask := g.mustAsk(rt, room, creds)
	if ask || (rt.Kind == route.KindRooms && rt.Auth != route.AuthNone) {
		req = g.authRequest(r, rt, room, creds, ip.String())
	}
	if ask {
		var ok bool
		if decision, ok = g.authorize(w, r, rt, req); !ok {
			return
		}
		s.user = decision.User
	}

	id := strconv.FormatUint(g.nextID.Add(1), 36)
	ident := client.Identity{Gateway: g.id, User: s.user}
	subject := rt.Subject
	if rt.Kind == route.KindRoom {
		ident.Room = room
		ident.Broadcast = contract.RoomOut(rt.Subject, room)
		ident.Store = contract.RoomLog(rt.Subject, room)
		subject = contract.RoomIn(rt.Subject, room)
	}
	c := client.New(id, subject, ident, rt, g.options())
	s.client = c
	var m member = raw{c}
	if rt.Kind == route.KindRooms {
		// Frames are commands, run by the session; whether the client may
		// publish is decided room by room.
		joins := &joinAuth{g: g, rt: rt, req: req, user: s.user, publish: decision.MayPublish()}
		hr := &hubRooms{g: g}
		s.rooms = rooms.New(c, id, s.user, hr, joins, g.roomsOpt[rt.Path])
		if g.rec != nil {
			s.rooms.SetPresence(roomsPresence{g: g, s: s})
		}
		hr.m = s.rooms
		m = s.rooms
	} else if !decision.MayPublish() {
		c.ListenOnly()
	}
	s.member = m
	// With a user, pushes to that user reach the socket from its open on.
	if err := g.hub.Connect(id, s.user, m, g.cfg.WorkerTimeout); err != nil {
		g.log.Warn("user subscription failed", "err", err)
		g.refuse(w, r, http.StatusServiceUnavailable, "user_subscription", "backend unavailable")
		return
	}
	if rt.Welcome != "" {
		c.Send(websocket.TextMessage, []byte(rt.Welcome))
	}
	// Join before the upgrade completes: once the client sees its socket
	// open, it receives every broadcast sent after that.
	if rt.Kind == route.KindRoom {
		out := contract.RoomOut(rt.Subject, room)
		if err := g.hub.Join(out, m, g.cfg.WorkerTimeout); err != nil {
			g.log.Warn("room join failed", "room", room, "err", err)
			g.refuse(w, r, http.StatusServiceUnavailable, "room_join", "room unavailable")
			return
		}
		s.joined = out
	}

	var respHdr http.Header
	if creds.Subprotocol != "" {
		respHdr = http.Header{"Sec-Websocket-Protocol": {creds.Subprotocol}}
	}
	if err := c.Upgrade(&g.upgrader, w, r, respHdr); err != nil {
		g.m.Refused.WithLabelValues("upgrade").Inc()
		return // the upgrader answered with an HTTP error
	}
	handed = true
	g.track(s, ip.String())
	g.m.Accepted.WithLabelValues(rt.Path).Inc()
	g.m.Connections.Inc()
	if at := auth.Expiry(decision); !at.IsZero() {
		// No socket outlives its credential.
		s.expiry = time.AfterFunc(time.Until(at), func() {
			c.Close(wsclose.New(contract.CloseTokenExpired, "token expired"))
		})
	}
	g.serve(s)
}

// refuse answers a handshake with an HTTP error and counts why. A browser
// cannot read the status of a failed WebSocket handshake, so a client that
// offers the subprotocol RefusalSubprotocol gets the refusal as a close
// code instead: the upgrade completes and the socket closes at once with
// 4401 or 4403 (no or bad credentials, not allowed) or 1013 (try again
// later), 4400 (bad room name) or 4404 (no such route). Method and origin
// refusals stay plain HTTP. Such an upgrade selects the subprotocol
// RefusalSubprotocol; an accepted one never does.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	g.m.Refused.WithLabelValues(reason).Inc()
	if code := refusalCode(status); code != 0 && reason != "origin" && offers(r, RefusalSubprotocol) && websocket.IsWebSocketUpgrade(r) {
		// The refusal is also the negotiated subprotocol, so a client
		// knows at open, before the close arrives, that it was refused.
		hdr := http.Header{"Sec-Websocket-Protocol": {RefusalSubprotocol}}
		if ws, err := g.upgrader.Upgrade(w, r, hdr); err == nil {
			_ = ws.WriteControl(websocket.CloseMessage, wsclose.New(code, msg).Payload(), time.Now().Add(time.Second))
			_ = ws.Close()
		}
		return
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, msg, status)
}

// RefusalSubprotocol, when offered, asks for refusals as close codes.
const RefusalSubprotocol = "wsgw.refusal-codes"

func refusalCode(status int) int {
	switch status {
	case http.StatusUnauthorized:
		return contract.CloseUnauthorized
	case http.StatusForbidden:
		return contract.CloseForbidden
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return contract.CloseTryAgainLater
	case http.StatusBadRequest:
		return contract.CloseBadRequest
	case http.StatusNotFound:
		return contract.CloseNotFound
	}
	return 0
}

func offers(r *http.Request, proto string) bool {
	for _, line := range r.Header.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(line, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}

// mustAsk says whether the auth worker decides this handshake, or this
// join of a /ws/rooms client (room set). A route with auth "none" ignores
// credentials: none is checked or forwarded, and the client is anonymous.
// An optional room route lets an anonymous client into an open room
// without asking, so open rooms work while no auth worker runs; protected
// rooms (as the auth worker published them) and any presented credential
// are always checked. A /ws/rooms handshake is a room handshake without a
// room: an anonymous client of an optional route is not asked until it
// joins a protected room.
func (g *Gateway) mustAsk(rt *route.Route, room string, creds auth.Credentials) bool {
	switch {
	case rt.Auth == route.AuthNone:
		return false
	case rt.Auth == route.AuthRequired, creds.Token != "":
		return true
	case rt.Kind == route.KindRooms:
		return room != "" && g.policy.NeedsAuth(room)
	case rt.Kind != route.KindRoom:
		return true
	}
	return g.policy.NeedsAuth(room)
}

// authRequest is what the auth worker is asked about a handshake: the
// request's context, credentials removed but the token.
func (g *Gateway) authRequest(r *http.Request, rt *route.Route, room string, creds auth.Credentials, ip string) contract.AuthRequest {
	req := contract.AuthRequest{
		Route: rt.Path, Path: r.URL.Path, Room: room, Required: rt.Auth == route.AuthRequired,
		Token: creds.Token, TokenSource: creds.Source, Subprotocols: creds.Offered,
		Origin: r.Header.Get("Origin"), RemoteAddr: ip,
	}
	g.creds.Context(r, &req)
	return req
}

// authorize asks the auth worker; on refusal it answers the HTTP request.
// The token goes to the worker only: it is never logged.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request, rt *route.Route, req contract.AuthRequest) (contract.AuthResponse, bool) {
	start := time.Now()
	resp, err := auth.Ask(r.Context(), g.nc, req, g.cfg.AuthTimeout)
	g.m.AuthLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		g.m.AuthDecisions.WithLabelValues("unavailable").Inc()
		g.log.Warn("auth unavailable; refusing", "route", rt.Path, "err", err)
		g.refuse(w, r, http.StatusServiceUnavailable, "auth_unavailable", "authentication unavailable")
		return resp, false
	}
	status, why := auth.Verdict(resp, rt.Auth == route.AuthRequired, time.Now())
	if why != "" {
		g.log.Warn("auth answer refused", "route", rt.Path, "status", status, "why", why)
	}
	switch status {
	case http.StatusOK:
		g.m.AuthDecisions.WithLabelValues("ok").Inc()
		return resp, true
	case http.StatusForbidden:
		g.m.AuthDecisions.WithLabelValues("forbidden").Inc()
		g.refuse(w, r, http.StatusForbidden, "forbidden", "forbidden")
	default:
		g.m.AuthDecisions.WithLabelValues("unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="wsgate"`)
		g.refuse(w, r, http.StatusUnauthorized, "unauthorized", "unauthorized")
	}
	return resp, false
}

// StopAccepting turns /readyz to 503 and refuses new WebSockets with 503,
// so load balancers move new clients elsewhere before the listener closes.
func (g *Gateway) StopAccepting() {
	g.mu.Lock()
	g.shutting = true
	g.mu.Unlock()
}

// Clients is the number of open client connections.
func (g *Gateway) Clients() int { return g.hub.Clients() }

// Shutdown stops accepting, closes every client with 1001 spread over the
// drain window (so they do not all reconnect at once), and waits for them
// until ctx ends; clients left then are cut.
func (g *Gateway) Shutdown(ctx context.Context) {
	g.StopAccepting()

	window := g.cfg.DrainWindow
	var timers []*time.Timer
	for _, c := range g.hub.Conns() {
		var at time.Duration
		if window > 0 {
			at = rand.N(window)
		}
		timers = append(timers, time.AfterFunc(at, func() {
			c.Close(wsclose.New(contract.CloseGoingAway, "gateway shutting down"))
		}))
	}
	done := make(chan struct{})
	go func() { g.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, t := range timers {
			t.Stop()
		}
		for _, c := range g.hub.Conns() {
			c.Abort()
		}
		<-done
	}
	g.closeOnce.Do(func() {
		g.stopPresence(ctx)
		g.probe.Stop()
		g.policy.Stop()
		_ = g.revoke.Unsubscribe()
		_ = g.sub.Unsubscribe()
		g.hub.Close()
	})
}
