package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The hold process holds connections for the parent: one process has only
// 20,000 file descriptors, and room receivers must not share the CPU
// accounting of the servers. The parent drives it with one JSON object per
// line on stdin and reads one JSON answer per command on stdout:
//
//	connect  open N more connections to URL from Src addresses (Par at once);
//	         with Join, each joins that room with the /ws/rooms protocol
//	check    send "chk <id> <i>" on every connection, count correct echoes
//	arm      start counting room messages of round ID (resets the histogram)
//	count    how many round messages arrived so far
//	send     connection From sends round-ID room messages at Rate/s for DurMS
//	         (as /ws/rooms publishes to Join when Join is set)
//	pace     like send, in the background, until stop (answers at once)
//	stop     end pace; answers what send would have
//	collect  stop counting; return count, strays and the latency histogram
//	close    close every connection
//	quit     exit
type holdReq struct {
	Op        string            `json:"op"`
	URL       string            `json:"url,omitempty"`
	N         int               `json:"n,omitempty"`
	Src       []string          `json:"src,omitempty"`
	Par       int               `json:"par,omitempty"`
	Header    map[string]string `json:"header,omitempty"`
	ID        int64             `json:"id,omitempty"`
	Rate      float64           `json:"rate,omitempty"`
	DurMS     int               `json:"dur_ms,omitempty"`
	Size      int               `json:"size,omitempty"`
	Senders   int               `json:"senders,omitempty"`
	TimeoutMS int               `json:"timeout_ms,omitempty"`
	Join      string            `json:"join,omitempty"` // a /ws/rooms room
	From      int               `json:"from,omitempty"` // the first sender connection
}

type holdResp struct {
	Op     string      `json:"op"`
	Err    string      `json:"err,omitempty"`
	OK     int         `json:"ok"`
	Failed int         `json:"failed"`
	Wrong  uint64      `json:"wrong"`
	Total  int         `json:"total"`
	Open   int         `json:"open"`
	Sent   int         `json:"sent"`
	SpanMS float64     `json:"span_ms"`
	Count  uint64      `json:"count"`
	Stray  uint64      `json:"stray"`
	Hist   [][2]uint64 `json:"hist,omitempty"`
}

type heldConn struct {
	ws   *websocket.Conn
	idx  int
	wmu  sync.Mutex // gorilla allows one writer at a time
	dead atomic.Bool
}

type holder struct {
	mu    sync.Mutex
	conns []*heldConn

	checkID atomic.Int64
	checkOK atomic.Uint64
	wrong   atomic.Uint64 // answers that are not what was sent: a real failure

	pacing   chan holdResp // pace's result, while it runs; command loop only
	stopPace chan struct{}

	round  atomic.Int64 // room round being counted; 0: none
	joined atomic.Int64 // /ws/rooms joins answered ok
	count  atomic.Uint64
	stray  atomic.Uint64 // late messages of an earlier round
	lat    hist
}

func holdMain([]string) error {
	h := &holder{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req holdReq
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("hold: bad command: %w", err)
		}
		if req.Op == "quit" {
			h.closeAll()
			return out.Encode(holdResp{Op: "quit"})
		}
		resp := h.do(req)
		resp.Op = req.Op
		resp.Open = h.open()
		resp.Wrong = h.wrong.Load()
		if err := out.Encode(resp); err != nil {
			return err
		}
	}
	// stdin closed: the parent is gone.
	h.closeAll()
	return nil
}

func (h *holder) do(req holdReq) holdResp {
	switch req.Op {
	case "connect":
		return h.connect(req)
	case "check":
		return h.check(req)
	case "arm":
		h.count.Store(0)
		h.stray.Store(0)
		h.lat.reset()
		h.round.Store(req.ID)
		return holdResp{}
	case "count":
		return holdResp{Count: h.count.Load()}
	case "send":
		return h.send(req, nil)
	case "pace":
		if h.pacing != nil {
			return holdResp{Err: "already pacing"}
		}
		if req.Rate <= 0 {
			return holdResp{Err: "pace needs a rate"}
		}
		h.pacing, h.stopPace = make(chan holdResp, 1), make(chan struct{})
		go func() { h.pacing <- h.send(req, h.stopPace) }()
		return holdResp{}
	case "stop":
		if h.pacing == nil {
			return holdResp{Err: "not pacing"}
		}
		close(h.stopPace)
		resp := <-h.pacing
		h.pacing = nil
		return resp
	case "collect":
		h.round.Store(0)
		return holdResp{Count: h.count.Load(), Stray: h.stray.Load(), Hist: h.lat.sparse()}
	case "close":
		h.closeAll()
		return holdResp{}
	}
	return holdResp{Err: "unknown op " + req.Op}
}

func (h *holder) open() int {
	n := 0
	for _, c := range h.snapshot() {
		if !c.dead.Load() {
			n++
		}
	}
	return n
}

func (h *holder) connect(req holdReq) holdResp {
	if len(req.Src) == 0 {
		return holdResp{Err: "no source addresses"}
	}
	srcs := make([]net.IP, len(req.Src))
	for i, s := range req.Src {
		if srcs[i] = net.ParseIP(s); srcs[i] == nil || !srcs[i].IsLoopback() {
			return holdResp{Err: "bad source address " + s}
		}
	}
	hdr := http.Header{}
	for k, v := range req.Header {
		hdr.Set(k, v)
	}
	var next, ok, failed atomic.Int64
	joined0 := h.joined.Load()
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	for w := 0; w < max(req.Par, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(req.N) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				ws, err := dialWS(ctx, srcs[int(i)%len(srcs)], req.URL, hdr)
				cancel()
				if err != nil {
					failed.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				if req.Join != "" {
					err = ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"join":{"room":"`+req.Join+`"}}`))
				}
				if err != nil {
					failed.Add(1)
					_ = ws.Close()
					continue
				}
				ok.Add(1)
				h.mu.Lock()
				c := &heldConn{ws: ws, idx: len(h.conns)}
				h.conns = append(h.conns, c)
				h.mu.Unlock()
				go h.read(c)
			}
		}()
	}
	wg.Wait()
	resp := holdResp{OK: int(ok.Load()), Failed: int(failed.Load())}
	if req.Join != "" {
		// A member counts once its join is answered: it then gets every
		// message of the room.
		deadline := time.Now().Add(15 * time.Second)
		for h.joined.Load()-joined0 < ok.Load() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := ok.Load() - (h.joined.Load() - joined0); n > 0 {
			resp.Err = fmt.Sprintf("%d joins not answered", n)
		}
	}
	if p := firstErr.Load(); p != nil {
		resp.Err = *p
	}
	return resp
}

// read is each connection's only reader; gorilla answers the gateway's
// pings from inside it, so idle connections stay alive.
func (h *holder) read(c *heldConn) {
	defer func() {
		c.dead.Store(true)
		_ = c.ws.Close()
	}()
	buf := make([]byte, 0, 256)
	var err error
	for {
		if _, buf, err = nextMsg(c.ws, buf); err != nil {
			return
		}
		h.handle(c, buf, time.Now().UnixNano())
	}
}

var (
	echoCheck = []byte("echo: chk ")
	welcome   = []byte("ok")
)

func (h *holder) handle(c *heldConn, msg []byte, now int64) {
	switch {
	case len(msg) > 0 && msg[0] == '{':
		for line := range bytes.SplitSeq(msg, []byte{'\n'}) {
			h.handleLine(line, now)
		}
	case len(msg) > 0 && msg[0] == 'R':
		round, sent, ok := parseRoomMsg(msg)
		switch {
		case !ok:
			h.wrong.Add(1)
		case round == h.round.Load():
			h.lat.record(now - sent)
			h.count.Add(1)
		default:
			h.stray.Add(1)
		}
	case bytes.HasPrefix(msg, echoCheck):
		f := bytes.Fields(msg[len(echoCheck):])
		if len(f) != 2 {
			h.wrong.Add(1)
			return
		}
		id, _ := strconv.ParseInt(string(f[0]), 10, 64)
		idx, _ := strconv.Atoi(string(f[1]))
		switch {
		case idx != c.idx:
			h.wrong.Add(1) // another connection's answer
		case id == h.checkID.Load():
			h.checkOK.Add(1)
		}
	case bytes.Equal(msg, welcome):
	default:
		h.wrong.Add(1)
	}
}

// handleLine takes one line of the /ws/rooms protocol: a reply (an ok join
// counts, an error is wrong) or a room message, whose "data" is a round's
// message as a raw member would get it. Publish replies are not counted.
func (h *holder) handleLine(line []byte, now int64) {
	switch {
	case bytes.HasPrefix(line, joinedOK):
		h.joined.Add(1)
	case bytes.HasPrefix(line, []byte(`{"id":`)) && !bytes.Contains(line, []byte(`"error":`)):
	case bytes.HasPrefix(line, []byte(`{"room":`)):
		_, data, ok := bytes.Cut(line, []byte(`"data":"`))
		end := bytes.IndexByte(data, '"')
		if !ok || end < 1 || data[0] != 'R' {
			h.wrong.Add(1)
			return
		}
		h.handle(nil, data[:end], now)
	default:
		h.wrong.Add(1)
	}
}

// joinedOK starts a join's ok: {"id":1,"ok":{}}, or with history
// {"id":1,"ok":{"seq":…,"recovered":…}}.
var joinedOK = []byte(`{"id":1,"ok":{`)

func (h *holder) snapshot() []*heldConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*heldConn(nil), h.conns...)
}

func (h *holder) check(req holdReq) holdResp {
	conns := h.snapshot()
	h.checkOK.Store(0)
	h.checkID.Store(req.ID)
	failed := 0
	sent := uint64(0)
	for _, c := range conns {
		if c.dead.Load() {
			continue
		}
		msg := fmt.Sprintf("chk %d %d", req.ID, c.idx)
		c.wmu.Lock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg))
		c.wmu.Unlock()
		if err != nil {
			failed++
			continue
		}
		sent++
	}
	deadline := time.Now().Add(time.Duration(max(req.TimeoutMS, 1000)) * time.Millisecond)
	for h.checkOK.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return holdResp{OK: int(h.checkOK.Load()), Total: len(conns), Failed: failed}
}

// send paces room messages on connection 0 (or on the first Senders in
// turn) by schedule, not by sleeping a fixed gap, so the rate holds even
// when a write is slow. Each message carries its send time (wall clock,
// UnixNano): every receiver on this machine computes its delivery latency
// from it. With stop, it sends until stop closes instead of for DurMS.
func (h *holder) send(req holdReq, stop chan struct{}) holdResp {
	conns := h.snapshot()
	senders := max(req.Senders, 1)
	if req.From < 0 || len(conns) < req.From+senders {
		return holdResp{Err: "not enough sender connections"}
	}
	conns = conns[req.From:]
	for _, c := range conns[:senders] {
		if c.dead.Load() {
			return holdResp{Err: "a sender connection is closed"}
		}
	}
	if req.Rate <= 0 || (req.DurMS <= 0 && stop == nil) {
		return holdResp{Err: "send needs a rate and a duration"}
	}
	size := max(req.Size, 48)
	gap := time.Duration(float64(time.Second) / req.Rate)
	n := int(float64(req.DurMS) / 1000 * req.Rate)
	if stop != nil {
		n = math.MaxInt
	}
	start := time.Now()
	msg := make([]byte, 0, size)
	var cmd []byte // the /ws/rooms publish around msg
	sent := 0
	var err error
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 {
			select {
			case <-stop: // nil without pace: never ready
			case <-time.After(d):
			}
		}
		if stop != nil && isClosed(stop) {
			break
		}
		msg = appendRoomMsg(msg[:0], req.ID, i, time.Now().UnixNano(), size)
		out := msg
		if req.Join != "" {
			// Round messages are ASCII without quotes: no escaping.
			cmd = append(append(append(append(append(cmd[:0], `{"id":`...), strconv.Itoa(i+2)...), `,"publish":{"room":"`...), req.Join...), `","data":"`...)
			cmd = append(append(cmd, msg...), `"}}`...)
			out = cmd
		}
		c := conns[i%senders]
		c.wmu.Lock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		err = c.ws.WriteMessage(websocket.TextMessage, out)
		c.wmu.Unlock()
		if err != nil {
			break
		}
		sent++
	}
	resp := holdResp{Sent: sent, SpanMS: float64(time.Since(start)) / 1e6}
	if err != nil {
		resp.Err = err.Error()
	}
	return resp
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// appendRoomMsg builds "R<round> <seq> <unixnano> xxx…" padded to size.
func appendRoomMsg(b []byte, round int64, seq int, sent int64, size int) []byte {
	b = append(b, 'R')
	b = strconv.AppendInt(b, round, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

func parseRoomMsg(b []byte) (round, sent int64, ok bool) {
	f := bytes.Fields(b[1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	round, err1 := strconv.ParseInt(string(f[0]), 10, 64)
	sent, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	return round, sent, errors.Join(err1, err2) == nil
}

func (h *holder) closeAll() {
	for _, c := range h.snapshot() {
		_ = c.ws.Close()
	}
	// Readers exit on their own; wait briefly so "open" reads true.
	deadline := time.Now().Add(3 * time.Second)
	for h.open() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h.mu.Lock()
	h.conns = nil
	h.mu.Unlock()
}
