package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/roomsproto"
)

// scenHistory answers issue 14: what room history costs. The product
// stack (room worker with the default ROOM_HISTORY_SIZE=100) and a second
// stack of the same binaries whose room worker has ROOM_HISTORY_SIZE=0
// (history off: the "reference" side of these figures) each hold a
// 1,000-member room over two gateways; rounds alternate off, on, off, …:
// p99 at 40,000 deliveries/s (14.2) and fan-out saturation (14.1). Then
// the off stack's room worker restarts with history large enough to
// resume from, and a client away while resumeMsgs messages were published
// times its resume (14.3).
func (r *runner) scenHistory() error {
	off := &stack{side: reference, prefix: "off-", bin: r.bin, env: []string{"ROOM_HISTORY_SIZE=0"}}
	defer r.stopStack(off)
	if err := r.startStack(off); err != nil {
		return err
	}
	var setups []*roomSetup
	defer func() {
		for _, s := range setups {
			for _, h := range s.holds {
				h.quit()
			}
		}
	}()
	for _, st := range []*stack{off, r.stack} {
		gwB, err := r.gatewayB(st)
		if err != nil {
			return err
		}
		s := &roomSetup{r: r, side: st.side, procs: st.serverProcs(st.gwA, gwB)}
		setups = append(setups, s)
		for i := 0; i < 2*r.cfg.roomHolds; i++ {
			h, err := r.startHold(fmt.Sprintf("%shold-hist-%d", st.prefix, i))
			if err != nil {
				return err
			}
			s.holds = append(s.holds, h)
			s.gws = append(s.gws, []*gw{st.gwA, gwB}[i%2])
		}
		if err := s.connect(r.cfg.roomSmall, "bench-hist", s.srcOctet(70)); err != nil {
			return err
		}
	}
	nats := r.sanity("history")
	n := r.cfg.roomSmall

	f := &figure{Scenario: "history", Name: fmt.Sprintf("%d members @ %.0f deliv/s: p99, history on (P) vs off (R)", n, r.cfg.rateSmall*float64(n)),
		Unit: "ms", Op: "deliv", Issue: "14.2"}
	if err := r.roomRounds(f, setups, r.cfg.rateSmall, 0, nats, "history"); err != nil {
		return err
	}
	f.Target = "<=2x off"
	f.judge(f.Ref != nil && f.Product <= 2**f.Ref)

	if err := r.saturation(setups, n, "14.1", nats); err != nil {
		return err
	}
	sat := r.rep.Figures[len(r.rep.Figures)-1]
	sat.Scenario = "history"
	sat.Name += ", history on (P) vs off (R)"
	sat.Target = ">=0.7x off"
	sat.judge(sat.Ref != nil && *sat.Ref > 0 && sat.Product >= 0.7**sat.Ref)
	for _, s := range setups {
		for _, h := range s.holds {
			h.quit()
		}
	}
	setups = nil
	return r.resume(off, nats)
}

// resume measures 14.3 on st, whose room worker it restarts with room for
// cfg.resumeMsgs messages: a client joins a room, goes away while another
// client publishes resumeMsgs messages on the other gateway (pipelined,
// each acknowledged), comes back and joins with since = the seq it had;
// the figure is from that join sent to its ok, which comes after every
// missed message (all of them checked, in order).
func (r *runner) resume(st *stack, nats float64) error {
	n := r.cfg.resumeMsgs
	if err := r.restartRoomWorker(st, fmt.Sprintf("ROOM_HISTORY_SIZE=%d", 2*n)); err != nil {
		return err
	}
	f := &figure{Scenario: "history", Name: fmt.Sprintf("resume %d missed messages: join sent to ok", n), Unit: "ms", Op: "resume",
		Issue: "14.3", Target: "<200 ms"}
	for i := 0; i < r.cfg.rounds; i++ {
		room := fmt.Sprintf("bench-resume-%d", i)
		// One message first, so the client has a seq to resume from.
		if err := publishMany("ws://"+st.gwB.addr, room, 1); err != nil {
			return err
		}
		since, err := roomsJoin("ws://"+st.gwA.addr, room, 0, nil)
		if err != nil {
			return err
		}
		if err := publishMany("ws://"+st.gwB.addr, room, n); err != nil {
			return err
		}
		var took time.Duration
		missed := 0
		if _, err := roomsJoin("ws://"+st.gwA.addr, room, since, func(d time.Duration, msgs int) { took, missed = d, msgs }); err != nil {
			return err
		}
		if missed != n {
			r.fail("resume: %d of %d missed messages delivered before the ok", missed, n)
		}
		r.logf("  resume of %d messages: %.1f ms", missed, ms(took))
		f.Rounds = append(f.Rounds, round{Side: product, Value: ms(took), LoadAvg: loadAvg(), Extra: map[string]float64{"missed": float64(missed)}})
	}
	f.summarize(nats)
	f.CPUProd = nil // a resume is shorter than /proc's CPU clock tick: not measured
	f.judge(f.Product < 200)
	f.Detail = fmt.Sprintf("history on (ROOM_HISTORY_SIZE=%d), missed messages published on the other gateway; median of %d", 2*n, r.cfg.rounds)
	r.rep.Figures = append(r.rep.Figures, f)
	return nil
}

// restartRoomWorker stops st's room worker and starts it again with more
// environment, ready once it answers PING.
func (r *runner) restartRoomWorker(st *stack, env ...string) error {
	for i, w := range st.workers {
		if !strings.HasSuffix(w.name, "worker-room") {
			continue
		}
		r.stopProc(w)
		p, err := r.spawn(w.name+"-2", filepath.Join(st.bin, "worker"), []string{"room"}, append([]string{"NATS_URL=" + st.natsURL}, append(st.env, env...)...), nil)
		if err != nil {
			return err
		}
		st.workers[i] = p
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := st.nc.Request("$SRV.PING.room", nil, 500*time.Millisecond); err == nil {
				return nil
			}
			if p.exited() || time.Now().After(deadline) {
				return fmt.Errorf("room worker not ready (log %s)", p.logPath)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return errors.New("no room worker")
}

// roomsJoin dials base/ws/rooms, joins room with since, reads until the
// join's ok and closes; it returns the ok's seq. With timed, it is told
// how long from the join sent to the ok and how many room messages came
// before it (each checked to have a seq above the previous one).
func roomsJoin(base, room string, since uint64, timed func(time.Duration, int)) (uint64, error) {
	ws, _, err := websocket.DefaultDialer.Dial(base+"/ws/rooms", nil)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	t0 := time.Now()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"id":1,"join":{"room":%q,"since":%d}}`, room, since))); err != nil {
		return 0, err
	}
	last, msgs := since, 0
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return 0, err
		}
		lines, err := roomsproto.Decode(frame)
		if err != nil {
			return 0, err
		}
		for _, m := range lines {
			if m.ID == nil {
				if m.Seq <= last {
					return 0, fmt.Errorf("resume: seq %d after %d", m.Seq, last)
				}
				last = m.Seq
				msgs++
				continue
			}
			var ok struct {
				Seq       uint64 `json:"seq"`
				Recovered bool   `json:"recovered"`
			}
			if m.Error != nil || json.Unmarshal(m.OK, &ok) != nil || !ok.Recovered {
				return 0, fmt.Errorf("join %s: %+v %s", room, m.Error, m.OK)
			}
			if timed != nil {
				timed(time.Since(t0), msgs)
			}
			return ok.Seq, nil
		}
	}
}

// publishMany publishes n 64-byte messages to room through base, 64 in
// flight, and returns once every one is acknowledged as stored.
func publishMany(base, room string, n int) error {
	ws, _, err := websocket.DefaultDialer.Dial(base+"/ws/rooms", nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	data := strings.Repeat("x", 64)
	cmds := make(chan int, 64)
	errc := make(chan error, 1)
	go func() {
		errc <- func() error {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"join":{"room":"`+room+`"}}`)); err != nil {
				return err
			}
			for i := range cmds {
				cmd := `{"id":` + strconv.Itoa(i+2) + `,"publish":{"room":"` + room + `","data":"` + data + `"}}`
				if err := ws.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	window := make(chan struct{}, 64)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(cmds)
		for i := range n {
			select {
			case window <- struct{}{}:
				cmds <- i
			case <-done:
				return
			}
		}
	}()
	acked := 0
	for acked < n {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("publish: %w (%d of %d acknowledged)", err, acked, n)
		}
		for line := range bytes.SplitSeq(frame, []byte{'\n'}) {
			switch {
			case bytes.HasPrefix(line, []byte(`{"id":1,`)) || bytes.HasPrefix(line, []byte(`{"room":`)):
			case bytes.Contains(line, []byte(`"broadcast":true,"seq":`)):
				acked++
				<-window
			default:
				return fmt.Errorf("publish: %s", line)
			}
		}
	}
	return <-errc
}
