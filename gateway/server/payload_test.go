package server

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

func TestFitLimit(t *testing.T) {
	for _, c := range []struct {
		configured int
		maxPayload int64
		want       int
	}{
		{64 << 10, 0, 64 << 10}, // not known yet
		{64 << 10, 1 << 20, 64 << 10},
		{64 << 10, 64<<10 + natsHeaderReserve, 64 << 10},
		{64 << 10, 64 << 10, 64<<10 - natsHeaderReserve},
		{64 << 10, 8 << 10, 8<<10 - natsHeaderReserve},
		{64 << 10, 100, 1},
	} {
		if got := fitLimit(c.configured, c.maxPayload); got != c.want {
			t.Errorf("fitLimit(%d, %d) = %d, want %d", c.configured, c.maxPayload, got, c.want)
		}
	}
	// The largest header block the gateway puts on a frame fits the reserve
	// with room to spare for a worker's answer.
	hdr := map[string]string{
		contract.HeaderConn:    strconv.FormatUint(^uint64(0), 36),
		contract.HeaderGateway: strings.Repeat("g", 22),
		contract.HeaderUser:    strings.Repeat("u", contract.MaxUserLen),
		contract.HeaderRoom:    strings.Repeat("r", contract.MaxRoomLen),
		contract.HeaderFrame:   contract.FrameBinary,
	}
	n := len("NATS/1.0\r\n\r\n")
	for k, v := range hdr {
		n += len(k) + 2 + len(v) + 2
	}
	if n > natsHeaderReserve/2 {
		t.Fatalf("gateway headers take %d bytes of a %d-byte reserve", n, natsHeaderReserve)
	}
}

// A GATEWAY_MAX_MESSAGE_BYTES over the NATS server's max_payload is
// clamped at start with a warning: a frame too big for NATS closes with
// 1009 (too big), not 1013 (backend unavailable), and a frame at the
// clamped limit still makes the round trip.
func TestMessageLimitFitsNATS(t *testing.T) {
	const maxPayload = 8 << 10
	ns := natstest.StartWith(t, func(o *natsserver.Options) { o.MaxPayload = maxPayload })
	url := ns.ClientURL()
	worker(t, url, "echo")
	var logs natstest.LogBuffer
	g := gatewayLogging(t, url, slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) { c.MaxMessageBytes = 64 << 10 })
	if !strings.Contains(logs.String(), "GATEWAY_MAX_MESSAGE_BYTES") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no warning at start:\n%s", logs.String())
	}
	limit := maxPayload - natsHeaderReserve

	ws := dial(t, g.url+"/ws", nil)
	big := strings.Repeat("b", limit)
	send(t, ws, websocket.BinaryMessage, big)
	if _, got := read(t, ws); got != "echo: "+big {
		t.Fatalf("frame at the limit: %d bytes back", len(got))
	}
	for _, size := range []int{limit + 1, maxPayload + 1} {
		ws := dial(t, g.url+"/ws", nil)
		send(t, ws, websocket.BinaryMessage, strings.Repeat("b", size))
		if code := closeCode(t, ws, 3*time.Second); code != 1009 {
			t.Fatalf("frame of %d bytes: close %d, want 1009", size, code)
		}
	}
}

// NATS down when the gateway starts: the limit is checked when it is
// reached, before the next upgrade.
func TestMessageLimitFitsNATSAfterStart(t *testing.T) {
	const maxPayload = 8 << 10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var logs natstest.LogBuffer
	g := gatewayLogging(t, "nats://127.0.0.1:"+strconv.Itoa(port), slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) {})
	if g.Ready() {
		t.Fatal("ready without NATS")
	}
	ns := natstest.StartWith(t, func(o *natsserver.Options) { o.Port, o.MaxPayload = port, maxPayload })
	worker(t, ns.ClientURL(), "echo")
	eventually(t, 15*time.Second, "the gateway to reach NATS", g.Ready)
	ws := dial(t, g.url+"/ws", nil)
	send(t, ws, websocket.BinaryMessage, strings.Repeat("b", maxPayload+1))
	if code := closeCode(t, ws, 3*time.Second); code != 1009 {
		t.Fatalf("close %d, want 1009", code)
	}
	if !strings.Contains(logs.String(), "GATEWAY_MAX_MESSAGE_BYTES") {
		t.Fatalf("no warning:\n%s", logs.String())
	}
}
