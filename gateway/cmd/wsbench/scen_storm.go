package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stormResult is one join storm.
type stormResult struct {
	joined, failed      int
	fill, leave         time.Duration
	sent                int
	expected, delivered uint64
	p50, p99            time.Duration
	quiet50, quiet99    time.Duration // the other room before the storm
	cpuUS               float64       // server CPU per join, over the fill
	split               map[string]float64
	load                float64
}

// scenStorm fills one room with stormJoiners clients, dialling as fast as
// stormHolds×stormPar dialers can, on a fresh gateway where another room of
// stormOther members gets stormRate messages/s from stormSenders of them in
// turn (a connection has one frame in flight: one sender alone would
// measure its own round trips). It reports the fill time,
// the other room's delivery latency during the fill, and how long the
// gateway takes to see every joiner leave again. With -ref-bin, rounds
// alternate between that build's gateway and this one.
//
// The joiners' processes run at nice -storm-nice (19 by default): dialling
// costs them as much CPU as the gateway spends accepting, and on a machine
// where clients and servers share two cores they would otherwise take it
// from the servers whose latency is measured. In production the clients are
// other machines. They still get every cycle the servers leave, so the fill
// runs as fast as the gateway allows.
func (r *runner) scenStorm() error {
	nats := r.sanity("storm")
	sides := []string{product}
	if r.refBin != "" {
		sides = []string{reference, product}
	}
	other, err := r.startHold("hold-storm-other")
	if err != nil {
		return err
	}
	holds := []*holdProc{other}
	var fillers []*holdProc
	for i := 0; i < r.cfg.stormHolds; i++ {
		h, err := r.startHoldNice(fmt.Sprintf("hold-storm-%d", i), r.stormNice)
		if err != nil {
			return err
		}
		fillers = append(fillers, h)
		holds = append(holds, h)
	}
	defer func() {
		for _, h := range holds {
			h.quit()
		}
	}()

	n := r.cfg.stormJoiners
	fLat := &figure{Scenario: "storm", Name: fmt.Sprintf("other room p99 during a %d-join fill", n), Unit: "ms", Op: "deliv", Target: "<50 ms", Issue: "12.3"}
	fFill := &figure{Scenario: "storm", Name: fmt.Sprintf("fill: %d joins into one room", n), Unit: "s", Op: "join", Target: "<5 s", Issue: "12.3"}
	fLeave := &figure{Scenario: "storm", Name: fmt.Sprintf("leave: %d members gone", n), Unit: "s", Op: "join"}
	var details []string
	for i := 0; i < r.cfg.stormRounds; i++ {
		for _, side := range sides {
			res, err := r.stormRound(side, i, other, fillers)
			if err != nil {
				return err
			}
			load := res.load
			extra := map[string]float64{
				"joined": float64(res.joined), "failed": float64(res.failed), "fill_s": res.fill.Seconds(), "leave_s": res.leave.Seconds(),
				"sent": float64(res.sent), "expected": float64(res.expected), "delivered": float64(res.delivered),
				"p50_ms": ms(res.p50), "p99_ms": ms(res.p99), "quiet_p50_ms": ms(res.quiet50), "quiet_p99_ms": ms(res.quiet99),
			}
			for k, v := range res.split {
				extra[k] = v
			}
			fLat.Rounds = append(fLat.Rounds, round{Side: side, Value: ms(res.p99), CPUUS: res.cpuUS, LoadAvg: load, Extra: extra})
			fFill.Rounds = append(fFill.Rounds, round{Side: side, Value: res.fill.Seconds(), CPUUS: res.cpuUS, LoadAvg: load, Extra: extra})
			fLeave.Rounds = append(fLeave.Rounds, round{Side: side, Value: res.leave.Seconds(), CPUUS: res.cpuUS, LoadAvg: load})
			details = append(details, fmt.Sprintf("%s: fill %.2fs p50 %.1fms p99 %.1fms (before %.1f/%.1f) %d/%d", side[:3], res.fill.Seconds(),
				ms(res.p50), ms(res.p99), ms(res.quiet50), ms(res.quiet99), res.delivered, res.expected))
		}
	}
	for _, f := range []*figure{fLat, fFill, fLeave} {
		f.summarize(nats)
		if f.Baseline != nil && f.Product > 0 {
			f.Versus = fmt.Sprintf("%.1fx less", *f.Baseline/f.Product)
		}
	}
	fLat.judge(fLat.Product < 50)
	fFill.judge(fFill.Product < 5)
	fLat.Detail = strings.Join(details, "; ")
	fFill.Detail = fmt.Sprintf("CPU per join: all server processes over the fill; %d dialers at nice %d", r.cfg.stormHolds*r.cfg.stormPar, r.stormNice)
	if r.refBin != "" {
		fFill.Detail += "; reference column: " + r.refBin
	}
	r.rep.Figures = append(r.rep.Figures, fLat, fFill, fLeave)
	return nil
}

func (r *runner) stormRound(side string, i int, other *holdProc, fillers []*holdProc) (*stormResult, error) {
	bin := r.bin
	if side == reference {
		bin = r.refBin
	}
	g, err := r.startGatewayBin(fmt.Sprintf("gateway-storm-%s-%d", side, i), filepath.Join(bin, "gateway"))
	if err != nil {
		return nil, err
	}
	defer r.stopProc(g.proc)
	all := append([]*holdProc{other}, fillers...)
	defer func() { _, _ = callAll(all, func(int) holdReq { return holdReq{Op: "close"} }, time.Minute) }()

	resp, err := other.call(holdReq{Op: "connect", URL: "ws://" + g.addr + "/ws/room/storm-other", N: r.cfg.stormOther,
		Src: srcStrings(srcBlock(60, 4)), Par: 16}, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	if resp.OK != r.cfg.stormOther {
		return nil, fmt.Errorf("storm: %d of %d other-room members connected: %s", resp.OK, r.cfg.stormOther, resp.Err)
	}
	members := resp.OK
	res := &stormResult{}
	// An uncounted second warms the other room up; the next two measure it
	// before the storm, for comparison.
	for k, dur := range []int{1000, 2000} {
		id := roundIDs.Add(1)
		if _, err := other.call(holdReq{Op: "arm", ID: id}, 30*time.Second); err != nil {
			return nil, err
		}
		if _, err := other.call(holdReq{Op: "send", ID: id, Rate: r.cfg.stormRate, DurMS: dur, Size: 64, Senders: r.cfg.stormSenders}, time.Minute); err != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond) // the last deliveries
		col, err := other.call(holdReq{Op: "collect"}, 30*time.Second)
		if err != nil {
			return nil, err
		}
		if k == 1 {
			lat := &hist{}
			lat.merge(col.Hist)
			res.quiet50, res.quiet99 = lat.quantile(0.50), lat.quantile(0.99)
		}
	}

	id := roundIDs.Add(1)
	if _, err := other.call(holdReq{Op: "arm", ID: id}, 30*time.Second); err != nil {
		return nil, err
	}
	w := openWindow(r.productProcs(g), holdPids(all)...)
	if r.pprofDir != "" && i == 0 {
		w.profile(r.pprofDir, "storm-"+side, 2, g)
	}
	if p, err := other.call(holdReq{Op: "pace", ID: id, Rate: r.cfg.stormRate, Size: 64, Senders: r.cfg.stormSenders}, 30*time.Second); err != nil || p.Err != "" {
		return nil, fmt.Errorf("storm: pace: %v %s", err, p.Err)
	}
	start := time.Now()
	resps, ok, err := r.connectSpread(fillers, r.cfg.stormJoiners, func(k, m int) holdReq {
		return holdReq{Op: "connect", URL: "ws://" + g.addr + "/ws/room/storm-fill", N: m,
			Src: srcStrings(srcBlock(70+4*i+k, 4)), Par: r.cfg.stormPar}
	}, "storm "+side)
	res.fill = time.Since(start)
	stop, stopErr := other.call(holdReq{Op: "stop"}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if stopErr != nil {
		return nil, stopErr
	}
	_, res.cpuUS, res.split = w.close(float64(max(ok, 1)))
	res.joined = ok
	for _, rp := range resps {
		res.failed += rp.Failed
	}
	res.sent = stop.Sent
	res.expected = uint64(stop.Sent * members)
	for deadline := time.Now().Add(r.cfg.roomGrace); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := other.call(holdReq{Op: "count"}, 30*time.Second)
		if err != nil {
			return nil, err
		}
		if c.Count >= res.expected {
			break
		}
	}
	col, err := other.call(holdReq{Op: "collect"}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if col.Wrong > 0 {
		r.fail("storm: %d malformed or misrouted frames received", col.Wrong)
	}
	lat := &hist{}
	lat.merge(col.Hist)
	res.delivered = col.Count
	res.p50, res.p99 = lat.quantile(0.50), lat.quantile(0.99)
	res.load = loadAvg()
	if res.delivered < res.expected {
		r.problem("storm %s: the other room got %d of %d deliveries", side, res.delivered, res.expected)
	}
	r.logf("  storm %s: %d joined (%d failed) in %.2f s, %.1f µs CPU/join; other room p50 %.1f ms, p99 %.1f ms (before: %.1f, %.1f), %d/%d delivered",
		side, res.joined, res.failed, res.fill.Seconds(), res.cpuUS, ms(res.p50), ms(res.p99), ms(res.quiet50), ms(res.quiet99), res.delivered, res.expected)

	// Everybody who joined leaves at once; the gateway has seen them all
	// go when its connection gauge is back at the other room's members. A
	// gateway whose hub is stalled answers /metrics late: that is part of
	// what this measures, so a slow scrape is only retried.
	start = time.Now()
	if _, err := callAll(fillers, func(int) holdReq { return holdReq{Op: "close"} }, time.Minute); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		v, err := g.metric("wsgate_gateway_connections")
		if err == nil && int(v) <= members {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("storm %s: joiners not gone 3 minutes after they left (%v connections, %v)", side, v, err)
		}
	}
	res.leave = time.Since(start)
	r.logf("  storm %s: every joiner gone %.2f s after they left", side, res.leave.Seconds())
	// Every connect, join, leave and disconnect of the storm must reach
	// JetStream: none dropped for a full events outbox.
	if side == product {
		if v, err := g.metric("wsgate_gateway_events_dropped_total"); err == nil && v > 0 {
			r.problem("storm %s: %v lifecycle events and presence records dropped (events outbox full)", side, v)
		}
	}
	return res, nil
}

// metric reads an unlabelled gauge or counter from the admin /metrics.
func (g *gw) metric(name string) (float64, error) {
	var sb strings.Builder
	if _, err := httpGet("http://"+g.admin+"/metrics", &sb); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(sb.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s in /metrics", g.name, name)
}
