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

// stack is one build's servers: NATS, the echo, room and auth workers and
// up to two gateways, all from the binaries in bin. The product is one
// stack; a -ref build is another, on its own NATS, so the two never share a
// subject.
type stack struct {
	side     string // product or reference
	prefix   string // of process names, so logs and CPU splits tell the stacks apart
	bin      string
	env      []string // more environment for its workers (the history scenario's off side)
	legacy   bool     // the -ref build: its worker has no presence role
	natsProc *proc
	natsURL  string
	nc       *nats.Conn
	workers  []*proc
	gwA, gwB *gw
}

// serverProcs are the processes a figure of this stack counts the CPU of.
func (s *stack) serverProcs(gws ...*gw) []*proc {
	ps := append([]*proc{s.natsProc}, s.workers...)
	for _, g := range gws {
		ps = append(ps, g.proc)
	}
	return ps
}

// startStack starts NATS, the workers and gateway A of s.
func (r *runner) startStack(s *stack) error {
	if err := r.startNATS(s); err != nil {
		return fmt.Errorf("start %snats: %w", s.prefix, err)
	}
	if err := r.startWorkers(s); err != nil {
		return fmt.Errorf("start %sworkers: %w", s.prefix, err)
	}
	var err error
	if s.gwA, err = r.startGatewayOf(s, "gateway-a"); err != nil {
		return fmt.Errorf("start %sgateway: %w", s.prefix, err)
	}
	return nil
}

// gatewayB starts the second gateway of s at its first use.
func (r *runner) gatewayB(s *stack) (*gw, error) {
	if s.gwB == nil {
		g, err := r.startGatewayOf(s, "gateway-b")
		if err != nil {
			return nil, err
		}
		s.gwB = g
	}
	return s.gwB, nil
}

// stopStack stops s in reverse dependency order.
func (r *runner) stopStack(s *stack) {
	if s == nil {
		return
	}
	for _, g := range []*gw{s.gwA, s.gwB} {
		if g != nil {
			r.stopProc(g.proc)
		}
	}
	for _, w := range s.workers {
		r.stopProc(w)
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.natsProc != nil {
		r.stopProc(s.natsProc)
	}
}

// startNATS runs devnats, with JetStream storage of its own under the run's
// temporary directory, and connects the parent's control connection (worker
// pings and the NATS sanity figure go through it).
func (r *runner) startNATS(s *stack) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	store := filepath.Join(r.logDir, s.prefix+"nats-store")
	p, err := r.spawn(s.prefix+"nats", filepath.Join(s.bin, "devnats"),
		[]string{"-port", strconv.Itoa(port), "-monitor", "0", "-store", store}, nil, nil)
	if err != nil {
		return err
	}
	s.natsProc = p
	s.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect(s.natsURL, nats.Timeout(time.Second), nats.Name("wsbench"))
		if err == nil {
			s.nc = nc
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("nats did not start: %v (log %s)", err, p.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWorkers runs one echo, room and auth worker, and for this build a
// presence worker (the gateway's default GATEWAY_EVENTS=true writes events
// and presence records, which go nowhere without it; the -ref build has
// none); each is ready once it answers its NATS micro PING.
func (r *runner) startWorkers(s *stack) error {
	roles := []string{"echo", "room", "auth"}
	if !s.legacy {
		roles = append(roles, "presence")
	}
	for _, role := range roles {
		p, err := r.spawn(s.prefix+"worker-"+role, filepath.Join(s.bin, "worker"), []string{role}, append([]string{"NATS_URL=" + s.natsURL}, s.env...), nil)
		if err != nil {
			return err
		}
		s.workers = append(s.workers, p)
	}
	for i, role := range roles {
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := s.nc.Request("$SRV.PING."+role, nil, 500*time.Millisecond); err == nil {
				break
			}
			if s.workers[i].exited() || time.Now().After(deadline) {
				return fmt.Errorf("worker %s not ready (log %s)", role, s.workers[i].logPath)
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

// startGateway starts a product gateway.
func (r *runner) startGateway(name string) (*gw, error) { return r.startGatewayOf(r.stack, name) }

// startGatewayBin starts the gateway binary at path on the product's NATS
// and workers (the storm scenario's side by side of two gateway builds).
func (r *runner) startGatewayBin(name, path string) (*gw, error) {
	s := &stack{side: r.stack.side, bin: filepath.Dir(path), natsURL: r.stack.natsURL}
	return r.startGatewayOf(s, name)
}

// startGatewayOf runs a gateway of s with the rate limit and per-address cap
// off (the benchmark is one address sending as fast as it can) and a short
// drain window so stopping it does not dominate the run. A reference build
// gets the same variables: every one of them exists since before ed59c8f.
func (r *runner) startGatewayOf(s *stack, name string) (*gw, error) {
	name = s.prefix + name
	env := []string{
		"NATS_URL=" + s.natsURL,
		"GATEWAY_ADDR=127.0.0.1:0",
		"GATEWAY_ADMIN_ADDR=127.0.0.1:0",
		"GATEWAY_RATE_PER_SECOND=0",
		"GATEWAY_MAX_CONNECTIONS_PER_IP=0",
		"GATEWAY_DRAIN_WINDOW=1s",
	}
	p, err := r.spawn(name, filepath.Join(s.bin, "gateway"), nil, env, nil)
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
	return g.saveProfile(fmt.Sprintf("profile?seconds=%d", secs), path)
}

// allocs saves what the gateway allocated over the next secs seconds.
func (g *gw) allocs(secs int, path string) error {
	return g.saveProfile(fmt.Sprintf("allocs?seconds=%d", secs), path)
}

func (g *gw) saveProfile(query, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	if _, err := httpGet(fmt.Sprintf("http://%s/debug/pprof/%s", g.admin, query), bw); err != nil {
		return err
	}
	return bw.Flush()
}
