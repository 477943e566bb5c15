package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process. Its stdout and stderr go straight to a log file
// (not through a pipe the parent must drain), so a chatty gateway costs the
// benchmark nothing and the parent polls the file for the lines it needs.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid once done is closed
}

func (r *runner) spawn(name, path string, args, env []string, setup func(*exec.Cmd) error) (*proc, error) {
	logPath := filepath.Join(r.logDir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If wsbench dies, its children must not outlive it holding ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if setup != nil {
		if err := setup(cmd); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and expects exit status 0, as every product process
// promises; anything else is a failure of the run.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had already exited: %v (log %s)", p.name, p.err, p.logPath)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM (log %s)", p.name, timeout, p.logPath)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited with %v after SIGTERM (log %s)", p.name, p.err, p.logPath)
	}
	return nil
}

// waitLog polls p's log until re matches, and returns the submatches.
func (p *proc) waitLog(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(p.logPath); err == nil {
			if m := re.FindStringSubmatch(string(b)); m != nil {
				return m, nil
			}
		}
		if p.exited() {
			return nil, fmt.Errorf("%s exited during start: %v (log %s)", p.name, p.err, p.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s: no %q in its log within %v (log %s)", p.name, re, timeout, p.logPath)
}

// clkTck is USER_HZ, 100 on every Linux architecture Go supports here.
const clkTck = 100

// cpuTime is utime+stime of the processes, from /proc/<pid>/stat.
func cpuTime(pids ...int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// comm may contain spaces; the fields after its ')' are fixed.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / clkTck
}

// rssKiB is VmRSS from /proc/<pid>/status.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// holdProc is the parent's handle on a `wsbench hold` child.
type holdProc struct {
	*proc
	in   io.WriteCloser
	resp chan holdResp
	mu   sync.Mutex // one command at a time
}

func (r *runner) startHold(name string) (*holdProc, error) { return r.startHoldNice(name, 0) }

// startHoldNice starts a hold process at a lower CPU priority (nice 1-19),
// for load that must not take the CPU from the servers it measures.
func (r *runner) startHoldNice(name string, nice int) (*holdProc, error) {
	h := &holdProc{resp: make(chan holdResp, 1)}
	var stdout io.ReadCloser
	path, args := r.self, []string{"hold"}
	if nice > 0 {
		path, args = "nice", append([]string{"-n", strconv.Itoa(nice), r.self}, args...)
	}
	p, err := r.spawn(name, path, args, nil, func(cmd *exec.Cmd) error {
		var err error
		if h.in, err = cmd.StdinPipe(); err != nil {
			return err
		}
		cmd.Stdout = nil
		stdout, err = cmd.StdoutPipe()
		return err
	})
	if err != nil {
		return nil, err
	}
	h.proc = p
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var resp holdResp
			if json.Unmarshal(sc.Bytes(), &resp) != nil {
				resp = holdResp{Err: "bad answer: " + sc.Text()}
			}
			h.resp <- resp
		}
	}()
	r.mu.Lock()
	r.holds = append(r.holds, h)
	r.mu.Unlock()
	return h, nil
}

// call sends one command and waits for its answer. An error means the hold
// process is unusable (dead, mute or incoherent); a per-command problem is in
// the answer's Err.
func (h *holdProc) call(req holdReq, timeout time.Duration) (holdResp, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := json.Marshal(req)
	if _, err := h.in.Write(append(b, '\n')); err != nil {
		return holdResp{}, fmt.Errorf("%s: %w", h.name, err)
	}
	select {
	case resp := <-h.resp:
		if resp.Op != req.Op {
			return resp, fmt.Errorf("%s: answer %q to %q: %s", h.name, resp.Op, req.Op, resp.Err)
		}
		return resp, nil
	case <-h.done:
		return holdResp{}, fmt.Errorf("%s exited: %v (log %s)", h.name, h.err, h.logPath)
	case <-time.After(timeout):
		// Its answer may still come and would be taken for the next one.
		_ = h.cmd.Process.Kill()
		return holdResp{}, fmt.Errorf("%s: no answer to %q within %v", h.name, req.Op, timeout)
	}
}

// callAll runs one command on every hold process at once.
// connectSpread has every hold open its share of n connections (the first
// takes the remainder) and reports those that failed.
func (r *runner) connectSpread(holds []*holdProc, n int, req func(i, m int) holdReq, what string) ([]holdResp, int, error) {
	per := n / len(holds)
	resps, err := callAll(holds, func(i int) holdReq {
		m := per
		if i == 0 {
			m += n - per*len(holds)
		}
		return req(i, m)
	}, 5*time.Minute)
	if err != nil {
		return nil, 0, err
	}
	ok := 0
	for _, rp := range resps {
		ok += rp.OK
		if rp.Failed > 0 {
			r.problem("%s: %d connections failed, e.g. %s", what, rp.Failed, rp.Err)
		}
	}
	return resps, ok, nil
}

func callAll(hs []*holdProc, req func(i int) holdReq, timeout time.Duration) ([]holdResp, error) {
	out := make([]holdResp, len(hs))
	errs := make([]error, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = h.call(req(i), timeout)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// quit asks a hold process to close everything and exit.
func (h *holdProc) quit() {
	if h.exited() {
		return
	}
	_, _ = h.call(holdReq{Op: "quit"}, 10*time.Second)
	_ = h.in.Close()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}
