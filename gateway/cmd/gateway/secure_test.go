package main

// The whole system against the shipped nats-server configuration
// (deployments/nats/wsgate.conf), every process a separate OS process with
// its role's credentials: everything works as without permissions, and a
// stolen worker credential cannot overstep. Then the same over mutual TLS.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/nats-io/nuid"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

// shippedConf is deployments/nats/wsgate.conf, from this package's directory.
var shippedConf = filepath.Join("..", "..", "..", "deployments", "nats", "wsgate.conf")

var roles = []string{"gateway", "echo", "room", "auth", "presence", "operator"}

// setPasswords gives each role a fresh password through the variables the
// configuration file reads, and returns them.
func setPasswords(t *testing.T) map[string]string {
	pw := map[string]string{}
	for _, r := range roles {
		pw[r] = nuid.Next()
		t.Setenv("WSGATE_"+strings.ToUpper(r)+"_PASSWORD", pw[r])
	}
	return pw
}

// errSink collects a connection's asynchronous errors (permission
// violations arrive that way).
type errSink struct {
	mu   sync.Mutex
	errs []string
}

func (s *errSink) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err.Error())
}

// waitFor waits until an error containing want arrives.
func (s *errSink) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, e := range s.errs {
			if strings.Contains(e, want) {
				s.mu.Unlock()
				return
			}
		}
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("no error %q; got %q", want, s.errs)
}

func connectAs(t *testing.T, url, user, pass string, extra ...nats.Option) (*nats.Conn, *errSink) {
	t.Helper()
	sink := &errSink{}
	opts := append([]nats.Option{nats.ErrorHandler(sink.handler)}, extra...)
	if user != "" {
		opts = append(opts, nats.UserInfo(user, pass))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc, sink
}

// watcher records every message one subscription sees.
type watcher struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (w *watcher) add(m *nats.Msg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, m)
}

// find waits for a message on subject whose body is data.
func (w *watcher) find(t *testing.T, subject, data string) *nats.Msg {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, m := range w.msgs {
			if m.Subject == subject && string(m.Data) == data {
				w.mu.Unlock()
				return m
			}
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the watcher never saw %q on %s", data, subject)
	return nil
}

// none fails if any message seen so far matches.
func (w *watcher) none(t *testing.T, what string, match func(*nats.Msg) bool) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if match(m) {
			t.Fatalf("the watcher saw %s: %s %q", what, m.Subject, m.Data)
		}
	}
}

// stack is a running system: NATS, workers and gateways as processes.
type stack struct {
	url      string
	gateways []string // ws://host:port
	procs    map[string]*proc
}

// startStack starts the four workers and n gateways, each with the env
// its role gets from roleEnv, and waits until they serve.
func startStack(t *testing.T, bin, url string, gateways int, roleEnv func(role string) []string, op *nats.Conn) *stack {
	t.Helper()
	st := &stack{url: url, procs: map[string]*proc{}}
	common := []string{"NATS_URL=" + url, "GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DRAIN_WINDOW=200ms",
		"AUTH_TOKENS=s3cret:alice", "AUTH_PROTECTED_ROOMS=team-*"}
	for _, role := range []string{"echo", "room", "auth", "presence"} {
		st.procs[role] = start(t, append(append([]string{}, common...), roleEnv(role)...), filepath.Join(bin, "worker"), role)
	}
	for i := 0; i < gateways; i++ {
		p := start(t, append(append([]string{}, common...), roleEnv("gateway")...), filepath.Join(bin, "gateway"))
		select {
		case addr := <-p.listen:
			st.gateways = append(st.gateways, "ws://"+addr)
		case <-time.After(20 * time.Second):
			t.Fatalf("gateway %d did not start:\n%s", i, p.log())
		}
		st.procs[fmt.Sprintf("gateway-%d", i)] = p
	}
	// Service discovery through $SRV, as the operator.
	for _, name := range []string{"echo", "room", "auth", "presence"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := op.Request("$SRV.PING."+name, nil, 200*time.Millisecond); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("$SRV.PING.%s: no answer:\n%s", name, st.procs[name].log())
			}
		}
	}
	return st
}

// clean fails if a process logged a NATS error (a right the role lacks
// shows up as a permissions violation there) or one of the secrets.
func (st *stack) clean(t *testing.T, secrets ...string) {
	t.Helper()
	for name, p := range st.procs {
		l := p.log()
		for _, bad := range append([]string{"ermissions violation", "nats async error", "nats connect failed", "level=ERROR"}, secrets...) {
			if strings.Contains(l, bad) {
				t.Errorf("%s logged %q:\n%s", name, bad, l)
			}
		}
	}
}

// waitLog waits until p logged want.
func waitLog(t *testing.T, p *proc, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nextFrame(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(got)
}

func dialStatus(url string, hdr http.Header) (*websocket.Conn, int) {
	ws, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err == nil {
		return ws, http.StatusSwitchingProtocols
	}
	if resp == nil {
		return nil, 0
	}
	return nil, resp.StatusCode
}

func TestSecure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	bin := t.TempDir()
	build(t, bin, ".", "github.com/wsgate/wsgate/worker/cmd/worker")
	t.Run("permissions", func(t *testing.T) { testPermissions(t, bin) })
	t.Run("tls", func(t *testing.T) { testTLS(t, bin) })
	t.Run("creds", func(t *testing.T) { testCreds(t, bin) })
}

func testPermissions(t *testing.T, bin string) {
	pw := setPasswords(t)
	ns := natstest.StartConfig(t, shippedConf)
	url := ns.ClientURL()

	// Without credentials, or with a wrong password, NATS refuses; a
	// process so refused says why and exits.
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("anonymous client accepted")
	}
	if nc, err := nats.Connect(url, nats.UserInfo("echo", pw["room"])); err == nil || !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("wrong password: %v", err)
	}
	wrong := nuid.Next()
	bad := start(t, []string{"NATS_URL=" + url, "NATS_USER=echo", "NATS_PASSWORD=" + wrong}, filepath.Join(bin, "worker"), "echo")
	select {
	case <-bad.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("a worker with a wrong password keeps running:\n%s", bad.log())
	}
	if err := bad.cmd.Wait(); err == nil || !strings.Contains(bad.log(), "Authorization Violation") || strings.Contains(bad.log(), wrong) {
		t.Fatalf("wrong password: exit %v, log:\n%s", err, bad.log())
	}

	op, opErrs := connectAs(t, url, "operator", pw["operator"])
	w := &watcher{}
	if _, err := op.Subscribe(">", w.add); err != nil {
		t.Fatal(err)
	}
	roleEnv := func(role string) []string {
		if role == "room" { // credentials inside NATS_URL work too
			return []string{"NATS_URL=" + strings.Replace(url, "://", "://room:"+pw[role]+"@", 1)}
		}
		return []string{"NATS_USER=" + role, "NATS_PASSWORD=" + pw[role]}
	}
	st := startStack(t, bin, url, 2, roleEnv, op)
	waitLog(t, st.procs["room"], "nats=nats://room:xxxxx@127.0.0.1:") // logged redacted
	if n := len(servicesAnswering(t, op)); n != 4 {
		t.Fatalf("$SRV.PING: %d services answered, want 4", n)
	}
	gw1, gw2 := st.gateways[0], st.gateways[1]

	// The auth worker wrote the policy bucket; the operator can read it.
	js, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	pollPolicy(t, js, `["team-*"]`)

	// Echo, a room across both gateways, the private route, protected rooms.
	echo := dialOK(t, gw1+"/ws", nil)
	roundTrip(t, echo, "hi", "echo: hi")
	a := dialOK(t, gw1+"/ws/room/lobby", nil)
	b := dialOK(t, gw2+"/ws/room/lobby", nil)
	roundTrip(t, a, "hello", "hello")
	if got := nextFrame(t, b); got != "hello" {
		t.Fatalf("member on the other gateway got %q", got)
	}
	alice := http.Header{"Authorization": {"Bearer s3cret"}}
	priv := dialOK(t, gw2+"/ws/private", alice)
	if got := nextFrame(t, priv); got != "ok" {
		t.Fatalf("private welcome %q", got)
	}
	roundTrip(t, priv, "p", "echo: p")
	// A gateway that started before the bucket existed looks again within
	// seconds: until then it lets anonymous clients into every room.
	eventuallyStatus(t, gw1+"/ws/room/team-x", http.StatusUnauthorized)
	eventuallyStatus(t, gw2+"/ws/room/team-x", http.StatusUnauthorized)
	team := dialOK(t, gw1+"/ws/room/team-x", alice)
	roundTrip(t, team, "t", "t")

	// The ids of a's connection, from its frame's headers.
	in := w.find(t, "wsgw.room.in.lobby", "hello")
	gwID, connID := in.Header.Get(contract.HeaderGateway), in.Header.Get(contract.HeaderConn)
	if gwID == "" || connID == "" {
		t.Fatalf("frame headers %v", in.Header)
	}
	// The operator never sees auth requests (they carry tokens), though
	// the private and team dials above made some.
	opErrs.mu.Lock()
	opErrs.errs = nil
	opErrs.mu.Unlock()
	if _, err := op.Subscribe("wsgw.auth", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	opErrs.waitFor(t, `Subscription to "wsgw.auth"`)

	// A stolen echo or room credential: every forgery is refused by NATS.
	forged := func(m *nats.Msg) bool { return strings.Contains(string(m.Data), "forged") }
	for _, thief := range []string{"echo", "room", "presence"} {
		nc, errs := connectAs(t, url, thief, pw[thief])
		hdr := nats.Header{contract.HeaderUser: {"alice"}, contract.HeaderFrame: {contract.FrameText},
			contract.HeaderGateway: {gwID}, contract.HeaderConn: {connID}}
		revoke, _ := json.Marshal(contract.RevokeRequest{User: "alice", Reason: "forged"})
		for _, m := range []*nats.Msg{
			{Subject: "wsgw.echo", Reply: "wsgw.gw." + gwID + "." + connID + ".1000", Header: hdr, Data: []byte("forged echo")},
			{Subject: "wsgw.room.in.lobby", Header: hdr, Data: []byte("forged in")},
			{Subject: "wsgw.room.out.lobby", Header: hdr, Data: []byte("forged out")},
			{Subject: "wsgw.revoke", Data: revoke},
			{Subject: "wsgw.gw." + gwID + "." + connID, Header: hdr, Data: []byte("forged push")},
			{Subject: contract.UserSubject("alice"), Header: hdr, Data: []byte("forged user push")},
			{Subject: "wsgw.auth", Data: []byte("forged auth")},
			// Nor store a message in a room's history, nor read it.
			{Subject: "wsgw.room.log.lobby", Header: hdr, Data: []byte("forged history")},
			{Subject: "$JS.API.DIRECT.GET.WSGW_ROOMS", Data: []byte(`{"last_by_subj":"wsgw.room.log.lobby"}`)},
		} {
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			errs.waitFor(t, fmt.Sprintf(`Publish to %q`, m.Subject))
		}
		// Nor may it listen where it does not serve.
		subs := []*nats.Subscription{}
		for _, s := range []struct{ subject, queue string }{
			{"wsgw.auth", ""}, {"wsgw.auth", "auth"}, {"wsgw.gw." + gwID + ".>", ""}, {"wsgw.gw.>", ""},
			{"wsgw.room.out.lobby", ""}, {"wsgw.echo", ""}, {"wsgw.revoke", ""}, {contract.UserWildcard, ""},
		} {
			var sub *nats.Subscription
			if s.queue == "" {
				sub, err = nc.SubscribeSync(s.subject)
			} else {
				sub, err = nc.QueueSubscribeSync(s.subject, s.queue)
			}
			if err != nil {
				t.Fatal(err)
			}
			errs.waitFor(t, fmt.Sprintf(`Subscription to %q`, s.subject))
			subs = append(subs, sub)
		}
		// Positive controls on the same subjects: they carry traffic that
		// the watcher, the clients and the workers do see, after the
		// forgeries (so any forgery that got through would be seen first).
		roundTrip(t, echo, "control", "echo: control")
		w.find(t, "wsgw.echo", "control")
		roundTrip(t, a, "control", "control")
		if got := nextFrame(t, b); got != "control" {
			t.Fatalf("after forgeries, the member on the other gateway got %q", got)
		}
		w.find(t, "wsgw.room.out.lobby", "control")
		push := &nats.Msg{Subject: "wsgw.gw." + gwID + "." + connID, Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}, Data: []byte("pushed")}
		if err := op.PublishMsg(push); err != nil {
			t.Fatal(err)
		}
		if got := nextFrame(t, a); got != "pushed" {
			t.Fatalf("after forgeries, a got %q, want the operator's push", got)
		}
		roundTrip(t, priv, "still here", "echo: still here") // not revoked
		p2 := dialOK(t, gw1+"/ws/private", alice)            // an auth request on wsgw.auth
		if got := nextFrame(t, p2); got != "ok" {
			t.Fatalf("private welcome %q", got)
		}
		p2.Close()
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, sub := range subs {
			if n, _, _ := sub.Pending(); n != 0 {
				t.Fatalf("%s's subscription to %s received %d messages", thief, sub.Subject, n)
			}
		}
		w.none(t, "a forgery", forged)
	}
	if err := op.Flush(); err != nil {
		t.Fatal(err)
	}
	w.none(t, "an auth request", func(m *nats.Msg) bool { return m.Subject == contract.AuthSubject })
	presenceRights(t, url, pw, gw1, gw2, w)
	w.find(t, "wsgw.gw."+gwID+"."+connID, "pushed") // the watcher does see what it may

	// /ws/rooms over the same rights: a join and a publish that raw
	// members of the room see, then the operator's push to alice reaches
	// every connection of hers on both gateways, raw ones as a frame.
	rooms := dialOK(t, gw1+"/ws/rooms", alice)
	// The room worker keeps history by default (ROOM_HISTORY_SIZE 100):
	// the gateway reads and writes the room history stream with its rights.
	if err := rooms.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"join":{"room":"lobby","since":0}}`)); err != nil {
		t.Fatal(err)
	}
	var frames []string
	for len(frames) == 0 || !strings.HasPrefix(frames[len(frames)-1], `{"id":1,`) {
		frames = append(frames, nextFrame(t, rooms))
	}
	joinOK := regexp.MustCompile(`^{"id":1,"ok":{"seq":([1-9][0-9]*),"recovered":true}}$`).FindStringSubmatch(frames[len(frames)-1])
	if joinOK == nil || !strings.Contains(strings.Join(frames, "\n"), `"data":"hello"`) {
		t.Fatalf("join with since 0 on /ws/rooms: %q", frames)
	}
	if err := rooms.WriteMessage(websocket.TextMessage, []byte(`{"id":2,"publish":{"room":"lobby","data":"via rooms"}}`)); err != nil {
		t.Fatal(err)
	}
	got := []string{nextFrame(t, rooms), nextFrame(t, rooms)}
	slices.Sort(got)
	stored := regexp.MustCompile(`^{"id":2,"ok":{"broadcast":true,"seq":([0-9]+)}}$`).FindStringSubmatch(got[0])
	if stored == nil || got[1] != `{"room":"lobby","data":"via rooms","user":"alice","seq":`+stored[1]+`}` {
		t.Fatalf("publish on /ws/rooms: %q", got)
	}
	if got := nextFrame(t, b); got != "via rooms" {
		t.Fatalf("raw member got %q", got)
	}
	userPush := &nats.Msg{Subject: contract.UserSubject("alice"), Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}, Data: []byte("to alice")}
	if err := op.PublishMsg(userPush); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*websocket.Conn{priv, team} {
		if got := nextFrame(t, ws); got != "to alice" {
			t.Fatalf("alice's raw connection got %q", got)
		}
	}
	if got := nextFrame(t, rooms); got != `{"push":{"data":"to alice"}}` {
		t.Fatalf("alice's /ws/rooms connection got %q", got)
	}

	// Revocation by the operator.
	revoke, _ := json.Marshal(contract.RevokeRequest{User: "alice"})
	if err := op.Publish(contract.RevokeSubject, revoke); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*websocket.Conn{priv, team, rooms} {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue
			}
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != contract.CloseRevoked {
				t.Fatalf("alice after revocation: %v", err)
			}
			break
		}
	}

	// Gateways read the policy bucket themselves: with the auth worker
	// gone, an open room still admits anonymous members and a protected
	// one fails closed.
	if code := st.procs["auth"].stop(t, 15*time.Second); code != 0 {
		t.Fatalf("auth worker exit %d", code)
	}
	if ws, status := dialStatus(gw2+"/ws/room/lobby", nil); status != http.StatusSwitchingProtocols {
		t.Fatalf("open room without the auth worker: %d", status)
	} else {
		ws.Close()
	}
	if _, status := dialStatus(gw2+"/ws/room/team-y", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("protected room without the auth worker: %d", status)
	}
	// A gateway's shutdown (its policy consumer deleted) needs no more rights.
	if code := st.procs["gateway-0"].stop(t, 15*time.Second); code != 0 {
		t.Fatalf("gateway exit %d", code)
	}
	st.clean(t, pw["gateway"], pw["echo"], pw["room"], pw["auth"], pw["operator"])
}

// eventuallyStatus dials url anonymously until the handshake gets status.
func eventuallyStatus(t *testing.T, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, got := dialStatus(url, nil)
		if ws != nil {
			ws.Close()
		}
		if got == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", url, got, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// servicesAnswering asks $SRV.PING and collects the answers for a moment.
func servicesAnswering(t *testing.T, nc *nats.Conn) []string {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SRV.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		m, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			return names
		}
		var info struct{ Name string }
		_ = json.Unmarshal(m.Data, &info)
		names = append(names, info.Name)
	}
}

func pollPolicy(t *testing.T, js jetstream.JetStream, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kv, err := js.KeyValue(t.Context(), contract.PolicyBucket)
		if err == nil {
			if e, err := kv.Get(t.Context(), contract.PolicyProtectedKey); err == nil && string(e.Value()) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy %s never appeared: %v", want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testTLS(t *testing.T, bin string) {
	pw := setPasswords(t)
	pki := natstest.NewPKI(t)
	// The shipped file, with TLS that requires client certificates.
	dir := t.TempDir()
	conf, err := os.ReadFile(shippedConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wsgate.conf"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	tlsConf := fmt.Sprintf("include \"wsgate.conf\"\ntls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n}\n",
		pki.ServerCert, pki.ServerKey, pki.CA)
	if err := os.WriteFile(filepath.Join(dir, "tls.conf"), []byte(tlsConf), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := natstest.StartConfig(t, filepath.Join(dir, "tls.conf"))
	url := ns.ClientURL()

	// Without a client certificate: refused, in-process and as a process.
	if nc, err := nats.Connect(url, nats.UserInfo("echo", pw["echo"]), nats.RootCAs(pki.CA)); err == nil {
		nc.Close()
		t.Fatal("a client without a certificate was accepted")
	}
	tlsEnv := []string{"NATS_TLS_CA=" + pki.CA, "NATS_TLS_CERT=" + pki.ClientCert, "NATS_TLS_KEY=" + pki.ClientKey}
	op, _ := connectAs(t, url, "operator", pw["operator"], nats.RootCAs(pki.CA), nats.ClientCert(pki.ClientCert, pki.ClientKey))
	noCert := start(t, []string{"NATS_URL=" + url, "NATS_USER=echo", "NATS_PASSWORD=" + pw["echo"], "NATS_TLS_CA=" + pki.CA}, filepath.Join(bin, "worker"), "echo")

	roleEnv := func(role string) []string {
		return append([]string{"NATS_USER=" + role, "NATS_PASSWORD=" + pw[role]}, tlsEnv...)
	}
	st := startStack(t, bin, url, 1, roleEnv, op)
	echo := dialOK(t, st.gateways[0]+"/ws", nil)
	roundTrip(t, echo, "hi", "echo: hi")
	room := dialOK(t, st.gateways[0]+"/ws/room/lobby", nil)
	roundTrip(t, room, "hello", "hello")
	priv := dialOK(t, st.gateways[0]+"/ws/private", http.Header{"Authorization": {"Bearer s3cret"}})
	if got := nextFrame(t, priv); got != "ok" {
		t.Fatalf("private welcome %q", got)
	}
	// Every connection the server holds is TLS with a verified client
	// certificate, and the one without never joined the echo service.
	cz, err := ns.Connz(&server.ConnzOptions{Username: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cz.Conns) != 6 { // gateway, four workers, the operator
		t.Fatalf("%d connections, want 6", len(cz.Conns))
	}
	for _, c := range cz.Conns {
		if c.TLSVersion == "" || len(c.TLSPeerCerts) == 0 {
			t.Fatalf("connection %q (%s) without TLS or client certificate", c.Name, c.AuthorizedUser)
		}
	}
	if n := instances(t, op, "echo"); n != 1 {
		t.Fatalf("%d echo workers answer, want 1", n)
	}
	// With TLS 1.3 the server's refusal comes after the client's handshake
	// completed: the client reads "certificate required", or finds the
	// connection closed under its next write. Either way it is TLS that
	// refused it, and it never connected (counted above).
	waitLog(t, noCert, `msg="nats connect failed"`)
	if l := noCert.log(); !strings.Contains(l, "tls: certificate required") && !strings.Contains(l, "tls error: connection closed by remote") {
		t.Fatalf("refused for another reason:\n%s", l)
	}
	st.clean(t)
}

// The NATS Helm values carry the accounts of the shipped file, unchanged
// (compose mounts the file itself).
func TestHelmValuesCarryTheAccounts(t *testing.T) {
	conf, err := os.ReadFile(shippedConf)
	if err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join("..", "..", "..", "deployments", "k8s", "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(conf), "# BEGIN accounts")
	if i < 0 {
		t.Fatal("no accounts block in the shipped file")
	}
	want := string(conf[i:])
	// The block scalar under wsgate-accounts.conf, indented 8 spaces.
	_, rest, ok := strings.Cut(string(values), "wsgate-accounts.conf: |\n")
	if !ok {
		t.Fatal("no wsgate-accounts.conf in the Helm values")
	}
	var got strings.Builder
	for _, line := range strings.SplitAfter(rest, "\n") {
		if strings.TrimSpace(line) == "" {
			got.WriteString("\n")
			continue
		}
		if !strings.HasPrefix(line, "        ") {
			break
		}
		got.WriteString(line[8:])
	}
	if strings.TrimRight(got.String(), "\n") != strings.TrimRight(want, "\n") {
		t.Fatalf("the Helm values' accounts differ from %s:\n%s", shippedConf, got.String())
	}
	// And that block alone is a valid configuration.
	setPasswords(t)
	p := filepath.Join(t.TempDir(), "accounts.conf")
	if err := os.WriteFile(p, []byte("jetstream: enabled\n"+got.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Users) != len(roles) {
		t.Fatalf("%d users, want %d", len(opts.Users), len(roles))
	}
}

// The same rights as user JWTs (decentralised auth, as nsc makes them), each
// process with its .creds file in NATS_CREDS.
func testCreds(t *testing.T, bin string) {
	setPasswords(t)
	conf, err := server.ProcessConfigFile(shippedConf)
	if err != nil {
		t.Fatal(err)
	}
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	sys, sysJWT, _ := account(t, okp, "SYS", false)
	oc.SystemAccount = sys
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	if oc, err = jwt.DecodeOperatorClaims(ojwt); err != nil {
		t.Fatal(err)
	}
	apub, ajwt, akp := account(t, okp, "WSGATE", true)
	res := &server.MemAccResolver{}
	for pub, j := range map[string]string{sys: sysJWT, apub: ajwt} {
		if err := res.Store(pub, j); err != nil {
			t.Fatal(err)
		}
	}
	ns := startServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: res, SystemAccount: sys,
		JetStream: true, StoreDir: t.TempDir()})
	url := ns.ClientURL()

	// One user per role, with the rights the configuration file gives it.
	dir := t.TempDir()
	creds := map[string]string{}
	for _, u := range conf.Users {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		uc := jwt.NewUserClaims(upub)
		uc.Name = u.Username
		if p := u.Permissions; p != nil {
			if p.Publish != nil {
				uc.Pub.Allow, uc.Pub.Deny = p.Publish.Allow, p.Publish.Deny
			}
			if p.Subscribe != nil {
				uc.Sub.Allow, uc.Sub.Deny = p.Subscribe.Allow, p.Subscribe.Deny
			}
			if p.Response != nil {
				uc.Resp = &jwt.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
			}
		}
		ujwt, err := uc.Encode(akp)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := ukp.Seed()
		b, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		creds[u.Username] = filepath.Join(dir, u.Username+".creds")
		if err := os.WriteFile(creds[u.Username], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if len(creds) != len(roles) {
		t.Fatalf("users %v", creds)
	}

	op, _ := connectAs(t, url, "", "", nats.UserCredentials(creds["operator"]))
	st := startStack(t, bin, url, 1, func(role string) []string { return []string{"NATS_CREDS=" + creds[role]} }, op)
	gw := st.gateways[0]
	roundTrip(t, dialOK(t, gw+"/ws", nil), "hi", "echo: hi")
	roundTrip(t, dialOK(t, gw+"/ws/room/lobby", nil), "hello", "hello")
	if got := nextFrame(t, dialOK(t, gw+"/ws/private", http.Header{"Authorization": {"Bearer s3cret"}})); got != "ok" {
		t.Fatalf("private welcome %q", got)
	}
	eventuallyStatus(t, gw+"/ws/room/team-x", http.StatusUnauthorized)

	thief, errs := connectAs(t, url, "", "", nats.UserCredentials(creds["echo"]))
	if err := thief.Publish("wsgw.room.in.lobby", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	errs.waitFor(t, `Publish to "wsgw.room.in.lobby"`)
	if _, err := thief.SubscribeSync("wsgw.auth"); err != nil {
		t.Fatal(err)
	}
	errs.waitFor(t, `Subscription to "wsgw.auth"`)
	st.clean(t)
}

// account makes an account signed by the operator okp: its public key, JWT
// and key pair (which signs its users).
func account(t *testing.T, okp nkeys.KeyPair, name string, js bool) (string, string, nkeys.KeyPair) {
	t.Helper()
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = name
	if js {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	j, err := ac.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	return apub, j, akp
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
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

// presenceRights: presence works across both gateways over the shipped
// rights (a query, a presence event, lifecycle events in the stream), and
// a stolen echo or room credential can neither forge events, presence
// records or presence events, nor answer presence queries.
func presenceRights(t *testing.T, url string, pw map[string]string, gw1, gw2 string, w *watcher) {
	t.Helper()
	alice := http.Header{"Authorization": {"Bearer s3cret"}}
	watch := dialOK(t, gw2+"/ws/rooms", alice)
	roundTrip(t, watch, `{"id":1,"join":{"room":"hall","presence":true}}`, `{"id":1,"ok":{"seq":0,"recovered":true}}`) // history on: an empty room
	if got := nextFrame(t, watch); got != `{"room":"hall","event":"join","user":"alice"}` {
		t.Fatalf("presence event %q", got)
	}
	member := dialOK(t, gw1+"/ws/room/hall", nil)
	deadline := time.Now().Add(10 * time.Second)
	for id := 2; ; id++ {
		q := fmt.Sprintf(`{"id":%d,"presence":{"room":"hall"}}`, id)
		want := fmt.Sprintf(`{"id":%d,"ok":{"users":[{"user":"alice","connections":1}],"anonymous":1}}`, id)
		if err := watch.WriteMessage(websocket.TextMessage, []byte(q)); err != nil {
			t.Fatal(err)
		}
		if nextFrame(t, watch) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("presence across the gateways never complete")
		}
		time.Sleep(20 * time.Millisecond)
	}
	member.Close()
	w.find(t, "wsgw.presence.event.hall", `{"event":"join","user":"alice","rev":`+revOf(t, w, "hall")+`}`)

	for _, thief := range []string{"echo", "room"} {
		nc, errs := connectAs(t, url, thief, pw[thief])
		for _, m := range []*nats.Msg{
			{Subject: contract.EventSubject(contract.EventDisconnect), Data: []byte(`{"event_id":"forged"}`)},
			{Subject: "$KV." + contract.PresenceBucket + ".c.forged.1", Data: []byte(`{"route":"forged"}`)},
			{Subject: contract.PresenceEventSubject("hall"), Data: []byte(`{"event":"leave","user":"alice","rev":999999}`)},
			{Subject: contract.PresenceQuerySubject, Data: []byte(`{"room":"hall"}`)},
		} {
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			errs.waitFor(t, fmt.Sprintf(`Publish to %q`, m.Subject))
		}
		if _, err := nc.QueueSubscribeSync(contract.PresenceQuerySubject, "presence"); err != nil {
			t.Fatal(err)
		}
		errs.waitFor(t, fmt.Sprintf(`Subscription to %q`, contract.PresenceQuerySubject))
	}
	w.none(t, "a forged event", func(m *nats.Msg) bool { return strings.Contains(string(m.Data), "forged") })
	// The stream holds the lifecycle events; the operator reads them.
	js, err := jetstream.New(connectOp(t, url, pw))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		st, err := js.Stream(ctx, contract.EventsStream)
		if err == nil {
			if info, err := st.Info(ctx); err == nil && info.State.Subjects == nil && info.State.Msgs >= 4 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the events stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connectOp(t *testing.T, url string, pw map[string]string) *nats.Conn {
	nc, _ := connectAs(t, url, "operator", pw["operator"])
	return nc
}

// revOf finds the rev of the watcher's first presence event of room.
func revOf(t *testing.T, w *watcher, room string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, m := range w.msgs {
			if m.Subject == contract.PresenceEventSubject(room) {
				var n contract.PresenceNotice
				_ = json.Unmarshal(m.Data, &n)
				w.mu.Unlock()
				return strconv.FormatUint(n.Rev, 10)
			}
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no presence event seen")
	return ""
}
