package server

import (
	"fmt"
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
