package main

import (
	"errors"
	"fmt"
	"time"
)

// multiRoom is the /ws/rooms room of scenMulti.
const multiRoom = "bench-multi"

// scenMulti compares fan-out to /ws/rooms members with fan-out to raw
// members: a raw room (/ws/room/bench-raw) and a protocol room (/ws/rooms,
// joined to bench-multi) of the same size, held at once over both gateways,
// each driven at the same rate in turn (raw, protocol, raw, …). The figure
// is the servers' CPU per delivery, protocol against raw; the target is at
// most 1.2x.
func (r *runner) scenMulti() error {
	st := r.stackOf(product) // the build under test only: raw and protocol members are its own
	gwB, err := r.gatewayB(st)
	if err != nil {
		return err
	}
	s := &roomSetup{r: r, side: product, procs: st.serverProcs(st.gwA, gwB)}
	defer func() {
		for _, h := range s.holds {
			h.quit()
		}
	}()
	for i := 0; i < 2*r.cfg.roomHolds; i++ {
		h, err := r.startHold(fmt.Sprintf("hold-multi-%d", i))
		if err != nil {
			return err
		}
		s.holds = append(s.holds, h)
		s.gws = append(s.gws, []*gw{st.gwA, gwB}[i%2])
	}
	nats := r.sanity("multi")
	n, rate := r.cfg.roomSmall, r.cfg.rateSmall

	// The raw members first, so that hold 0's connection 0 is the raw
	// room's sender; the protocol room's is hold 0's first protocol member.
	connect := func(path, join string, octet int) ([]holdResp, error) {
		resps, ok, err := r.connectSpread(s.holds, n, func(i, m int) holdReq {
			return holdReq{Op: "connect", URL: "ws://" + s.gws[i].addr + path, N: m, Join: join,
				Src: srcStrings(srcBlock(octet+i, 4)), Par: 16}
		}, path)
		if err == nil && (ok < n || resps[0].OK == 0) {
			err = fmt.Errorf("%s: %d of %d members connected", path, ok, n)
		}
		return resps, err
	}
	raw, err := connect("/ws/room/bench-raw", "", 50)
	if err != nil {
		return err
	}
	if _, err := connect("/ws/rooms", multiRoom, 60); err != nil {
		return err
	}
	r.logf("  %d raw and %d /ws/rooms members connected", n, n)
	sides := map[string]func(){
		baseline: func() { s.from, s.join, s.members = 0, "", n },
		product:  func() { s.from, s.join, s.members = raw[0].OK, multiRoom, n },
	}

	f := &figure{Scenario: "multi", Name: fmt.Sprintf("%d members @ %.0f deliv/s: CPU per delivery, /ws/rooms (P) vs raw (B)", n, rate*float64(n)),
		Unit: "ns", Op: "deliv", Target: "<=1.2x"}
	r.logf("  warm-up (not counted):")
	for _, side := range []string{baseline, product} {
		sides[side]()
		if _, err := s.round(rate, time.Second, ""); err != nil {
			return err
		}
	}
	for i := 0; i < r.cfg.rounds; i++ {
		for _, side := range []string{baseline, product} {
			sides[side]()
			res, err := s.round(rate, r.cfg.roomDur, "")
			if err != nil {
				return err
			}
			if res.frac() < 0.99 {
				r.problem("%s: %s round %d delivered %.2f%% (%d of %d)", f.Name, side, i, 100*res.frac(), res.delivered, res.expected)
			}
			f.Rounds = append(f.Rounds, round{Side: side, Value: res.cpuUS * 1e3, CPUUS: res.cpuUS, LoadAvg: res.load, Extra: res.extra()})
		}
	}
	f.summarize(nats)
	if f.Baseline == nil || *f.Baseline <= 0 {
		return errors.New("multi: no raw rounds measured")
	}
	ratio := f.Product / *f.Baseline
	f.Versus = fmt.Sprintf("%.2fx", ratio)
	f.judge(ratio <= 1.2)
	f.Detail = "servers' CPU (NATS, workers, both gateways) per delivery; rounds alternate raw and /ws/rooms"
	r.rep.Figures = append(r.rep.Figures, f)
	return nil
}
