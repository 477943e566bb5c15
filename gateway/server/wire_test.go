package server

import (
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wsgate/wsgate/shared/natstest"
)

// rawFrame is a client frame built by hand, masked as RFC 6455 requires
// of clients: b0 holds FIN, RSV and the opcode.
func rawFrame(b0 byte, payload []byte) []byte {
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

const (
	finText   = 0x81
	fragText  = 0x01 // text, no FIN: more fragments follow
	finCont   = 0x80 // last continuation fragment
	finPing   = 0x89
	rsv2Text  = 0xA1 // text with RSV2, which no extension defines
	finBinary = 0x82
)

// writeRaw writes bytes past gorilla's framing, as a hostile client would.
func writeRaw(t testing.TB, ws *websocket.Conn, b []byte) {
	t.Helper()
	if _, err := ws.UnderlyingConn().Write(b); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

// peerClose reads until the gateway's close frame and returns its code, or
// 0 if the connection ended without one.
func peerClose(t testing.TB, ws *websocket.Conn, within time.Duration) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok && ce.Code != websocket.CloseAbnormalClosure {
			return ce.Code
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no close within %v", within)
		}
		return 0
	}
}

// A text message whose first fragment is not UTF-8 is refused with 1007 at
// once: the gateway does not wait for fragments that will never come.
func TestFragmentedInvalidUTF8ClosesAtOnce(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url)

	ws := dial(t, g.url+"/ws", nil)
	writeRaw(t, ws, rawFrame(fragText, []byte("ok\xff")))
	if code := closeCode(t, ws, 3*time.Second); code != 1007 {
		t.Fatalf("close %d, want 1007", code)
	}

	// A character split between two fragments is fine.
	ws = dial(t, g.url+"/ws", nil)
	writeRaw(t, ws, rawFrame(fragText, []byte("caf\xc3")))
	writeRaw(t, ws, rawFrame(finCont, []byte("\xa9!")))
	if _, got := read(t, ws); got != "echo: café!" {
		t.Fatalf("split character: %q", got)
	}
	// A truncated character at the end of a message is not.
	writeRaw(t, ws, rawFrame(fragText, []byte("x")))
	writeRaw(t, ws, rawFrame(finCont, []byte("\xe2\x82")))
	if code := closeCode(t, ws, 3*time.Second); code != 1007 {
		t.Fatalf("truncated character: close %d, want 1007", code)
	}
}

// What gorilla refuses as a protocol error it closes with 1002; the
// gateway counts and logs 1002, the code the client received.
func TestProtocolErrorCountedAsSent(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url)
	var logs natstest.LogBuffer
	g.log = slog.New(slog.NewTextHandler(&logs, nil))

	ws := dial(t, g.url+"/ws", nil)
	writeRaw(t, ws, rawFrame(rsv2Text, []byte("x")))
	if code := peerClose(t, ws, 3*time.Second); code != 1002 {
		t.Fatalf("client saw close %d, want 1002", code)
	}
	eventually(t, 3*time.Second, "the close to be counted", func() bool {
		return testutil.ToFloat64(g.m.Disconnects.WithLabelValues("1002")) == 1
	})
	// The count comes before the log line.
	eventually(t, 3*time.Second, "the close to be logged as 1002", func() bool {
		return strings.Contains(logs.String(), "code=1002")
	})
}

// A frame length of 2^63 is one gorilla cannot represent: it stops reading
// without a close frame. The gateway fails the connection with 1002 itself
// and counts what it sent, never a 1009 that did not go out.
func TestHugeLengthCountsTheCodeSent(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url)
	var logs natstest.LogBuffer
	g.log = slog.New(slog.NewTextHandler(&logs, nil))

	ws := dial(t, g.url+"/ws", nil)
	hdr := []byte{finBinary, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<63)
	writeRaw(t, ws, append(hdr, 1, 2, 3, 4))
	got := peerClose(t, ws, 3*time.Second)
	if got != 1002 {
		t.Fatalf("client saw close %d, want 1002", got)
	}
	eventually(t, 3*time.Second, "the close to be counted", func() bool {
		return testutil.ToFloat64(g.m.Disconnects.WithLabelValues("1002")) == 1
	})
	if n := testutil.ToFloat64(g.m.Disconnects.WithLabelValues("1009")); n != 0 {
		t.Fatalf("counted as 1009 %v times", n)
	}
	// The count comes before the log line.
	eventually(t, 3*time.Second, "the close to be logged as 1002", func() bool {
		return strings.Contains(logs.String(), "code=1002")
	})
}

// A client that reads is never a slow consumer because one reply is larger
// than GATEWAY_SEND_QUEUE_BYTES.
func TestReplyLargerThanSendQueue(t *testing.T) {
	_, url := startNATS(t)
	worker(t, url, "echo")
	g := gateway(t, url, func(c *Config) { c.SendQueueBytes = 4 << 10 })
	ws := dial(t, g.url+"/ws", nil)
	big := strings.Repeat("b", 10<<10)
	for i := 0; i < 3; i++ {
		send(t, ws, websocket.TextMessage, big)
		if _, got := read(t, ws); got != "echo: "+big {
			t.Fatalf("round %d: %d bytes back", i, len(got))
		}
	}
	if n := testutil.ToFloat64(g.m.SlowConsumers); n != 0 {
		t.Fatalf("%v slow consumers", n)
	}
}

// 200,000 pings close the socket with 1008 after about the frame budget,
// instead of 200,000 pongs.
func TestPingFloodCloses1008(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	ws := dial(t, g.url+"/ws", nil)
	var pongs atomic.Int64
	ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	const n = 200_000
	flood := make([]byte, 0, n*6)
	for i := 0; i < n; i++ {
		flood = append(flood, rawFrame(finPing, nil)...)
	}
	go func() { _, _ = ws.UnderlyingConn().Write(flood) }() // fails once the gateway hangs up
	start := time.Now()
	if code := peerClose(t, ws, 10*time.Second); code != 1008 {
		t.Fatalf("close %d, want 1008", code)
	}
	budget := 200 + 100*time.Since(start).Seconds() + 1
	if p := pongs.Load(); float64(p) > budget {
		t.Fatalf("%d pongs, budget %.0f", p, budget)
	}
	if n := testutil.ToFloat64(g.m.RateLimited); n != 1 {
		t.Fatalf("rate limited %v", n)
	}
}
