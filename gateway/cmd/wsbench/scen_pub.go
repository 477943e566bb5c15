package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// pubConfig sizes the busy-publisher scenario (issue 12, target 2).
type pubConfig struct {
	window  int           // frames the publisher may have sent without their answer
	members int           // room members, the publisher included
	dur     time.Duration // measured part of a round
	rounds  int
	target  float64 // frames/s the product must sustain, in order
}

// scenPublisher is one connection pipelining frames: it sends without
// waiting for answers, up to pub.window outstanding, and counts the answers
// that arrive in the order sent. On /ws each answer is the frame's echo; in
// a room it is the publisher's own copy of the broadcast, and every other
// member's copies are checked for order and loss too. Rounds interleave the
// sides: baseline (echo only), reference, product.
func (r *runner) scenPublisher() error {
	nats := r.sanity("publisher")
	pc := r.cfg.pub
	for _, route := range []string{"echo", "room"} {
		f := &figure{Scenario: "publisher", Name: fmt.Sprintf("1 conn pipelined, %s (window %d)", route, pc.window), Unit: "frames/s", Op: "frame",
			Issue: "12.2", Target: fmt.Sprintf(">=%.0f/s in order, none lost", pc.target)}
		sides := r.sides()
		if route == "room" {
			f.Name = fmt.Sprintf("1 conn pipelined, room of %d (window %d)", pc.members, pc.window)
			sides = r.productSides()
		}
		bad := map[string]uint64{}
		lats := map[string]*hist{}
		for i := 0; i < pc.rounds; i++ {
			for _, side := range sides {
				spec, err := r.pubSpec(route, side, i)
				if err != nil {
					return err
				}
				res, err := runPublisher(spec)
				if err != nil {
					return fmt.Errorf("%s %s: %w", f.Name, side, err)
				}
				if res.wrong > 0 {
					r.fail("%s (%s): %d malformed answers, e.g. %s", f.Name, side, res.wrong, res.firstErr)
				}
				if res.lost+res.disorder > 0 && side == product {
					r.problem("%s (%s): %d lost, %d out of order", f.Name, side, res.lost, res.disorder)
				}
				bad[side] += res.lost + res.disorder
				if lats[side] == nil {
					lats[side] = &hist{}
				}
				lats[side].merge(res.lat.sparse())
				e := res.split
				e["sent"], e["lost"], e["out_of_order"] = float64(res.sent), float64(res.lost), float64(res.disorder)
				e["p50_ms"], e["p99_ms"] = ms(res.lat.quantile(0.5)), ms(res.lat.quantile(0.99))
				f.Rounds = append(f.Rounds, round{Side: side, Value: res.rate, CPUUS: res.cpuUS, LoadAvg: loadAvg(), Extra: e})
				r.logf("  publisher %s %s: %.0f frames/s in order, %d sent, %d lost, %d out of order, p99 %.1f ms, %.1f µs CPU/frame",
					route, side, res.rate, res.sent, res.lost, res.disorder, ms(res.lat.quantile(0.99)), res.cpuUS)
			}
		}
		f.summarize(nats)
		if f.Baseline != nil && *f.Baseline > 0 {
			f.Versus = fmt.Sprintf("%.2fx", f.Product / *f.Baseline)
		}
		f.VsRef = vsRef(f)
		f.judge(f.Product >= pc.target && bad[product] == 0)
		var details []string
		for _, side := range sides {
			details = append(details, fmt.Sprintf("%s: answer p50 %.1f ms, p99 %.1f ms, %d lost or out of order",
				side, ms(lats[side].quantile(0.5)), ms(lats[side].quantile(0.99)), bad[side]))
		}
		f.Detail = strings.Join(details, " | ")
		r.rep.Figures = append(r.rep.Figures, f)
	}
	return nil
}

// pubSpec is the URLs and server processes of one publisher round.
func (r *runner) pubSpec(route, side string, i int) (pubSpec, error) {
	pc := r.cfg.pub
	spec := pubSpec{window: pc.window, warmup: r.cfg.warmup, dur: pc.dur}
	if route == "echo" {
		spec.url, spec.procs = r.target(side, "/ws")
		spec.prefix = echoPrefix
		return spec, nil
	}
	st := r.stackOf(side)
	gwB, err := r.gatewayB(st)
	if err != nil {
		return spec, err
	}
	// A room of its own per round: the last round's members may still be
	// leaving it.
	path := fmt.Sprintf("/ws/room/bench-pub-%d", roundIDs.Add(1))
	spec.url = "ws://" + st.gwA.addr + path
	for m := 1; m < pc.members; m++ {
		spec.members = append(spec.members, "ws://"+[]*gw{gwB, st.gwA}[m%2].addr+path)
	}
	spec.procs = st.serverProcs(st.gwA, gwB)
	return spec, nil
}

type pubSpec struct {
	url     string   // the publisher's
	members []string // the other members' (rooms only)
	prefix  []byte   // an answer is prefix + the frame
	window  int
	warmup  time.Duration
	dur     time.Duration
	procs   []*proc
}

type pubResult struct {
	sent     uint64
	rate     float64 // answers to the publisher per second of the window
	lost     uint64  // frames someone never got an answer or copy of
	disorder uint64  // answers and copies not in the order sent
	wrong    uint64  // answers that are no frame of this round
	cpuUS    float64
	split    map[string]float64
	lat      *hist // send to answer, at the publisher
	firstErr string
}

// pubFrame is "p<seq> " padded with x to 64 bytes.
func pubFrame(b []byte, seq uint64) []byte {
	b = append(b[:0], 'p')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	for len(b) < 64 {
		b = append(b, 'x')
	}
	return b
}

// pubCheck checks one connection's answers or copies, which must be the
// frames sent, each after prefix, in sequence: 0, 1, 2, …
type pubCheck struct {
	prefix   []byte
	next     uint64 // sequence expected next
	want     []byte
	got      atomic.Uint64
	disorder atomic.Uint64 // answers whose sequence is not the one expected
	wrong    atomic.Uint64 // answers that are no frame of this round
}

// check counts msg and returns its sequence; ok is false for a malformed one.
func (pc *pubCheck) check(msg []byte) (seq uint64, ok bool) {
	rest, ok := bytes.CutPrefix(msg, pc.prefix)
	sp := bytes.IndexByte(rest, ' ')
	if !ok || sp <= 1 || rest[0] != 'p' {
		pc.wrong.Add(1)
		return 0, false
	}
	seq, err := strconv.ParseUint(string(rest[1:sp]), 10, 64)
	if pc.want = pubFrame(pc.want, seq); err != nil || !bytes.Equal(rest, pc.want) {
		pc.wrong.Add(1)
		return 0, false
	}
	if seq != pc.next {
		pc.disorder.Add(1)
	}
	pc.next = seq + 1
	pc.got.Add(1)
	return seq, true
}

// pubReader is one connection's only reader.
type pubReader struct {
	pubCheck
	ws  *websocket.Conn
	err atomic.Pointer[string]
}

func (pr *pubReader) run(onAnswer func(seq uint64)) {
	buf := make([]byte, 0, 128)
	for {
		_, msg, err := nextMsg(pr.ws, buf)
		buf = msg
		if err != nil {
			return
		}
		seq, ok := pr.check(msg)
		if !ok {
			s := fmt.Sprintf("%q", msg)
			pr.err.CompareAndSwap(nil, &s)
			continue
		}
		if onAnswer != nil {
			onAnswer(seq)
		}
	}
}

// runPublisher runs one round: the publisher's writer sends as long as
// fewer than window frames are unanswered; after the measured window it
// stops and waits for the answers and copies still under way.
func runPublisher(s pubSpec) (*pubResult, error) {
	urls := append([]string{s.url}, s.members...)
	conns := make([]*websocket.Conn, 0, len(urls))
	defer func() { closeAll(conns) }()
	for i, u := range urls {
		ws, err := dialMany(u, 1, srcBlock(3, len(urls))[i:i+1], 1)
		if err != nil {
			return nil, err
		}
		conns = append(conns, ws[0])
	}
	res := &pubResult{lat: &hist{}}
	sentAt := make([]atomic.Int64, s.window)
	tokens := make(chan struct{}, s.window)
	stop := make(chan struct{})
	var measuring atomic.Bool
	var answered atomic.Uint64
	readers := make([]*pubReader, len(conns))
	var wg sync.WaitGroup
	for i, ws := range conns {
		pr := &pubReader{ws: ws, pubCheck: pubCheck{prefix: s.prefix}}
		readers[i] = pr
		var onAnswer func(uint64)
		if i == 0 {
			onAnswer = func(seq uint64) {
				if measuring.Load() {
					res.lat.record(time.Now().UnixNano() - sentAt[seq%uint64(s.window)].Load())
					answered.Add(1)
				}
				select {
				case <-tokens:
				default:
				}
			}
		}
		wg.Add(1)
		go func() { defer wg.Done(); pr.run(onAnswer) }()
	}

	var sent atomic.Uint64
	var writeErr error
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		frame := make([]byte, 0, 64)
		for seq := uint64(0); ; seq++ {
			select {
			case tokens <- struct{}{}:
			case <-stop:
				return
			}
			sentAt[seq%uint64(s.window)].Store(time.Now().UnixNano())
			if writeErr = conns[0].WriteMessage(websocket.TextMessage, pubFrame(frame, seq)); writeErr != nil {
				return
			}
			sent.Add(1)
		}
	}()

	time.Sleep(s.warmup)
	w := openWindow(s.procs, os.Getpid())
	measuring.Store(true)
	time.Sleep(s.dur)
	measuring.Store(false)
	ops := answered.Load()
	secs, cpu, split := w.close(float64(ops))
	res.rate, res.cpuUS, res.split = float64(ops)/secs, cpu, split
	close(stop)
	<-wdone
	res.sent = sent.Load()

	// Everything sent is at most one window away: wait for it, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for _, pr := range readers {
			all = all && pr.got.Load() >= res.sent
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeAll(conns)
	wg.Wait()
	for _, pr := range readers {
		res.lost += res.sent - min(pr.got.Load(), res.sent)
		res.disorder += pr.disorder.Load()
		res.wrong += pr.wrong.Load()
		if p := pr.err.Load(); p != nil && res.firstErr == "" {
			res.firstErr = *p
		}
	}
	if writeErr != nil && res.sent == 0 {
		return nil, errors.New("publisher could not send: " + writeErr.Error())
	}
	return res, nil
}
