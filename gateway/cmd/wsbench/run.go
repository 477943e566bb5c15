package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config sizes a run. The full run targets ~6 minutes on 2 cores; the
// smoke run proves every scenario works in seconds and measures nothing.
type config struct {
	rounds      int // rounds per side; sides alternate B,P,B,P…
	echoConns   []int
	echoTargets []float64 // product/baseline ratio wanted, per echoConns
	echoDur     time.Duration
	latDur      time.Duration
	warmup      time.Duration
	hsPar       int
	hsDur       time.Duration
	idleSteps   []int
	idleHolds   int
	idleHold    time.Duration
	idleKiB     float64 // gateway RSS per idle connection wanted
	// idleAfter: after the echo that ends the hold, how long to wait
	// before measuring again (a heartbeat: the gateway's 25 s ping
	// interval and some); 0 skips it.
	idleAfter  time.Duration
	roomHolds  int // hold processes per gateway
	roomSmall  int
	roomBig    int
	rateSmall  float64 // messages/s into the small room
	rateBig    float64
	roomDur    time.Duration
	roomGrace  time.Duration // wait for late deliveries after the last send
	satDeliv   []float64     // deliveries/s into a room, step by step
	satP99     time.Duration // a saturation step holds with nothing lost and p99 at most this
	satDur     time.Duration
	cpuDeliv   float64 // deliveries/s of the small room's CPU figure
	cpuRounds  int
	echoCPUMax float64 // µs of server CPU per echo round trip at echoConns[0]
	pub        pubConfig
	sanityDur  time.Duration
	// storm: stormJoiners clients fill one room, stormHolds processes with
	// stormPar dialers each, while stormOther members of another room get
	// stormRate messages/s, sent by stormSenders of them in turn.
	stormRounds  int
	stormJoiners int
	stormHolds   int
	stormPar     int
	stormOther   int
	stormRate    float64
	stormSenders int
	resumeMsgs   int // messages a client misses before it resumes (history)
}

func fullConfig() config {
	return config{
		rounds: 5, echoConns: []int{50, 500}, echoTargets: []float64{0.5, 0.8}, echoCPUMax: 20,
		echoDur: 3 * time.Second, latDur: 3 * time.Second, warmup: 500 * time.Millisecond,
		hsPar: 32, hsDur: 3 * time.Second,
		idleSteps: []int{10000, 19000}, idleHolds: 4, idleHold: 60 * time.Second, idleKiB: 9, idleAfter: 28 * time.Second,
		roomHolds: 2, roomSmall: 1000, roomBig: 10000, rateSmall: 40, rateBig: 4,
		roomDur: 5 * time.Second, roomGrace: 2 * time.Second,
		satDeliv: []float64{50e3, 100e3, 150e3, 200e3, 300e3, 400e3, 600e3, 800e3, 1e6, 1.2e6, 1.6e6, 2e6, 2.4e6},
		satP99:   200 * time.Millisecond, satDur: 3 * time.Second, cpuDeliv: 200e3, cpuRounds: 3,
		pub:       pubConfig{window: 1000, members: 4, dur: 3 * time.Second, rounds: 3, target: 20000},
		sanityDur: time.Second,
		// 19,500 joiners and 100 others, not 20,000: a process may hold
		// 20,000 files here, and the gateway holds every socket.
		stormRounds: 3, stormJoiners: 19500, stormHolds: 4, stormPar: 64, stormOther: 100, stormRate: 100, stormSenders: 5,
		resumeMsgs: 1000,
	}
}

func smokeConfig() config {
	return config{
		rounds: 1, echoConns: []int{4, 16}, echoTargets: []float64{0.5, 0.8}, echoCPUMax: 20,
		echoDur: time.Second, latDur: time.Second, warmup: 200 * time.Millisecond,
		hsPar: 4, hsDur: time.Second,
		idleSteps: []int{100, 200}, idleHolds: 2, idleHold: time.Second, idleKiB: 9,
		roomHolds: 1, roomSmall: 20, roomBig: 50, rateSmall: 40, rateBig: 4,
		roomDur: time.Second, roomGrace: time.Second,
		satDeliv: []float64{800, 1600}, satP99: 200 * time.Millisecond, satDur: time.Second,
		cpuDeliv: 2000, cpuRounds: 1,
		pub:         pubConfig{window: 100, members: 2, dur: time.Second, rounds: 1, target: 20000},
		sanityDur:   300 * time.Millisecond,
		stormRounds: 1, stormJoiners: 200, stormHolds: 2, stormPar: 8, stormOther: 10, stormRate: 50, stormSenders: 2,
		resumeMsgs: 100,
	}
}

var scenarios = []string{"echo", "latency", "publisher", "handshake", "room", "saturation", "multi", "history", "storm", "idle"}

type runner struct {
	cfg       config
	smoke     bool
	bin       string
	self      string
	logDir    string
	pprofDir  string
	refBin    string // an earlier build's gateway, for the scenarios that compare builds
	stormNice int    // CPU priority of the storm's joiners (nice)

	mu       sync.Mutex
	procs    []*proc
	holds    []*holdProc
	*stack          // the product: r.natsURL, r.gwA, … are its servers
	ref      *stack // the -ref build's servers, or nil
	refInfo  *refBuild
	base     *proc
	baseAddr string

	rep    report
	nextID int64
}

func runMain(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	bin := fs.String("bin", "bin", "directory with the gateway, worker and devnats binaries")
	smoke := fs.Bool("smoke", false, "tiny, seconds-long version of every scenario")
	out := fs.String("out", "bench.json", "JSON report")
	only := fs.String("only", "", "comma-separated subset of "+strings.Join(scenarios, ","))
	pprofDir := fs.String("pprof", "", "save gateway CPU profiles taken during selected rounds here")
	keep := fs.Bool("keep-logs", false, "keep process logs even when the run succeeds")
	idleHold := fs.Duration("idle-hold", 0, "override how long idle connections are held (for quick iterations; the target says 60s)")
	rounds := fs.Int("rounds", 0, "override the rounds per side")
	stormNice := fs.Int("storm-nice", 19, "nice level of the storm scenario's joining clients (0: same priority as the servers)")
	refBin := fs.String("ref-bin", "", "directory with an earlier build's gateway binary for the storm scenario (default: the -ref build's)")
	refRev := fs.String("ref", "", "also build this git revision (e.g. ed59c8f) and run it as the reference side of every product scenario; none: no reference")
	_ = fs.Parse(args)

	start := time.Now()
	selected := scenarios
	if *only != "" {
		selected = strings.Split(*only, ",")
		for _, s := range selected {
			if !slices.Contains(scenarios, s) {
				fmt.Fprintf(os.Stderr, "unknown scenario %q (have %s)\n", s, strings.Join(scenarios, ","))
				return 2
			}
		}
	}
	r := &runner{cfg: fullConfig(), smoke: *smoke, pprofDir: *pprofDir, stormNice: *stormNice}
	r.rep = report{Started: start.UTC().Format(time.RFC3339), Mode: "full", Machine: machineInfo(), Method: method}
	if *smoke {
		r.cfg, r.rep.Mode = smokeConfig(), "smoke"
	}
	if *idleHold > 0 {
		r.cfg.idleHold = *idleHold
	}
	if *rounds > 0 {
		r.cfg.rounds, r.cfg.stormRounds = *rounds, *rounds
	}
	var err error
	if r.bin, err = filepath.Abs(*bin); err == nil {
		r.self, err = os.Executable()
	}
	if err == nil {
		r.logDir, err = os.MkdirTemp("", "wsbench-")
	}
	if err == nil && *refBin != "" {
		r.refBin, err = filepath.Abs(*refBin)
	}
	if err == nil && r.pprofDir != "" {
		err = os.MkdirAll(r.pprofDir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r.rep.Bin = r.bin
	r.stack = &stack{side: product, bin: r.bin}
	if *refRev != "" && *refRev != "none" {
		if r.refInfo, err = r.buildRef(*refRev); err != nil {
			fmt.Fprintln(os.Stderr, "wsbench: -ref:", err)
			return 1
		}
		defer os.RemoveAll(r.refInfo.dir)
		r.ref, r.rep.Reference = &stack{side: reference, prefix: "ref-", bin: r.refInfo.bin, legacy: true}, r.refInfo
		if r.refBin == "" {
			r.refBin = r.refInfo.bin
		}
	}
	fmt.Fprintf(os.Stderr, "wsbench %s run: logs in %s\n", r.rep.Mode, r.logDir)

	// On Ctrl-C, take every child down with us (Pdeathsig covers a crash).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		r.mu.Lock()
		for _, p := range r.procs {
			_ = p.cmd.Process.Kill()
		}
		os.Exit(130)
	}()

	r.run(selected)
	r.shutdown()

	r.rep.WallSeconds = time.Since(start).Seconds()
	r.rep.printTable(os.Stdout)
	fmt.Println()
	r.rep.printTargets(os.Stdout)
	fmt.Println()
	for _, s := range r.rep.NATSSanity {
		fmt.Printf("NATS sanity at %-10s %9.0f msgs/s (64 B, 1 pub, 1 sub), load %.2f\n", s.At, s.MsgsPerSec, s.LoadAvg)
	}
	for _, p := range r.rep.Problems {
		fmt.Println("PROBLEM:", p)
	}
	for _, f := range r.rep.Failures {
		fmt.Println("FAILURE:", f)
	}
	fmt.Printf("wall time %.1f s; report %s\n", r.rep.WallSeconds, *out)
	if err := r.rep.write(*out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if len(r.rep.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", r.logDir)
		return 1
	}
	if !*keep {
		_ = os.RemoveAll(r.logDir)
	}
	return 0
}

var method = []string{
	"Baseline (wsbench baseline, gorilla echo, no NATS) and product rounds alternate B,P,B,P...; figures are medians over rounds.",
	"CPU µs/op: utime+stime from /proc/<pid>/stat of every server process (baseline: the baseline; product: nats, the three workers and the gateways in use) over the round, divided by the round's operations.",
	"Every client runs in separate processes from the servers: the run process for echo/latency/handshakes, 'wsbench hold' processes for idle connections and room members.",
	"Room latency = receiver wall clock - sender wall clock stamped in the message, same machine; percentiles from merged log-linear histograms (~1.6% resolution).",
	"Idle RSS is read after a forced GC (admin /debug/pprof/heap?gc=1); raw RSS before it is in the detail.",
	"With -ref REV, gateway, worker and devnats of REV are built from a temporary git worktree and run as a second stack (own NATS, workers, gateways, same settings); every round runs baseline, reference, product in turn.",
}

func (r *runner) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "FAILURE:", msg)
	r.rep.Failures = append(r.rep.Failures, msg)
}

// problem records something that looked wrong but is a measurement, not a
// broken tool. In a smoke run nothing should be lost at its tiny load, so
// there a problem fails the run.
func (r *runner) problem(format string, args ...any) {
	if r.smoke {
		r.fail(format, args...)
		return
	}
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "PROBLEM:", msg)
	r.rep.Problems = append(r.rep.Problems, msg)
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *runner) run(selected []string) {
	for _, s := range r.stacks() {
		if err := r.startStack(s); err != nil {
			r.fail("%v", err)
			return
		}
	}
	if err := r.startBaseline(); err != nil {
		r.fail("start baseline: %v", err)
		return
	}
	r.logf("stack up: nats %s, gateway %s (admin %s), baseline %s", r.natsURL, r.gwA.addr, r.gwA.admin, r.baseAddr)
	if r.ref != nil {
		r.logf("reference %s up: nats %s, gateway %s", r.refInfo.Rev, r.ref.natsURL, r.ref.gwA.addr)
	}
	r.sanity("start")
	has := func(s string) bool { return slices.Contains(selected, s) }
	steps := []struct {
		name string
		run  func() error
	}{
		{"echo", r.scenEcho},
		{"latency", r.scenLatency},
		{"publisher", r.scenPublisher},
		{"handshake", r.scenHandshake},
		{"room", func() error { return r.scenRooms(has("room"), has("saturation")) }},
		{"multi", r.scenMulti},
		{"history", r.scenHistory},
		{"storm", r.scenStorm},
		{"idle", r.scenIdle},
	}
	for _, s := range steps {
		if !has(s.name) && (s.name != "room" || !has("saturation")) {
			continue
		}
		r.logf("scenario %s", s.name)
		if err := s.run(); err != nil {
			r.fail("scenario %s: %v", s.name, err)
		}
	}
	r.sanity("end")
}

// shutdown stops everything in reverse dependency order and expects each
// product process to exit 0 on SIGTERM.
func (r *runner) shutdown() {
	for _, h := range r.holds {
		h.quit()
	}
	if r.base != nil {
		r.stopProc(r.base)
	}
	r.stopStack(r.ref)
	r.stopStack(r.stack)
}

func (r *runner) stopProc(p *proc) {
	if err := p.stop(20 * time.Second); err != nil {
		r.fail("%v", err)
	}
}

func (r *runner) sanity(at string) float64 {
	v, err := natsSanity(r.natsURL, r.cfg.sanityDur)
	if err != nil {
		r.problem("NATS sanity at %s: %v", at, err)
	}
	r.rep.NATSSanity = append(r.rep.NATSSanity, sanity{At: at, MsgsPerSec: v, LoadAvg: loadAvg()})
	return v
}

// productProcs are the server processes a product figure's CPU counts.
func (r *runner) productProcs(gws ...*gw) []*proc {
	return r.stack.serverProcs(gws...)
}

// srcBlock is 127.0.<c>.1 … 127.0.<c>.<n>.
func srcBlock(c, n int) []net.IP {
	var ips []net.IP
	for i := 1; i <= n; i++ {
		ips = append(ips, srcIP(0, c, i))
	}
	return ips
}

func srcStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}
