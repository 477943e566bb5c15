package worker_test

// Each worker over a real NATS server, spoken to as the gateway would.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natsconn"
	"github.com/wsgate/wsgate/shared/natstest"
	"github.com/wsgate/wsgate/worker/auth"
	"github.com/wsgate/wsgate/worker/echo"
	"github.com/wsgate/wsgate/worker/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func conn(t *testing.T, url string) *nats.Conn {
	nc, err := natsconn.Connect(url, "t", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestEchoKeepsFrameType(t *testing.T) {
	s := natstest.Start(t)
	svcConn := conn(t, s.ClientURL())
	svc, err := echo.Add(svcConn, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	// The service subscribed on its own connection: make sure the server
	// has its subscriptions before another connection sends it requests.
	if err := svcConn.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := conn(t, s.ClientURL())
	for _, frame := range []string{contract.FrameText, contract.FrameBinary} {
		msg := &nats.Msg{Subject: contract.EchoSubject, Data: []byte("x"), Header: nats.Header{contract.HeaderFrame: {frame}}}
		rep, err := nc.RequestMsg(msg, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(rep.Data) != "echo: x" || rep.Header.Get(contract.HeaderFrame) != frame {
			t.Fatalf("%s: got %q %v", frame, rep.Data, rep.Header)
		}
	}
}

// The room worker answers a member's frame with the broadcast, for the
// sender's gateway to publish; an invalid room is refused.
func TestRoomAnswersWithBroadcast(t *testing.T) {
	s := natstest.Start(t)
	svcConn := conn(t, s.ClientURL())
	svc, err := room.Add(svcConn, contract.RoomSubject, "1.0.0", room.History{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	// The service subscribed on its own connection: make sure the server
	// has its subscriptions before another connection sends it requests.
	if err := svcConn.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := conn(t, s.ClientURL())
	hdr := nats.Header{contract.HeaderFrame: {contract.FrameBinary}, contract.HeaderUser: {"alice"}, contract.HeaderConn: {"7"}}
	rep, err := nc.RequestMsg(&nats.Msg{Subject: contract.RoomIn(contract.RoomSubject, "r1"), Data: []byte{0, 1}, Header: hdr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(rep.Data) != "\x00\x01" || rep.Header.Get(contract.HeaderFrame) != contract.FrameBinary || rep.Header.Get(contract.HeaderBroadcast) == "" {
		t.Fatalf("reply %q %v", rep.Data, rep.Header)
	}
	rep, err = nc.Request(contract.RoomSubject+".in.a*b", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Header.Get("Nats-Service-Error-Code") != "400" {
		t.Fatalf("invalid room: %v", rep.Header)
	}
}

// With history on, the room worker asks for the broadcast to be stored, and
// the stream it sets up keeps the configured number of messages per room
// and republishes them to the room's broadcast subject.
func TestRoomHistoryStream(t *testing.T) {
	s := natstest.Start(t)
	svcConn := conn(t, s.ClientURL())
	h := room.History{Size: 3, TTL: time.Hour, Replicas: 1, Dedupe: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.EnsureStream(ctx, svcConn, contract.RoomSubject); err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureStream(ctx, svcConn, contract.RoomSubject); err != nil { // again: idempotent
		t.Fatal(err)
	}
	svc, err := room.Add(svcConn, contract.RoomSubject, "1.0.0", h)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	if err := svcConn.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := conn(t, s.ClientURL())
	rep, err := nc.RequestMsg(&nats.Msg{Subject: contract.RoomIn(contract.RoomSubject, "r1"), Data: []byte("x"),
		Header: nats.Header{contract.HeaderFrame: {contract.FrameText}}}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Header.Get(contract.HeaderStore) == "" || rep.Header.Get(contract.HeaderBroadcast) == "" {
		t.Fatalf("reply with history on: %v", rep.Header)
	}
	out, err := nc.SubscribeSync(contract.RoomOut(contract.RoomSubject, "r1"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := js.Publish(ctx, contract.RoomLog(contract.RoomSubject, "r1"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	m, err := out.NextMsg(2 * time.Second)
	if err != nil || string(m.Data) != "0" || m.Header.Get(contract.HeaderNatsSeq) != "1" || m.Header.Get(contract.HeaderNatsLastSeq) != "0" {
		t.Fatalf("republished: %v %v", m, err)
	}
	st, err := js.Stream(ctx, contract.HistoryStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 3 {
		t.Fatalf("stream keeps %d messages of the room, want 3", n)
	}
}

func TestHistoryFromEnv(t *testing.T) {
	for name, bad := range map[string]string{"ROOM_HISTORY_SIZE": "-1", "ROOM_HISTORY_TTL": "0s", "ROOM_HISTORY_REPLICAS": "6", "ROOM_DEDUPE_WINDOW": "48h"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, bad)
			if _, err := room.HistoryFromEnv(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%s: %v", name, bad, err)
			}
		})
	}
	h, err := room.HistoryFromEnv()
	if err != nil || h.Size != 100 || h.TTL != 24*time.Hour || h.Replicas != 1 || h.Dedupe != 2*time.Minute {
		t.Fatalf("defaults: %+v %v", h, err)
	}
}

func TestAuthAnswersJSON(t *testing.T) {
	s := natstest.Start(t)
	p := auth.NewPolicy(auth.Config{Tokens: map[string]string{"tok": "bob"}})
	svcConn := conn(t, s.ClientURL())
	svc, err := auth.Add(svcConn, p, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	// The service subscribed on its own connection: make sure the server
	// has its subscriptions before another connection sends it requests.
	if err := svcConn.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := conn(t, s.ClientURL())
	body, _ := json.Marshal(contract.AuthRequest{Route: "/ws/private", Token: "tok"})
	rep, err := nc.Request(contract.AuthSubject, body, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got contract.AuthResponse
	if err := json.Unmarshal(rep.Data, &got); err != nil || got.Status != 200 || got.User != "bob" {
		t.Fatalf("got %s (%v)", rep.Data, err)
	}
	rep, err = nc.Request(contract.AuthSubject, []byte("not json"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Header.Get("Nats-Service-Error-Code") != "400" {
		t.Fatalf("malformed request: %v", rep.Header)
	}
}

// Operators find every worker, with what it is, through NATS micro.
func TestDiscovery(t *testing.T) {
	s := natstest.Start(t)
	nc := conn(t, s.ClientURL())
	p := auth.NewPolicy(auth.Config{Protected: auth.Patterns{"vip"}})
	for _, add := range []func() (interface{ Stop() error }, error){
		func() (interface{ Stop() error }, error) { return echo.Add(nc, "1.2.3") },
		func() (interface{ Stop() error }, error) {
			return room.Add(nc, contract.RoomSubject, "1.2.3", room.History{})
		},
		func() (interface{ Stop() error }, error) { return auth.Add(nc, p, "1.2.3") },
	} {
		svc, err := add()
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Stop()
	}
	for _, name := range []string{"echo", "room", "auth"} {
		rep, err := nc.Request("$SRV.INFO."+name, nil, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Name, Version, Description string
			Metadata                   map[string]string
			Endpoints                  []struct {
				Subject    string `json:"subject"`
				QueueGroup string `json:"queue_group"`
			}
		}
		if err := json.Unmarshal(rep.Data, &info); err != nil {
			t.Fatal(err)
		}
		if info.Name != name || info.Version != "1.2.3" || info.Description == "" || info.Metadata["contract"] != contract.Version ||
			len(info.Endpoints) != 1 || info.Endpoints[0].QueueGroup != name {
			t.Errorf("%s: %+v", name, info)
		}
	}
}
