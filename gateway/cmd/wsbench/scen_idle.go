package main

import (
	"fmt"
	"time"
)

// scenIdle opens idle /ws connections in steps on a fresh gateway of its own
// (so memory left over from other scenarios cannot hide or inflate the
// per-connection cost), reads RSS and goroutines per connection at each
// step, holds them, then checks that every one still answers an echo.
func (r *runner) scenIdle() error {
	g, err := r.startGateway("gateway-idle")
	if err != nil {
		return err
	}
	defer func() { r.stopProc(g.proc) }()
	var holds []*holdProc
	for i := 0; i < r.cfg.idleHolds; i++ {
		h, err := r.startHold(fmt.Sprintf("hold-idle-%d", i))
		if err != nil {
			return err
		}
		holds = append(holds, h)
	}
	defer func() {
		_, _ = callAll(holds, func(int) holdReq { return holdReq{Op: "close"} }, time.Minute)
		for _, h := range holds {
			h.quit()
		}
	}()
	nats := r.sanity("idle")
	procs := r.productProcs(g)

	time.Sleep(time.Second) // let the fresh gateway settle
	s0, err := r.idleSample(g, "0")
	if err != nil {
		return err
	}
	held := 0
	for _, n := range r.cfg.idleSteps {
		delta := n - held
		w := openWindow(procs, holdPids(holds)...)
		_, ok, err := r.connectSpread(holds, delta, func(i, m int) holdReq {
			return holdReq{Op: "connect", URL: "ws://" + g.addr + "/ws", N: m, Src: srcStrings(srcBlock(50+i, 4)), Par: 32}
		}, "idle")
		if err != nil {
			return err
		}
		secs, cpu, split := w.close(float64(ok))
		held += ok
		if held == 0 {
			return fmt.Errorf("idle: no connection opened")
		}
		time.Sleep(time.Second)
		s1, err := r.idleSample(g, fmt.Sprint(n))
		if err != nil {
			return err
		}
		load := loadAvg()
		gr0, gr := s0.goroutines, s1.goroutines
		perConn := float64(s1.rss-s0.rss) / float64(held)
		perKiB := func(a, b int64) float64 { return float64(b-a) / 1024 / float64(held) }
		fm := &figure{Scenario: "idle", Name: fmt.Sprintf("gateway RSS per conn @%d", n), Unit: "KiB", Op: "conn", Target: "<=10 KiB",
			Rounds: []round{{Side: product, Value: perConn, CPUUS: cpu, LoadAvg: load, Extra: split}}}
		fm.summarize(nats)
		fm.judge(perConn <= 10)
		fm.Detail = fmt.Sprintf("RSS %.1f -> %.1f MiB (%.1f before GC); per conn: heap %.2f KiB, stacks %.2f KiB; %d held; connected at %.0f/s",
			float64(s0.rss)/1024, float64(s1.rss)/1024, float64(s1.raw)/1024, perKiB(s0.heap, s1.heap), perKiB(s0.stack, s1.stack), held, float64(ok)/secs)
		fg := &figure{Scenario: "idle", Name: fmt.Sprintf("gateway goroutines per conn @%d", n), Unit: "goroutines", Op: "conn", Target: "=1",
			Rounds: []round{{Side: product, Value: float64(gr-gr0) / float64(held), CPUUS: cpu, LoadAvg: load}}}
		fg.summarize(nats)
		extra := gr - gr0 - held
		fg.judge(extra >= -10 && extra <= 10) // a few runtime/housekeeping goroutines come and go
		fg.Detail = fmt.Sprintf("goroutines %d -> %d for %d conns (%+d beyond one each)", gr0, gr, held, extra)
		r.rep.Figures = append(r.rep.Figures, fm, fg)
		r.logf("  idle %d: %.2f KiB/conn, %.3f goroutines/conn", held, perConn, float64(gr-gr0)/float64(held))
	}

	r.logf("  holding %d idle connections for %v", held, r.cfg.idleHold)
	time.Sleep(r.cfg.idleHold)
	w := openWindow(procs, holdPids(holds)...)
	resps, err := callAll(holds, func(int) holdReq {
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
		r.fail("idle: %d wrong echo answers", wrong)
	}
	if answered < total {
		r.problem("idle: only %d of %d connections answered after %v", answered, total, r.cfg.idleHold)
	}
	fc := &figure{Scenario: "idle", Name: fmt.Sprintf("echo after %v idle", r.cfg.idleHold), Unit: "conns", Op: "rt",
		Target: fmt.Sprintf("all %d", total), Rounds: []round{{Side: product, Value: float64(answered), CPUUS: cpu, LoadAvg: loadAvg(), Extra: split}}}
	fc.summarize(nats)
	fc.judge(answered == total && total > 0)
	fc.Detail = fmt.Sprintf("%d/%d answered", answered, total)
	r.rep.Figures = append(r.rep.Figures, fc)
	return nil
}

// idleSample is the gateway's memory and goroutines at one point.
type idleSample struct {
	raw, rss    int64 // KiB: before and after a forced GC
	heap, stack int64 // bytes in use, after the GC
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
	s.heap, s.stack = ms["HeapInuse"], ms["Stack"]
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
