package server

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

// echoWorker answers frames on subject like the echo worker, except that
// hold may delay a reply (by returning a delay) or lose it (-1).
func echoWorker(t testing.TB, url, subject string, hold func(body string) time.Duration) {
	t.Helper()
	nc := natsConn(t, url)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(contract.HeaderFrame, m.Header.Get(contract.HeaderFrame))
		reply.Data = append([]byte("echo: "), m.Data...)
		switch d := hold(string(m.Data)); {
		case d < 0:
		case d == 0:
			_ = nc.PublishMsg(reply)
		default:
			wg.Add(1)
			time.AfterFunc(d, func() { defer wg.Done(); _ = nc.PublishMsg(reply) })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Clients sending at 60 and 90 frames a second, under the default 100/s,
// are not closed after a worker held one of their frames for seconds (a
// slow reply, a lost one): the frames they sent meanwhile waited in the
// socket because the gateway was waiting, not because they sent too fast.
func TestRateJudgesTheClientNotTheGatewaysWait(t *testing.T) {
	_, url := startNATS(t)
	echoWorker(t, url, contract.EchoSubject, func(body string) time.Duration {
		switch body {
		case "slow":
			return 4500 * time.Millisecond
		case "lost":
			return -1
		}
		return 0
	})
	g := gateway(t, url) // default rate, burst and worker timeout (5 s)
	type client struct {
		hz      int
		special string // the frame the worker holds
	}
	run := func(t *testing.T, c client) {
		ws := dial(t, g.url+"/ws", nil)
		const before, total = 10, 60 * 6 // frames before the held one; all frames
		n := total * c.hz / 60
		done := make(chan error, 1)
		go func() {
			want := 0
			for want < n {
				if want == before && c.special == "lost" {
					want++ // a lost reply never comes
					continue
				}
				_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, got, err := ws.ReadMessage()
				if err != nil {
					done <- fmt.Errorf("after %d answers: %w", want, err)
					return
				}
				exp := fmt.Sprintf("echo: %d", want)
				if want == before {
					exp = "echo: " + c.special
				}
				if string(got) != exp {
					done <- fmt.Errorf("got %q, want %q", got, exp)
					return
				}
				want++
			}
			done <- nil
		}()
		tick := time.NewTicker(time.Second / time.Duration(c.hz))
		defer tick.Stop()
		for i := 0; i < n; i++ {
			<-tick.C
			body := fmt.Sprint(i)
			if i == before {
				body = c.special
			}
			if err := ws.WriteMessage(websocket.TextMessage, []byte(body)); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("%d Hz: %v", c.hz, err)
		}
	}
	for _, c := range []client{{60, "slow"}, {90, "slow"}, {60, "lost"}, {90, "lost"}} {
		t.Run(fmt.Sprintf("%dHz-%s", c.hz, c.special), func(t *testing.T) {
			t.Parallel()
			run(t, c)
		})
	}
}

// freezer is a TCP proxy that can stop forwarding, as a frozen NATS server
// or a partition does: bytes wait, nothing is reset.
type freezer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	addr   string
}

func freezingProxy(t testing.TB, target string) *freezer {
	t.Helper()
	f := &freezer{}
	f.cond = sync.NewCond(&f.mu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		f.freeze(false)
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				f.mu.Lock()
				for f.frozen {
					f.cond.Wait()
				}
				f.mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Add(2)
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return f
}

func (f *freezer) freeze(on bool) {
	f.mu.Lock()
	f.frozen = on
	f.mu.Unlock()
	f.cond.Broadcast()
}

// A NATS stall (the gateway's NATS connection stops for 4.5 s, with no
// reset) does not cost clients at 60 and 90 frames a second their socket.
func TestRateSurvivesANATSStall(t *testing.T) {
	ns, url := startNATS(t)
	worker(t, url, "echo")
	proxy := freezingProxy(t, ns.Addr().String())
	g := gateway(t, "nats://"+proxy.addr)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	started := make(chan struct{}, 2)
	for _, hz := range []int{60, 90} {
		ws := dial(t, g.url+"/ws", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 6 * hz // six seconds of frames
			got := make(chan error, 1)
			go func() {
				var gap time.Duration // the longest wait for an answer: the stall
				last := time.Now()
				for i := 0; i < n; i++ {
					_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, msg, err := ws.ReadMessage()
					if err != nil {
						got <- fmt.Errorf("%d Hz, after %d answers: %w", hz, i, err)
						return
					}
					if want := fmt.Sprintf("echo: %d", i); string(msg) != want {
						got <- fmt.Errorf("%d Hz: got %q, want %q", hz, msg, want)
						return
					}
					gap, last = max(gap, time.Since(last)), time.Now()
				}
				if gap < 3*time.Second {
					got <- fmt.Errorf("%d Hz: answers never stopped for long (%v): no stall", hz, gap)
					return
				}
				got <- nil
			}()
			tick := time.NewTicker(time.Second / time.Duration(hz))
			defer tick.Stop()
			for i := 0; i < n; i++ {
				<-tick.C
				if i == hz/2 {
					started <- struct{}{}
				}
				if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
					errs <- fmt.Errorf("%d Hz, frame %d: %w", hz, i, err)
					return
				}
			}
			errs <- <-got
		}()
	}
	<-started
	<-started
	proxy.freeze(true)
	time.Sleep(4500 * time.Millisecond) // the stall itself, not a wait for something
	proxy.freeze(false)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
