package server

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsgate/wsgate/shared/contract"
)

// benchReaders is set in the process that plays the members of
// BenchmarkFanOutRawVsRooms: "<gateway url> <members> <raw|rooms>".
const benchReaders = "WSGATE_BENCH_READERS"

// TestBenchReaders is the members' process of BenchmarkFanOutRawVsRooms, not
// a test: it connects the members, says "ready", then reads and discards
// until its stdin closes. Out of the benchmark's process, their reading
// does not count as the gateway's CPU.
func TestBenchReaders(t *testing.T) {
	spec := strings.Fields(os.Getenv(benchReaders))
	if len(spec) != 3 {
		t.Skip("the members' process of BenchmarkFanOutRawVsRooms")
	}
	n, _ := strconv.Atoi(spec[1])
	var conns []*websocket.Conn
	for range n {
		if spec[2] == "raw" {
			conns = append(conns, dial(t, spec[0]+"/ws/room/bench", nil))
			continue
		}
		c := dialRooms(t, spec[0], nil)
		c.join("bench")
		conns = append(conns, c.ws)
	}
	fmt.Println("ready")
	for _, ws := range conns {
		go func() { _, _ = io.Copy(io.Discard, ws.UnderlyingConn()) }()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// BenchmarkFanOutRawVsRooms publishes room messages at a fixed rate to 500
// raw members, then to 500 /ws/rooms members, of a gateway over real
// loopback sockets, the members in another process, and reports the
// benchmark process's CPU (gateway, NATS server, publisher) per delivery.
// The ratio of the two is the cost of the protocol's envelope, encoded once
// per message:
//
//	go test -run '^$' -bench FanOutRawVsRooms -benchtime 2000x ./gateway/server
func BenchmarkFanOutRawVsRooms(b *testing.B) {
	for _, kind := range []string{"raw", "rooms"} {
		b.Run(kind, func(b *testing.B) { benchFanOut(b, kind, 500, 100) })
	}
}

func benchFanOut(b *testing.B, kind string, members, rate int) {
	_, url := startNATS(b)
	g := gateway(b, url, func(c *Config) { c.PingInterval = 0 })
	out := contract.RoomOut(contract.RoomSubject, "bench")

	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchReaders$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", benchReaders, g.url, members, kind))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "ready" {
	}
	eventually(b, 30*time.Second, "the members to join", func() bool { n, _ := g.Hub().Members(out); return n == members })

	pub := natsConn(b, url)
	msg := &nats.Msg{Subject: out, Data: []byte(strings.Repeat("hello wörld ", 5)[:64]),
		Header: nats.Header{contract.HeaderFrame: {contract.FrameText}, contract.HeaderUser: {"alice"}}}
	before := testutil.ToFloat64(g.m.FramesOut)
	cpu0 := cpuTime()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sent := 0
	for b.Loop() {
		<-tick.C
		if err := pub.PublishMsg(msg); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	want := before + float64(sent*members)
	eventually(b, 30*time.Second, "every delivery", func() bool { return testutil.ToFloat64(g.m.FramesOut) >= want })
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(sent*members), "cpu-ns/delivery")
	b.ReportMetric(float64(rate*members), "deliveries/s")
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
