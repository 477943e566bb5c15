package main

// The binaries as an operator runs them: gateway and three workers as
// separate OS processes over an in-process NATS server, then SIGTERM.

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func build(t *testing.T, dir string, pkgs ...string) {
	t.Helper()
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	done   chan struct{}
	listen chan string
}

func start(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), listen: make(chan string, 1)}
	addr := regexp.MustCompile(`msg="gateway listening" addr=(\S+)`)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			if m := addr.FindStringSubmatch(sc.Text()); m != nil {
				p.listen <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		_ = cmd.Wait()
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T, within time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v after SIGTERM", p.cmd.Path, within)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func TestBinariesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	dir := t.TempDir()
	build(t, dir, ".", "github.com/wsgate/wsgate/worker/cmd/worker")
	ns := natstest.Start(t)
	env := []string{"NATS_URL=" + ns.ClientURL(), "GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DRAIN_WINDOW=200ms", "AUTH_TOKENS=s3cret:alice"}

	workers := map[string]*proc{}
	for _, role := range []string{"echo", "room", "auth"} {
		workers[role] = start(t, env, filepath.Join(dir, "worker"), role)
	}
	gw := start(t, env, filepath.Join(dir, "gateway"))
	var addr string
	select {
	case addr = <-gw.listen:
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway did not start:\n%s", gw.log())
	}

	// Wait for the three services through NATS micro discovery.
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for role := range workers {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := nc.Request("$SRV.PING."+role, nil, 200*time.Millisecond); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %s not found:\n%s", role, workers[role].log())
			}
		}
	}

	base := "ws://" + addr
	echo := dialOK(t, base+"/ws", nil)
	roundTrip(t, echo, "hi", "echo: hi")

	room := dialOK(t, base+"/ws/room/demo", nil)
	roundTrip(t, room, "to all", "to all")

	priv := dialOK(t, base+"/ws/private", http.Header{"Authorization": {"Bearer s3cret"}})
	if _, msg, err := priv.ReadMessage(); err != nil || string(msg) != "ok" {
		t.Fatalf("private first frame %q %v", msg, err)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(base+"/ws/private", http.Header{"Authorization": {"Bearer secret"}}); err == nil || resp.StatusCode != 401 {
		t.Fatalf("the development token must be off once AUTH_TOKENS is set: %v", err)
	}

	// SIGTERM: clients get 1001, the gateway exits 0, and so do the workers.
	if code := gw.stop(t, 15*time.Second); code != 0 {
		t.Fatalf("gateway exit %d:\n%s", code, gw.log())
	}
	for _, ws := range []*websocket.Conn{echo, room, priv} {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
			t.Fatalf("client after gateway stop: %v", err)
		}
	}
	for role, p := range workers {
		if code := p.stop(t, 15*time.Second); code != 0 {
			t.Fatalf("worker %s exit %d:\n%s", role, code, p.log())
		}
	}
}

func dialOK(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func roundTrip(t *testing.T, ws *websocket.Conn, send, want string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != want {
		t.Fatalf("got %q %v, want %q", got, err, want)
	}
}

// A setting whose zero would break every connection stops the gateway at
// start, with a message naming the variable, instead of serving.
func TestZeroSettingStopsAtStart(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, ".")
	for _, name := range []string{"GATEWAY_WORKER_TIMEOUT", "GATEWAY_SEND_QUEUE_BYTES", "GATEWAY_WRITE_TIMEOUT", "GATEWAY_HANDSHAKE_TIMEOUT"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(dir, "gateway"))
		cmd.Env = append(os.Environ(), "GATEWAY_ADDR=127.0.0.1:0", "NATS_URL=nats://127.0.0.1:1", name+"=0")
		out, err := cmd.CombinedOutput()
		cancel()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), name) {
			t.Errorf("%s=0: %v\n%s", name, err, out)
		}
	}
}

// A bad GATEWAY_STORM_GOGC stops the gateway at start, naming it.
func TestBadStormGOGCStopsAtStart(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, ".")
	for _, v := range []string{"-1", "lots"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(dir, "gateway"))
		cmd.Env = append(os.Environ(), "GATEWAY_ADDR=127.0.0.1:0", "NATS_URL=nats://127.0.0.1:1", "GATEWAY_STORM_GOGC="+v)
		out, err := cmd.CombinedOutput()
		cancel()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "GATEWAY_STORM_GOGC") {
			t.Errorf("GATEWAY_STORM_GOGC=%s: %v\n%s", v, err, out)
		}
	}
}
