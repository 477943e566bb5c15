package main

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// roomResult is one timed burst of room messages.
type roomResult struct {
	members   int
	sent      int
	expected  uint64
	delivered uint64
	stray     uint64
	open      int
	p50, p99  time.Duration
	rate      float64 // deliveries per second of sending
	cpuUS     float64
	split     map[string]float64
	load      float64
}

func (res *roomResult) frac() float64 {
	if res.expected == 0 {
		return 0
	}
	return float64(res.delivered) / float64(res.expected)
}

var roundIDs atomic.Int64

// roomSetup is the state of the room scenarios: two gateways on one NATS,
// members split evenly across them through hold processes; the sender is
// hold 0's first connection, itself a member.
type roomSetup struct {
	r     *runner
	holds []*holdProc
	gws   []*gw // gateway of each hold
	procs []*proc
	// With several rooms held at once (scenMulti): the sender (hold 0's
	// connection from, publishing to join over /ws/rooms when set) and the
	// room's size, which the holds' open connections then are not.
	from, members int
	join          string
}

func (r *runner) scenRooms(doRooms, doSat bool) error {
	if r.gwB == nil {
		var err error
		if r.gwB, err = r.startGateway("gateway-b"); err != nil {
			return err
		}
	}
	s := &roomSetup{r: r, procs: r.productProcs(r.gwA, r.gwB)}
	for i := 0; i < 2*r.cfg.roomHolds; i++ {
		h, err := r.startHold(fmt.Sprintf("hold-room-%d", i))
		if err != nil {
			return err
		}
		s.holds = append(s.holds, h)
		s.gws = append(s.gws, []*gw{r.gwA, r.gwB}[i%2])
	}
	defer func() {
		for _, h := range s.holds {
			h.quit()
		}
	}()
	nats := r.sanity("room")

	if err := s.connect(r.cfg.roomSmall, "bench-small", 30); err != nil {
		return err
	}
	if doRooms {
		f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members @ %.0f deliv/s: p99", r.cfg.roomSmall, r.cfg.rateSmall*float64(r.cfg.roomSmall)), Unit: "ms", Op: "deliv", Target: "<=20 ms"}
		if err := s.rounds(f, r.cfg.rateSmall, 20*time.Millisecond, nats, "room-small"); err != nil {
			return err
		}
	}
	if doSat {
		if err := s.saturation(nats); err != nil {
			return err
		}
	}
	if doRooms {
		if _, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "close"} }, 30*time.Second); err != nil {
			return err
		}
		if err := s.connect(r.cfg.roomBig, "bench-big", 40); err != nil {
			return err
		}
		f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members @ %.0f deliv/s: p99", r.cfg.roomBig, r.cfg.rateBig*float64(r.cfg.roomBig)), Unit: "ms", Op: "deliv", Target: "<=150 ms"}
		if err := s.rounds(f, r.cfg.rateBig, 150*time.Millisecond, nats, "room-big"); err != nil {
			return err
		}
	}
	return nil
}

// connect joins n members to room, split evenly over the hold processes
// (and so over both gateways); hold i dials from 127.0.<octet+i>.1-4.
func (s *roomSetup) connect(n int, room string, octet int) error {
	resps, ok, err := s.r.connectSpread(s.holds, n, func(i, m int) holdReq {
		return holdReq{Op: "connect", URL: "ws://" + s.gws[i].addr + "/ws/room/" + room, N: m,
			Src: srcStrings(srcBlock(octet+i, 4)), Par: 16}
	}, "room "+room)
	if err != nil {
		return err
	}
	if ok == 0 || resps[0].OK == 0 {
		return errors.New("room " + room + ": no sender connection")
	}
	s.r.logf("  room %s: %d/%d members connected", room, ok, n)
	return nil
}

// round sends at rate msgs/s for dur from the sender and collects every
// member's deliveries of that round.
func (s *roomSetup) round(rate float64, dur time.Duration, prof string) (*roomResult, error) {
	r := s.r
	id := roundIDs.Add(1)
	arm, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "arm", ID: id} }, 30*time.Second)
	if err != nil {
		return nil, err
	}
	res := &roomResult{}
	for _, a := range arm {
		res.members += a.Open
	}
	if s.members > 0 {
		res.members = s.members
	}
	w := openWindow(s.procs, holdPids(s.holds)...)
	if prof != "" && r.pprofDir != "" {
		w.profile(r.pprofDir, prof, int(dur.Seconds()), r.gwA, r.gwB)
	}
	sent, err := s.holds[0].call(holdReq{Op: "send", ID: id, Rate: rate, DurMS: int(dur / time.Millisecond), Size: 64, From: s.from, Join: s.join}, dur+time.Minute)
	if err != nil {
		return nil, err
	}
	if sent.Err != "" {
		return nil, fmt.Errorf("sender: %s", sent.Err)
	}
	res.sent = sent.Sent
	res.expected = uint64(sent.Sent * res.members)
	// Late deliveries get roomGrace after the last send.
	for deadline := time.Now().Add(r.cfg.roomGrace); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		counts, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "count"} }, 30*time.Second)
		if err != nil {
			return nil, err
		}
		var n uint64
		for _, c := range counts {
			n += c.Count
		}
		if n >= res.expected {
			break
		}
	}
	col, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "collect"} }, 30*time.Second)
	if err != nil {
		return nil, err
	}
	lat := &hist{}
	var wrong uint64
	for _, c := range col {
		res.delivered += c.Count
		res.stray += c.Stray
		res.open += c.Open
		wrong += c.Wrong
		lat.merge(c.Hist)
	}
	_, res.cpuUS, res.split = w.close(float64(res.delivered))
	if wrong > 0 {
		r.fail("room: %d malformed or misrouted frames received", wrong)
	}
	res.p50, res.p99 = lat.quantile(0.50), lat.quantile(0.99)
	// The send loop's span ends at the last send; the offered window is
	// one gap longer.
	res.rate = float64(res.delivered) / max(sent.SpanMS/1e3, float64(sent.Sent)/rate)
	res.load = loadAvg()
	r.logf("  room %d members @ %.0f msg/s: %d/%d delivered (%.0f/s), p50 %.1f ms, p99 %.1f ms, %.1f µs CPU/deliv, open %d",
		res.members, rate, res.delivered, res.expected, res.rate, ms(res.p50), ms(res.p99), res.cpuUS, res.open)
	return res, nil
}

func (res *roomResult) extra() map[string]float64 {
	e := map[string]float64{
		"members": float64(res.members), "sent": float64(res.sent), "expected": float64(res.expected),
		"delivered": float64(res.delivered), "lost": float64(res.expected - min(res.delivered, res.expected)),
		"delivered_per_sec": res.rate, "p50_ms": ms(res.p50), "p99_ms": ms(res.p99),
		"stray": float64(res.stray), "open_after": float64(res.open),
	}
	for k, v := range res.split {
		e[k] = v
	}
	return e
}

// rounds runs the configured number of rounds at one rate and reports p99.
func (s *roomSetup) rounds(f *figure, rate float64, limit time.Duration, nats float64, prof string) error {
	var p50s, rates []float64
	var lost, expected uint64
	// One uncounted second first: the room's first frames after a mass join
	// meet cold buffers and a pending GC, like the warm-up of echo rounds.
	s.r.logf("  warm-up (not counted):")
	if _, err := s.round(rate, time.Second, ""); err != nil {
		return err
	}
	for i := 0; i < s.r.cfg.rounds; i++ {
		res, err := s.round(rate, s.r.cfg.roomDur, map[bool]string{true: prof}[i == 0])
		if err != nil {
			return err
		}
		f.Rounds = append(f.Rounds, round{Side: product, Value: ms(res.p99), CPUUS: res.cpuUS, LoadAvg: res.load, Extra: res.extra()})
		p50s, rates = append(p50s, ms(res.p50)), append(rates, res.rate)
		lost += res.expected - min(res.delivered, res.expected)
		expected += res.expected
		if res.frac() < 0.99 {
			s.r.problem("%s: round %d delivered %.2f%% (%d of %d)", f.Name, i, 100*res.frac(), res.delivered, res.expected)
		}
	}
	f.summarize(nats)
	f.judge(f.Product <= ms(limit))
	f.Detail = fmt.Sprintf("p50 %.1f ms; %.0f deliv/s achieved; lost %d of %d", median(p50s), median(rates), lost, expected)
	s.r.rep.Figures = append(s.r.rep.Figures, f)
	return nil
}

// saturation raises the send rate into the small room until a step (tried
// twice) delivers under 99% or its p99 passes 150 ms, and reports the
// achieved deliveries/s of the highest step that held.
func (s *roomSetup) saturation(nats float64) error {
	r := s.r
	f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members: saturation", r.cfg.roomSmall), Unit: "deliv/s", Op: "deliv", Target: ">=100000/s"}
	var steps []string
	var best *roomResult
	members := -1
steps:
	for _, rate := range r.cfg.satRates {
		held := false
		for attempt := 0; attempt < 2 && !held; attempt++ {
			res, err := s.round(rate, r.cfg.satDur, map[bool]string{true: "saturation"}[rate == r.cfg.satRates[len(r.cfg.satRates)/2] && attempt == 0])
			if err != nil {
				return err
			}
			if members < 0 {
				members = res.members
			}
			held = res.frac() >= 0.99 && res.p99 <= 150*time.Millisecond && res.open == members
			e := res.extra()
			e["offered_deliv_per_sec"], e["attempt"] = rate*float64(res.members), float64(attempt)
			f.Rounds = append(f.Rounds, round{Side: product, Value: res.rate, CPUUS: res.cpuUS, LoadAvg: res.load, Extra: e})
			mark := "ok"
			if !held {
				mark = "FAIL"
			}
			steps = append(steps, fmt.Sprintf("%.0fk:%s(%.1f%%,p99 %.0fms)", rate*float64(res.members)/1e3, mark, 100*res.frac(), ms(res.p99)))
			if held && (best == nil || res.rate > best.rate) {
				best = res
			}
			if res.open < members {
				r.problem("saturation: %d of %d members were disconnected at %.0f msg/s (slow consumer?)", members-res.open, members, rate)
				break steps
			}
			time.Sleep(time.Second) // let backlogs drain before the next step
		}
		if !held {
			break
		}
	}
	f.LoadAvg, f.NATS = 0, nats
	if best != nil {
		f.Product, f.CPUProd, f.LoadAvg = best.rate, ptr(best.cpuUS), best.load
	}
	f.judge(f.Product >= 100000)
	f.Detail = strings.Join(steps, " ")
	r.rep.Figures = append(r.rep.Figures, f)
	return nil
}
