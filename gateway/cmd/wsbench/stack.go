package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// gw is a running gateway process with its public and admin addresses.
type gw struct {
	*proc
	addr, admin string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startNATS runs devnats and connects the parent's own control connection
// (worker pings and the NATS sanity figure go through it).
func (r *runner) startNATS() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := r.spawn("nats", filepath.Join(r.bin, "devnats"), []string{"-port", strconv.Itoa(port), "-monitor", "0"}, nil, nil)
	if err != nil {
		return err
	}
	r.natsProc = p
	r.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect(r.natsURL, nats.Timeout(time.Second), nats.Name("wsbench"))
		if err == nil {
			r.nc = nc
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("nats did not start: %v (log %s)", err, p.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWorkers runs one echo, room and auth worker; each is ready once it
// answers its NATS micro PING.
func (r *runner) startWorkers() error {
	for _, role := range []string{"echo", "room", "auth"} {
		p, err := r.spawn("worker-"+role, filepath.Join(r.bin, "worker"), []string{role}, []string{"NATS_URL=" + r.natsURL}, nil)
		if err != nil {
			return err
		}
		r.workers = append(r.workers, p)
	}
	for i, role := range []string{"echo", "room", "auth"} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := r.nc.Request("$SRV.PING."+role, nil, 500*time.Millisecond); err == nil {
				break
			}
			if r.workers[i].exited() || time.Now().After(deadline) {
				return fmt.Errorf("worker %s not ready (log %s)", role, r.workers[i].logPath)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

var (
	reListening = regexp.MustCompile(`msg="gateway listening" addr=(\S+)`)
	reAdmin     = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
	reBaseline  = regexp.MustCompile(`listening (\S+)`)
)

// startGateway runs a gateway with the rate limit and per-address cap off
// (the benchmark is one address sending as fast as it can) and a short drain
// window so stopping it does not dominate the run.
func (r *runner) startGateway(name string) (*gw, error) {
	return r.startGatewayBin(name, filepath.Join(r.bin, "gateway"))
}

func (r *runner) startGatewayBin(name, path string) (*gw, error) {
	env := []string{
		"NATS_URL=" + r.natsURL,
		"GATEWAY_ADDR=127.0.0.1:0",
		"GATEWAY_ADMIN_ADDR=127.0.0.1:0",
		"GATEWAY_RATE_PER_SECOND=0",
		"GATEWAY_MAX_CONNECTIONS_PER_IP=0",
		"GATEWAY_DRAIN_WINDOW=1s",
	}
	p, err := r.spawn(name, path, nil, env, nil)
	if err != nil {
		return nil, err
	}
	g := &gw{proc: p}
	m, err := p.waitLog(reListening, 15*time.Second)
	if err != nil {
		return nil, err
	}
	g.addr = m[1]
	if m, err = p.waitLog(reAdmin, 5*time.Second); err != nil {
		return nil, err
	}
	g.admin = m[1]
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := httpGet("http://"+g.addr+"/readyz", io.Discard); code == http.StatusOK {
			return g, nil
		}
		if p.exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("%s never ready (log %s)", name, p.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *runner) startBaseline() error {
	p, err := r.spawn("baseline", r.self, []string{"baseline", "-addr", "127.0.0.1:0"}, nil, nil)
	if err != nil {
		return err
	}
	m, err := p.waitLog(reBaseline, 10*time.Second)
	if err != nil {
		return err
	}
	r.base, r.baseAddr = p, m[1]
	return nil
}

var httpc = &http.Client{Timeout: 30 * time.Second}

func httpGet(url string, w io.Writer) (int, error) {
	if err := checkLoopback(url); err != nil {
		return 0, err
	}
	resp, err := httpc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return resp.StatusCode, err
}

// goroutines reads "goroutine profile: total N" from the admin listener.
func (g *gw) goroutines() (int, error) {
	var sb strings.Builder
	if _, err := httpGet("http://"+g.admin+"/debug/pprof/goroutine?debug=1", &sb); err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(sb.String(), "\n")
	n, ok := strings.CutPrefix(line, "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("unexpected goroutine profile %q", line)
	}
	return strconv.Atoi(n)
}

// memStats asks for the heap profile with gc=1, which runs a garbage
// collection first (so RSS read right after excludes collectable garbage),
// and returns its runtime.MemStats lines: HeapInuse, Stack (in use), ...
func (g *gw) memStats() (map[string]int64, error) {
	var sb strings.Builder
	if _, err := httpGet("http://"+g.admin+"/debug/pprof/heap?gc=1&debug=1", &sb); err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(sb.String(), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if !ok || !strings.HasPrefix(line, "# ") {
			continue
		}
		v, _, _ = strings.Cut(v, " ") // "Stack = inuse / sys"
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	if _, ok := m["HeapInuse"]; !ok {
		return nil, fmt.Errorf("no MemStats in the heap profile of %s", g.name)
	}
	return m, nil
}

// saveHeap saves a heap profile (for go tool pprof) to path.
func (g *gw) saveHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = httpGet("http://"+g.admin+"/debug/pprof/heap", f)
	return err
}

// profile saves a CPU profile of secs seconds to path.
func (g *gw) profile(secs int, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	if _, err := httpGet(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.admin, secs), bw); err != nil {
		return err
	}
	return bw.Flush()
}
