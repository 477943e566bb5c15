package main

import (
	"fmt"
	"strings"
	"time"
)

// idleSide is one side's fresh gateway of the idle scenario, the hold
// processes holding its connections, and its samples.
type idleSide struct {
	side  string
	g     *gw
	holds []*holdProc
	procs []*proc
	octet int // hold i dials from 127.0.<octet+i>.1-4
	s0    idleSample
	held  int
}

// scenIdle opens idle /ws connections in steps on a fresh gateway of its own
// per side (so memory left over from other scenarios cannot hide or inflate
// the per-connection cost), reads RSS and goroutines per connection at each
// step, holds them, then checks that every one still answers an echo. With
// -ref the reference's gateway takes each step right before the product's,
// and both hold at once.
func (r *runner) scenIdle() error {
	var sides []*idleSide
	defer func() {
		for _, is := range sides {
			_, _ = callAll(is.holds, func(int) holdReq { return holdReq{Op: "close"} }, time.Minute)
			for _, h := range is.holds {
				h.quit()
			}
			r.stopProc(is.g.proc)
		}
	}()
	for _, side := range r.productSides() {
		st := r.stackOf(side)
		g, err := r.startGatewayOf(st, "gateway-idle")
		if err != nil {
			return err
		}
		is := &idleSide{side: side, g: g, procs: st.serverProcs(g), octet: 50}
		if side == reference {
			is.octet = 150
		}
		sides = append(sides, is)
		for i := 0; i < r.cfg.idleHolds; i++ {
			h, err := r.startHold(fmt.Sprintf("%shold-idle-%d", st.prefix, i))
			if err != nil {
				return err
			}
			is.holds = append(is.holds, h)
		}
	}
	nats := r.sanity("idle")

	time.Sleep(time.Second) // let the fresh gateways settle
	for _, is := range sides {
		var err error
		if is.s0, err = r.idleSample(is.g, is.side+"-0"); err != nil {
			return err
		}
	}
	for _, n := range r.cfg.idleSteps {
		fm := &figure{Scenario: "idle", Name: fmt.Sprintf("gateway RSS per conn @%d", n), Unit: "KiB", Op: "conn", Issue: "12.6"}
		fg := &figure{Scenario: "idle", Name: fmt.Sprintf("gateway goroutines per conn @%d", n), Unit: "goroutines", Op: "conn", Target: "=1", Issue: "12.6"}
		var details, gdetails []string
		extra := 0
		for _, is := range sides {
			delta := n - is.held
			w := openWindow(is.procs, holdPids(is.holds)...)
			_, ok, err := r.connectSpread(is.holds, delta, func(i, m int) holdReq {
				return holdReq{Op: "connect", URL: "ws://" + is.g.addr + "/ws", N: m, Src: srcStrings(srcBlock(is.octet+i, 4)), Par: 32}
			}, is.side+" idle")
			if err != nil {
				return err
			}
			secs, cpu, split := w.close(float64(ok))
			is.held += ok
			if is.held == 0 {
				return fmt.Errorf("%s idle: no connection opened", is.side)
			}
			time.Sleep(time.Second)
			// What the connect burst queued for JetStream (lifecycle events,
			// presence records) is not idle memory: wait until it is sent.
			drained := eventsDrained(is.g, 30*time.Second)
			s1, err := r.idleSample(is.g, fmt.Sprintf("%s-%d", is.side, n))
			if err != nil {
				return err
			}
			load := loadAvg()
			s0, held := is.s0, is.held
			perConn := float64(s1.rss-s0.rss) / float64(held)
			perKiB := func(a, b int64) float64 { return float64(b-a) / 1024 / float64(held) }
			fm.Rounds = append(fm.Rounds, round{Side: is.side, Value: perConn, CPUUS: cpu, LoadAvg: load, Extra: split})
			details = append(details, fmt.Sprintf("%s: RSS %.1f -> %.1f MiB (%.1f before GC); per conn: heap %.2f KiB (live %.2f), stacks %.2f KiB; %d held; connected at %.0f/s; events outbox drained after %v",
				is.side, float64(s0.rss)/1024, float64(s1.rss)/1024, float64(s1.raw)/1024, perKiB(s0.heap, s1.heap), perKiB(s0.live, s1.live), perKiB(s0.stack, s1.stack), held, float64(ok)/secs, drained.Round(10*time.Millisecond)))
			gr0, gr := s0.goroutines, s1.goroutines
			fg.Rounds = append(fg.Rounds, round{Side: is.side, Value: float64(gr-gr0) / float64(held), CPUUS: cpu, LoadAvg: load})
			gdetails = append(gdetails, fmt.Sprintf("%s: goroutines %d -> %d for %d conns (%+d beyond one each)", is.side, gr0, gr, held, gr-gr0-held))
			if is.side == product {
				extra = gr - gr0 - held
			}
			r.logf("  %s idle %d: %.2f KiB/conn, %.3f goroutines/conn", is.side, held, perConn, float64(gr-gr0)/float64(held))
		}
		r.judgeIdleKiB(fm, nats)
		fm.Detail = strings.Join(details, " | ")
		fg.summarize(nats)
		fg.judge(extra >= -10 && extra <= 10) // a few runtime/housekeeping goroutines come and go
		fg.Detail = strings.Join(gdetails, " | ")
		r.rep.Figures = append(r.rep.Figures, fm, fg)
	}

	r.logf("  holding idle connections for %v", r.cfg.idleHold)
	time.Sleep(r.cfg.idleHold)
	fc := &figure{Scenario: "idle", Name: fmt.Sprintf("echo after %v idle", r.cfg.idleHold), Unit: "conns", Op: "rt"}
	var details []string
	for _, is := range sides {
		w := openWindow(is.procs, holdPids(is.holds)...)
		resps, err := callAll(is.holds, func(int) holdReq {
			return holdReq{Op: "check", ID: roundIDs.Add(1), TimeoutMS: 30000}
		}, 2*time.Minute)
		if err != nil {
			return err
		}
		answered, total, wrong := 0, 0, uint64(0)
		for _, rp := range resps {
			answered += rp.OK
			total += rp.Total
			wrong += rp.Wrong
		}
		_, cpu, split := w.close(float64(answered))
		if wrong > 0 {
			r.fail("%s idle: %d wrong echo answers", is.side, wrong)
		}
		if answered < total && is.side == product {
			r.problem("idle: only %d of %d connections answered after %v", answered, total, r.cfg.idleHold)
		}
		fc.Rounds = append(fc.Rounds, round{Side: is.side, Value: float64(answered), CPUUS: cpu, LoadAvg: loadAvg(), Extra: split})
		details = append(details, fmt.Sprintf("%s: %d/%d answered", is.side, answered, total))
		if is.side == product {
			fc.Target = fmt.Sprintf("all %d", total)
			fc.judge(answered == total && total > 0)
		}
	}
	fc.summarize(nats)
	fc.Detail = strings.Join(details, " | ")
	r.rep.Figures = append(r.rep.Figures, fc)
	if r.cfg.idleAfter > 0 {
		return r.idleAfterWork(sides, nats)
	}
	return nil
}

// idleAfterWork measures the idle connections again once every one of
// them has sent a frame (the echo after the hold) and then been idle
// through a heartbeat (a ping and its pong): what an idle client costs
// once it did something, not only before its first frame.
func (r *runner) idleAfterWork(sides []*idleSide, nats float64) error {
	r.logf("  waiting %v: a heartbeat after the echo", r.cfg.idleAfter)
	time.Sleep(r.cfg.idleAfter)
	held := sides[0].held
	fm := &figure{Scenario: "idle", Name: fmt.Sprintf("gateway RSS per conn @%d, after a frame each and a heartbeat", held), Unit: "KiB", Op: "conn", Issue: "12.6"}
	var details []string
	for _, is := range sides {
		s1, err := r.idleSample(is.g, is.side+"-after")
		if err != nil {
			return err
		}
		perConn := float64(s1.rss-is.s0.rss) / float64(is.held)
		perKiB := func(a, b int64) float64 { return float64(b-a) / 1024 / float64(is.held) }
		fm.Rounds = append(fm.Rounds, round{Side: is.side, Value: perConn, LoadAvg: loadAvg()})
		details = append(details, fmt.Sprintf("%s: RSS %.1f MiB; per conn: heap %.2f KiB (live %.2f), stacks %.2f KiB; %d held",
			is.side, float64(s1.rss)/1024, perKiB(is.s0.heap, s1.heap), perKiB(is.s0.live, s1.live), perKiB(is.s0.stack, s1.stack), is.held))
		r.logf("  %s idle %d after a frame and a heartbeat: %.2f KiB/conn", is.side, is.held, perConn)
	}
	r.judgeIdleKiB(fm, nats)
	fm.Detail = strings.Join(details, " | ")
	r.rep.Figures = append(r.rep.Figures, fm)
	return nil
}

// judgeIdleKiB summarizes an RSS-per-connection figure and judges it by
// issue 12: at or under today's 9 KiB, today's being the reference build
// when this run has one.
func (r *runner) judgeIdleKiB(fm *figure, nats float64) {
	fm.summarize(nats)
	fm.VsRef = vsRef(fm)
	limit := r.cfg.idleKiB
	fm.Target = fmt.Sprintf("<=%.0f KiB", limit)
	if fm.Ref != nil {
		fm.Target += " or <=reference"
		limit = max(limit, *fm.Ref)
	}
	fm.judge(fm.Product <= limit)
}

// idleSample is the gateway's memory and goroutines at one point.
type idleSample struct {
	raw, rss    int64 // KiB: before and after a forced GC
	heap, stack int64 // bytes in use, after the GC
	live        int64 // bytes of live objects (HeapAlloc), after the GC
	goroutines  int
}

func (r *runner) idleSample(g *gw, tag string) (s idleSample, err error) {
	if s.raw, err = rssKiB(g.pid()); err != nil {
		return
	}
	ms, err := g.memStats()
	if err != nil {
		return
	}
	s.heap, s.stack, s.live = ms["HeapInuse"], ms["Stack"], ms["HeapAlloc"]
	if s.rss, err = rssKiB(g.pid()); err != nil {
		return
	}
	if r.pprofDir != "" {
		if err := g.saveHeap(fmt.Sprintf("%s/idle-heap-%s.pprof", r.pprofDir, tag)); err != nil {
			r.logf("heap profile: %v", err)
		}
	}
	s.goroutines, err = g.goroutines()
	return
}

// eventsDrained waits (at most within) until the gateway's events outbox
// is empty (wsgate_gateway_events_pending 0, or absent: a build without
// it) and returns how long that took.
func eventsDrained(g *gw, within time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < within {
		var sb strings.Builder
		if _, err := httpGet("http://"+g.admin+"/metrics", &sb); err != nil {
			break
		}
		pending := ""
		for line := range strings.Lines(sb.String()) {
			if v, ok := strings.CutPrefix(line, "wsgate_gateway_events_pending "); ok {
				pending = strings.TrimSpace(v)
			}
		}
		if pending == "" || pending == "0" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
