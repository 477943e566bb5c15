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

// roomSetup is the state of the room scenarios on one side: two gateways
// on one NATS, members split evenly across them through hold processes; the
// sender is hold 0's first connection, itself a member.
type roomSetup struct {
	r     *runner
	side  string
	holds []*holdProc
	gws   []*gw // gateway of each hold
	procs []*proc
	// With several rooms held at once (scenMulti): the sender (hold 0's
	// connection from, publishing to join over /ws/rooms when set) and the
	// room's size, which the holds' open connections then are not.
	from, members int
	join          string

	room         string // what connect last joined, to join it again
	want, joined int
	octet        int
}

// roomSetups starts gateway B and the hold processes of every product side
// (reference first, as rounds run).
func (r *runner) roomSetups() ([]*roomSetup, error) {
	var setups []*roomSetup
	for _, side := range r.productSides() {
		st := r.stackOf(side)
		gwB, err := r.gatewayB(st)
		if err != nil {
			return setups, err
		}
		s := &roomSetup{r: r, side: side, procs: st.serverProcs(st.gwA, gwB)}
		setups = append(setups, s)
		for i := 0; i < 2*r.cfg.roomHolds; i++ {
			h, err := r.startHold(fmt.Sprintf("%shold-room-%d", st.prefix, i))
			if err != nil {
				return setups, err
			}
			s.holds = append(s.holds, h)
			s.gws = append(s.gws, []*gw{st.gwA, gwB}[i%2])
		}
	}
	return setups, nil
}

// srcOctet gives the reference's members source addresses of their own.
func (s *roomSetup) srcOctet(octet int) int {
	if s.side == reference {
		return octet + 100
	}
	return octet
}

func (r *runner) scenRooms(doRooms, doSat bool) error {
	setups, err := r.roomSetups()
	defer func() {
		for _, s := range setups {
			for _, h := range s.holds {
				h.quit()
			}
		}
	}()
	if err != nil {
		return err
	}
	nats := r.sanity("room")

	join := func(n int, room string, octet int) error {
		for _, s := range setups {
			if err := s.connect(n, room, s.srcOctet(octet)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := join(r.cfg.roomSmall, "bench-small", 30); err != nil {
		return err
	}
	if doRooms {
		f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members @ %.0f deliv/s: p99", r.cfg.roomSmall, r.cfg.rateSmall*float64(r.cfg.roomSmall)), Unit: "ms", Op: "deliv", Target: "<=20 ms"}
		if err := r.roomRounds(f, setups, r.cfg.rateSmall, 20*time.Millisecond, nats, "room-small"); err != nil {
			return err
		}
	}
	if doSat {
		if err := r.roomCPU(setups, nats); err != nil {
			return err
		}
		if err := r.saturation(setups, r.cfg.roomSmall, "12.1", nats); err != nil {
			return err
		}
	}
	for _, s := range setups {
		if _, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "close"} }, 30*time.Second); err != nil {
			return err
		}
	}
	if err := join(r.cfg.roomBig, "bench-big", 40); err != nil {
		return err
	}
	if doRooms {
		f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members @ %.0f deliv/s: p99", r.cfg.roomBig, r.cfg.rateBig*float64(r.cfg.roomBig)), Unit: "ms", Op: "deliv", Target: "<=150 ms"}
		if err := r.roomRounds(f, setups, r.cfg.rateBig, 150*time.Millisecond, nats, "room-big"); err != nil {
			return err
		}
	}
	if doSat {
		if err := r.saturation(setups, r.cfg.roomBig, "12.1 (report)", nats); err != nil {
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
	}, s.side+" room "+room)
	if err != nil {
		return err
	}
	if ok == 0 || resps[0].OK == 0 {
		return errors.New(s.side + " room " + room + ": no sender connection")
	}
	s.room, s.want, s.joined, s.octet = room, n, ok, octet
	s.r.logf("  %s room %s: %d/%d members connected", s.side, room, ok, n)
	return nil
}

// ensure joins the room again if a member was disconnected (a slow consumer
// closed at saturation), so the next figure starts with every member.
func (s *roomSetup) ensure() error {
	counts, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "count"} }, 30*time.Second)
	if err != nil {
		return err
	}
	open := 0
	for _, c := range counts {
		open += c.Open
	}
	if open >= s.joined {
		return nil
	}
	s.r.logf("  %s room %s: %d of %d members left; joining again", s.side, s.room, open, s.joined)
	if _, err := callAll(s.holds, func(int) holdReq { return holdReq{Op: "close"} }, 30*time.Second); err != nil {
		return err
	}
	return s.connect(s.want, s.room, s.octet)
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
	if prof != "" && r.pprofDir != "" && s.side == product {
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
	r.logf("  %s room %d members @ %.0f msg/s: %d/%d delivered (%.0f/s), p50 %.1f ms, p99 %.1f ms, %.1f µs CPU/deliv, open %d",
		s.side, res.members, rate, res.delivered, res.expected, res.rate, ms(res.p50), ms(res.p99), res.cpuUS, res.open)
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

// roomRounds runs the configured number of rounds at one rate on every
// side, interleaved, and reports p99.
func (r *runner) roomRounds(f *figure, setups []*roomSetup, rate float64, limit time.Duration, nats float64, prof string) error {
	type tally struct {
		p50s, rates    []float64
		lost, expected uint64
	}
	tallies := map[string]*tally{}
	// One uncounted second first: the room's first frames after a mass join
	// meet cold buffers and a pending GC, like the warm-up of echo rounds.
	for _, s := range setups {
		tallies[s.side] = &tally{}
		r.logf("  %s warm-up (not counted):", s.side)
		if _, err := s.round(rate, time.Second, ""); err != nil {
			return err
		}
	}
	for i := 0; i < r.cfg.rounds; i++ {
		for _, s := range setups {
			res, err := s.round(rate, r.cfg.roomDur, map[bool]string{true: prof}[i == 0])
			if err != nil {
				return err
			}
			f.Rounds = append(f.Rounds, round{Side: s.side, Value: ms(res.p99), CPUUS: res.cpuUS, LoadAvg: res.load, Extra: res.extra()})
			t := tallies[s.side]
			t.p50s, t.rates = append(t.p50s, ms(res.p50)), append(t.rates, res.rate)
			t.lost += res.expected - min(res.delivered, res.expected)
			t.expected += res.expected
			if res.frac() < 0.99 && s.side == product {
				r.problem("%s: round %d delivered %.2f%% (%d of %d)", f.Name, i, 100*res.frac(), res.delivered, res.expected)
			}
		}
	}
	f.summarize(nats)
	f.VsRef = vsRef(f)
	f.judge(f.Product <= ms(limit))
	var details []string
	for _, s := range setups {
		t := tallies[s.side]
		details = append(details, fmt.Sprintf("%s: p50 %.1f ms; %.0f deliv/s achieved; lost %d of %d", s.side, median(t.p50s), median(t.rates), t.lost, t.expected))
	}
	f.Detail = strings.Join(details, " | ")
	r.rep.Figures = append(r.rep.Figures, f)
	return nil
}

// roomCPU is issue 12's CPU figure: server CPU per delivery in the small
// room at a fixed cfg.cpuDeliv deliveries/s (200,000 in a full run), on
// both sides in interleaved rounds. A side that cannot keep up is still
// divided by what it delivered; the detail says how much that was.
func (r *runner) roomCPU(setups []*roomSetup, nats float64) error {
	rate := r.cfg.cpuDeliv / float64(r.cfg.roomSmall)
	f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members @ %.0fk deliv/s: server CPU per deliv", r.cfg.roomSmall, r.cfg.cpuDeliv/1e3),
		Unit: "µs/op", Op: "deliv", Issue: "12.1", Target: "<=0.50x reference"}
	type tally struct{ fracs, p99s, rates []float64 }
	tallies := map[string]*tally{}
	for _, s := range setups {
		tallies[s.side] = &tally{}
		if err := s.ensure(); err != nil {
			return err
		}
		r.logf("  %s warm-up (not counted):", s.side)
		if _, err := s.round(rate, time.Second, ""); err != nil {
			return err
		}
		time.Sleep(time.Second) // let backlogs drain
	}
	for i := 0; i < r.cfg.cpuRounds; i++ {
		for _, s := range setups {
			res, err := s.round(rate, r.cfg.satDur, "")
			if err != nil {
				return err
			}
			f.Rounds = append(f.Rounds, round{Side: s.side, Value: res.cpuUS, CPUUS: res.cpuUS, LoadAvg: res.load, Extra: res.extra()})
			t := tallies[s.side]
			t.fracs, t.p99s, t.rates = append(t.fracs, 100*res.frac()), append(t.p99s, ms(res.p99)), append(t.rates, res.rate)
			time.Sleep(time.Second)
		}
	}
	f.summarize(nats)
	if f.Ref != nil {
		f.VsRef = vsRef(f)
		f.judge(f.Product <= 0.5**f.Ref)
	} else {
		f.Target += " (no -ref: not judged)"
	}
	var details []string
	for _, s := range setups {
		t := tallies[s.side]
		details = append(details, fmt.Sprintf("%s: %.0f deliv/s achieved, %.2f%% delivered, p99 %.0f ms", s.side, median(t.rates), median(t.fracs), median(t.p99s)))
	}
	f.Detail = strings.Join(details, " | ")
	r.rep.Figures = append(r.rep.Figures, f)
	return nil
}

// saturation raises the deliveries/s into the room step by step, each side
// in turn at each step, until a step (tried twice) loses anything or its p99
// passes cfg.satP99 (issue 12's definition: nothing lost, p99 <= 200 ms),
// and reports the achieved deliveries/s of each side's highest step that
// held. members is the room's configured size; the sender is one of them.
func (r *runner) saturation(setups []*roomSetup, members int, issue string, nats float64) error {
	f := &figure{Scenario: "room", Name: fmt.Sprintf("%d members: saturation", members), Unit: "deliv/s", Op: "deliv", Issue: issue}
	type state struct {
		best    *roomResult
		members int
		stopped bool
		top     bool // held at the highest step offered
		steps   []string
	}
	states := map[string]*state{}
	for _, s := range setups {
		if err := s.ensure(); err != nil {
			return err
		}
		states[s.side] = &state{members: -1}
	}
	for k, deliv := range r.cfg.satDeliv {
		rate := deliv / float64(members)
		for _, s := range setups {
			st := states[s.side]
			if st.stopped {
				continue
			}
			held := false
			for attempt := 0; attempt < 2 && !held; attempt++ {
				prof := map[bool]string{true: "saturation"}[members == r.cfg.roomSmall && k == len(r.cfg.satDeliv)/2 && attempt == 0]
				res, err := s.round(rate, r.cfg.satDur, prof)
				if err != nil {
					return err
				}
				if st.members < 0 {
					st.members = res.members
				}
				held = res.delivered >= res.expected && res.p99 <= r.cfg.satP99 && res.open == st.members
				e := res.extra()
				e["offered_deliv_per_sec"], e["attempt"] = rate*float64(res.members), float64(attempt)
				f.Rounds = append(f.Rounds, round{Side: s.side, Value: res.rate, CPUUS: res.cpuUS, LoadAvg: res.load, Extra: e})
				mark := "ok"
				if !held {
					mark = "FAIL"
				}
				st.steps = append(st.steps, fmt.Sprintf("%.0fk:%s(lost %d,p99 %.0fms)", rate*float64(res.members)/1e3, mark, res.expected-min(res.delivered, res.expected), ms(res.p99)))
				if held && (st.best == nil || res.rate > st.best.rate) {
					st.best = res
				}
				time.Sleep(time.Second) // let backlogs drain before the next round
				if res.open < st.members {
					r.problem("%s saturation: %d of %d members were disconnected at %.0f msg/s (slow consumer?)", s.side, st.members-res.open, st.members, rate)
					break
				}
			}
			st.stopped = !held
			st.top = held && k == len(r.cfg.satDeliv)-1
		}
	}
	f.NATS = nats
	var details []string
	for _, s := range setups {
		st := states[s.side]
		v, cpu := 0.0, 0.0
		if st.best != nil {
			v, cpu = st.best.rate, st.best.cpuUS
			f.LoadAvg = st.best.load
		}
		if s.side == reference {
			f.Ref, f.CPURef = ptr(v), ptr(cpu)
		} else {
			f.Product, f.CPUProd = v, ptr(cpu)
		}
		d := s.side + ": " + strings.Join(st.steps, " ")
		if st.top {
			d += " (highest step offered held: the figure is a lower bound)"
		}
		details = append(details, d)
	}
	f.Detail = strings.Join(details, " | ")
	if issue == "12.1" {
		f.Target = ">=4x reference"
		switch {
		case f.Ref == nil:
			f.Target += " (no -ref: not judged)"
		case *f.Ref == 0:
			f.Target += " (the reference held no step: not judged)"
		default:
			f.VsRef = vsRef(f)
			f.judge(f.Product >= 4**f.Ref)
		}
	} else {
		f.Target, f.VsRef = "(report)", vsRef(f)
	}
	r.rep.Figures = append(r.rep.Figures, f)
	return nil
}
