package main

// A gateway killed with SIGKILL: its members leave presence, and their
// leave and disconnect events (gateway_lost) are in WSGW_EVENTS, within
// PRESENCE_TTL.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

// roomsConn is a bare /ws/rooms client: commands and the lines that come.
type roomsConn struct {
	t      *testing.T
	ws     *websocket.Conn
	id     int
	events []string // presence event lines, as received
}

func (c *roomsConn) do(cmd string, arg any) (json.RawMessage, int) {
	c.t.Helper()
	c.id++
	b, _ := json.Marshal(map[string]any{"id": c.id, cmd: arg})
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range strings.Split(string(frame), "\n") {
			var r struct {
				ID    *int            `json:"id"`
				OK    json.RawMessage `json:"ok"`
				Error *struct{ Code int }
				Event string `json:"event"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				c.t.Fatalf("%q: %v", line, err)
			}
			if r.Event != "" {
				c.events = append(c.events, line)
			}
			if r.ID != nil && *r.ID == c.id {
				if r.Error != nil {
					return nil, r.Error.Code
				}
				return r.OK, 200
			}
		}
	}
}

func (c *roomsConn) who(room string) (contract.PresenceAnswer, bool) {
	ok, code := c.do("presence", map[string]string{"room": room})
	var a contract.PresenceAnswer
	if code != 200 || json.Unmarshal(ok, &a) != nil {
		return a, false
	}
	return a, true
}

func TestGatewayKilledLeavesNoGhost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	const ttl = 2 * time.Second
	dir := t.TempDir()
	build(t, dir, ".", "github.com/wsgate/wsgate/worker/cmd/worker")
	ns := natstest.Start(t)
	env := []string{"NATS_URL=" + ns.ClientURL(), "GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DRAIN_WINDOW=0s",
		"AUTH_TOKENS=s3cret:alice,t2:bob", "PRESENCE_TTL=" + ttl.String()}
	var workers []*proc
	for _, role := range []string{"room", "auth", "presence"} {
		workers = append(workers, start(t, env, filepath.Join(dir, "worker"), role))
	}
	victim := start(t, env, filepath.Join(dir, "gateway"))
	// The survivor beats with the default TTL: a pause of this loaded
	// machine must not cost it its members.
	other := start(t, append(append([]string{}, env...), "PRESENCE_TTL=15s"), filepath.Join(dir, "gateway"))
	addr := func(p *proc) string {
		select {
		case a := <-p.listen:
			return "ws://" + a
		case <-time.After(20 * time.Second):
			t.Fatalf("gateway did not start:\n%s", p.log())
		}
		return ""
	}
	va, oa := addr(victim), addr(other)
	m := regexp.MustCompile(`msg="gateway listening" .* id=(\w+)`).FindStringSubmatch(victim.log())
	if m == nil {
		t.Fatalf("no gateway id in:\n%s", victim.log())
	}
	victimID := m[1]

	bob := &roomsConn{t: t, ws: dialOK(t, oa+"/ws/rooms", http.Header{"Authorization": {"Bearer t2"}})}
	deadline := time.Now().Add(20 * time.Second)
	for { // the room and presence workers may still be starting
		if _, code := bob.do("join", map[string]any{"room": "lobby", "presence": true}); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob cannot join")
		}
		time.Sleep(100 * time.Millisecond)
	}
	alice := &roomsConn{t: t, ws: dialOK(t, va+"/ws/rooms", http.Header{"Authorization": {"Bearer s3cret"}})}
	if _, code := alice.do("join", map[string]string{"room": "lobby"}); code != 200 {
		t.Fatalf("alice's join: %d", code)
	}
	dialOK(t, va+"/ws/room/lobby", nil) // anonymous, on the victim too
	wantBefore := []contract.PresenceUser{{User: "alice", Connections: 1}, {User: "bob", Connections: 1}}
	for {
		if a, ok := bob.who("lobby"); ok && slices.Equal(a.Users, wantBefore) && a.Anonymous == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("presence before the kill never complete")
		}
		time.Sleep(20 * time.Millisecond)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	killed := time.Now()
	if err := victim.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	var gone, logged time.Duration
	var last contract.PresenceAnswer
	var lastRaw string
	for gone == 0 || logged == 0 {
		if time.Since(killed) > 10*ttl {
			t.Fatalf("after %v: presence gone %v, events %v; last answer %+v (%s)\n%s\n%s", time.Since(killed), gone, logged, last, lastRaw, workers[2].log(), other.log())
		}
		raw, code := bob.do("presence", map[string]string{"room": "lobby"})
		var a contract.PresenceAnswer
		ok := code == 200 && json.Unmarshal(raw, &a) == nil
		last, lastRaw = a, fmt.Sprint(code, " ", string(raw))
		if gone == 0 && ok && len(a.Users) == 1 && a.Users[0].User == "bob" && a.Anonymous == 0 {
			gone = time.Since(killed)
		}
		if logged == 0 && lostEvents(t, nc, victimID) {
			logged = time.Since(killed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("SIGKILL → presence without its members after %v, their leave and disconnect events after %v (PRESENCE_TTL %v)", gone, logged, ttl)
	if gone > ttl || logged > ttl {
		t.Fatalf("not within PRESENCE_TTL %v: presence %v, events %v", ttl, gone, logged)
	}
	want := `{"room":"lobby","event":"leave","user":"alice"}`
	for !slices.Contains(bob.events, want) {
		bob.who("lobby") // reads what came meanwhile
		if time.Since(killed) > 10*ttl {
			t.Fatalf("bob's presence events: %v", bob.events)
		}
	}
}

// lostEvents reports whether the stream holds the victim's two leaves and
// two disconnects with reason gateway_lost, each paired with its join or
// connect.
func lostEvents(t *testing.T, nc *nats.Conn, gw string) bool {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return false
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumPending == 0 {
		return false
	}
	batch, err := cons.Fetch(int(info.NumPending), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		return false
	}
	seen := map[string]contract.Event{}
	for m := range batch.Messages() {
		var ev contract.Event
		if json.Unmarshal(m.Data(), &ev) == nil && ev.Gateway == gw {
			seen[ev.ID] = ev
		}
	}
	leaves, lost := 0, 0
	for id, ev := range seen {
		switch ev.Event {
		case contract.EventLeave:
			if i := strings.LastIndex(id, ".l"); i > 0 && seen[id[:i]+".j"+id[i+2:]].ID != "" {
				leaves++
			}
		case contract.EventDisconnect:
			if _, ok := seen[contract.ConnectID(gw, ev.Conn)]; ok && ev.Reason == contract.ReasonGatewayLost {
				lost++
			}
		}
	}
	return leaves == 2 && lost == 2
}
