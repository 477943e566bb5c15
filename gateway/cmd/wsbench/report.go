package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
)

type report struct {
	Started     string    `json:"started"`
	Mode        string    `json:"mode"`
	WallSeconds float64   `json:"wall_seconds"`
	Bin         string    `json:"bin"`
	Reference   *refBuild `json:"reference,omitempty"`
	Machine     machine   `json:"machine"`
	Method      []string  `json:"method"`
	NATSSanity  []sanity  `json:"nats_sanity"`
	Figures     []*figure `json:"figures"`
	Problems    []string  `json:"problems"`
	Failures    []string  `json:"failures"`
}

type machine struct {
	NProc      int    `json:"nproc"`
	CPUModel   string `json:"cpu_model"`
	GoVersion  string `json:"go_version"`
	Kernel     string `json:"kernel"`
	MemTotal   string `json:"mem_total"`
	OpenFiles  uint64 `json:"open_files_limit"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// sanity is raw NATS publish/subscribe throughput at one point of the run:
// if it sags, the machine was contended, not the product slow.
type sanity struct {
	At         string  `json:"at"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	LoadAvg    float64 `json:"loadavg"`
}

// figure is one reported number: medians over interleaved rounds.
type figure struct {
	Scenario string   `json:"scenario"`
	Name     string   `json:"name"`
	Unit     string   `json:"unit"`
	Op       string   `json:"cpu_per"` // what the CPU figure is divided by
	Baseline *float64 `json:"baseline,omitempty"`
	Ref      *float64 `json:"reference,omitempty"`
	Product  float64  `json:"product"`
	Versus   string   `json:"versus,omitempty"`     // product vs baseline
	VsRef    string   `json:"versus_ref,omitempty"` // product vs reference
	Target   string   `json:"target,omitempty"`
	Issue    string   `json:"issue_target,omitempty"` // which issue target this figure answers, e.g. "12.1"
	Pass     *bool    `json:"pass,omitempty"`
	CPUBase  *float64 `json:"cpu_us_per_op_baseline,omitempty"`
	CPURef   *float64 `json:"cpu_us_per_op_reference,omitempty"`
	CPUProd  *float64 `json:"cpu_us_per_op_product,omitempty"`
	LoadAvg  float64  `json:"loadavg"`
	NATS     float64  `json:"nats_sanity_msgs_per_sec"`
	Detail   string   `json:"detail,omitempty"`
	Rounds   []round  `json:"rounds"`
}

type round struct {
	Side    string             `json:"side"`
	Value   float64            `json:"value"`
	CPUUS   float64            `json:"cpu_us_per_op"`
	LoadAvg float64            `json:"loadavg"`
	Extra   map[string]float64 `json:"extra,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// summarize fills medians, CPU and load from the rounds of each side.
func (f *figure) summarize(nats float64) {
	var bv, rv, pv, bc, rc, pc, load []float64
	for _, rd := range f.Rounds {
		load = append(load, rd.LoadAvg)
		switch rd.Side {
		case baseline:
			bv, bc = append(bv, rd.Value), append(bc, rd.CPUUS)
		case reference:
			rv, rc = append(rv, rd.Value), append(rc, rd.CPUUS)
		default:
			pv, pc = append(pv, rd.Value), append(pc, rd.CPUUS)
		}
	}
	if len(bv) > 0 {
		f.Baseline, f.CPUBase = ptr(median(bv)), ptr(median(bc))
	}
	if len(rv) > 0 {
		f.Ref, f.CPURef = ptr(median(rv)), ptr(median(rc))
	}
	if len(pv) > 0 {
		f.Product, f.CPUProd = median(pv), ptr(median(pc))
	}
	f.LoadAvg = median(load)
	f.NATS = nats
}

func (f *figure) judge(ok bool) { f.Pass = &ok }

// clientCPU is the median client CPU per op of one side's rounds.
func (f *figure) clientCPU(side string) float64 {
	var xs []float64
	for _, rd := range f.Rounds {
		if v, ok := rd.Extra["client_cpu_us"]; ok && rd.Side == side {
			xs = append(xs, v)
		}
	}
	return median(xs)
}

func machineInfo() machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		m.MemTotal = strings.Join(strings.Fields(line)[1:], " ")
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.OpenFiles = rl.Cur
	}
	return m
}

// natsSanity publishes 64-byte messages from one connection to one
// subscriber on another for about dur, flushing every 10k messages so the
// publisher cannot run away from the server, and returns messages received
// per second.
func natsSanity(url string, dur time.Duration) (float64, error) {
	pc, err := nats.Connect(url, nats.Name("wsbench-sanity-pub"))
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	sc, err := nats.Connect(url, nats.Name("wsbench-sanity-sub"))
	if err != nil {
		return 0, err
	}
	defer sc.Close()
	var got atomic.Int64
	var last atomic.Int64
	sub, err := sc.Subscribe("wsbench.sanity", func(*nats.Msg) {
		got.Add(1)
		last.Store(time.Now().UnixNano())
	})
	if err != nil {
		return 0, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := sc.Flush(); err != nil {
		return 0, err
	}
	payload := make([]byte, 64)
	start := time.Now()
	sent := int64(0)
	for time.Since(start) < dur {
		for i := 0; i < 10000; i++ {
			if err := pc.Publish("wsbench.sanity", payload); err != nil {
				return 0, err
			}
		}
		sent += 10000
		if err := pc.Flush(); err != nil {
			return 0, err
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	secs := time.Duration(last.Load() - start.UnixNano()).Seconds()
	if secs <= 0 {
		return 0, fmt.Errorf("nats sanity: nothing received")
	}
	return float64(got.Load()) / secs, nil
}

// window measures one round: wall time and the CPU of the server processes
// (the figure), and of the client processes beside it (not in the figure:
// it shows how much of the 2 cores the load generator itself took).
type window struct {
	procs   []*proc
	clients []int
	cpu0    []time.Duration
	client0 time.Duration
	busy0   time.Duration // the whole machine's
	t0      time.Time
	prof    sync.WaitGroup
}

func openWindow(procs []*proc, clients ...int) *window {
	w := &window{procs: procs, clients: clients, t0: time.Now()}
	for _, p := range procs {
		w.cpu0 = append(w.cpu0, cpuTime(p.pid()))
	}
	w.client0 = cpuTime(clients...)
	w.busy0 = machineBusy()
	return w
}

func holdPids(hs []*holdProc) []int {
	var pids []int
	for _, h := range hs {
		pids = append(pids, h.pid())
	}
	return pids
}

// profile captures a CPU profile of each gateway during the window, and
// what it allocated meanwhile.
func (w *window) profile(dir, tag string, secs int, gws ...*gw) {
	for _, g := range gws {
		for kind, take := range map[string]func(int, string) error{"": g.profile, ".allocs": g.allocs} {
			w.prof.Add(1)
			go func() {
				defer w.prof.Done()
				path := fmt.Sprintf("%s/%s-%s%s.pprof", dir, tag, g.name, kind)
				if err := take(max(secs, 1), path); err != nil {
					fmt.Fprintf(os.Stderr, "profile %s: %v\n", path, err)
				}
			}()
		}
	}
}

// close returns the elapsed seconds, the servers' CPU µs per op and the
// same split by process.
func (w *window) close(ops float64) (float64, float64, map[string]float64) {
	secs := time.Since(w.t0).Seconds()
	split := map[string]float64{}
	var total time.Duration
	for i, p := range w.procs {
		d := cpuTime(p.pid()) - w.cpu0[i]
		total += d
		if ops > 0 {
			split["cpu_us_"+p.name] = float64(d.Microseconds()) / ops
		}
	}
	client := cpuTime(w.clients...) - w.client0
	if ops > 0 && len(w.clients) > 0 {
		split["client_cpu_us"] = float64(client.Microseconds()) / ops
	}
	if secs > 0 {
		other := machineBusy() - w.busy0 - total - client
		split["other_cpu_pct"] = max(0, 100*other.Seconds()/secs)
	}
	w.prof.Wait()
	if ops <= 0 {
		return secs, 0, split
	}
	return secs, float64(total.Microseconds()) / ops, split
}

func fmtNum(v float64, unit string) string {
	switch unit {
	case "KiB", "goroutines":
		return fmt.Sprintf("%.2f", v)
	case "ms", "µs/op":
		return fmt.Sprintf("%.1f", v)
	case "s":
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func (rep *report) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tUNIT\tBASELINE\tREFERENCE\tPRODUCT\tVS B\tVS REF\tTARGET\tRESULT\tCPU µs/op B\tCPU R\tCPU P\tOP\tLOAD\tOTHER %\tNATS msg/s\tDETAIL")
	for _, f := range rep.Figures {
		b, rf := optNum(f.Baseline, f.Unit), optNum(f.Ref, f.Unit)
		cb, cr, cp := optNum(f.CPUBase, "µs/op"), optNum(f.CPURef, "µs/op"), optNum(f.CPUProd, "µs/op")
		res := "info"
		if f.Pass != nil {
			res = map[bool]string{true: "PASS", false: "MISS"}[*f.Pass]
		}
		other := "-"
		if v, ok := f.otherCPU(); ok {
			other = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%.0f\t%s\n",
			f.Scenario, f.Name, f.Unit, b, rf, fmtNum(f.Product, f.Unit), orDash(f.Versus), orDash(f.VsRef), orDash(f.Target), res,
			cb, cr, cp, f.Op, f.LoadAvg, other, f.NATS, f.Detail)
	}
	_ = tw.Flush()
}

func optNum(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return fmtNum(*v, unit)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (rep *report) write(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
