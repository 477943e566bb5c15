package natsprobe

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The decision alone: ready exactly while the last answer is at most
// `within` old and the connection is up.
func TestStatusReady(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const within = 2 * time.Second
	cases := []struct {
		s    Status
		now  time.Time
		want bool
	}{
		{Status{Connected: true, Answered: t0}, t0, true},
		{Status{Connected: true, Answered: t0}, t0.Add(within), true},
		{Status{Connected: true, Answered: t0}, t0.Add(within + time.Nanosecond), false},
		{Status{Connected: false, Answered: t0}, t0, false},
		{Status{Connected: true}, t0, false}, // never answered
	}
	for i, c := range cases {
		if got := c.s.Ready(c.now, within); got != c.want {
			t.Errorf("case %d: Ready = %v, want %v", i, got, c.want)
		}
	}
}

func TestTimeoutFromEnv(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "500ms": true, "0": false, "-1s": false, "soon": false} {
		t.Setenv(EnvTimeout, v)
		d, err := TimeoutFromEnv()
		if (err == nil) != ok {
			t.Errorf("%q: %v, %v", v, d, err)
		}
		if v == "" && d != DefaultTimeout {
			t.Errorf("default: %v", d)
		}
	}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// A frozen server (no reset: a proxy that stops forwarding) makes the
// prober not ready; reading its state never waits; it recovers on thaw and
// notices a plain disconnect at once.
func TestProberFrozenAndGone(t *testing.T) {
	s := natstest.Start(t)
	proxy := natstest.NewProxy(t, s.Addr().String())
	nc, err := nats.Connect(proxy.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const timeout = 400 * time.Millisecond
	p := Start(nc, timeout)
	defer p.Stop()
	if !p.Ready() || p.Status().RTT < 0 || p.Status().MaxPayload <= 0 {
		t.Fatalf("after Start: %+v", p.Status())
	}

	proxy.Freeze()
	took := eventually(t, 10*time.Second, "not ready while frozen", func() bool { return !p.Ready() })
	t.Logf("not ready %v after the freeze (timeout %v)", took, timeout)
	if !nc.IsConnected() {
		t.Fatal("the connection noticed the freeze; the test proves nothing")
	}
	eventually(t, 10*time.Second, "a failed probe", func() bool { return p.Status().RTT < 0 })
	if !p.Status().Connected {
		t.Fatal("frozen, not disconnected")
	}

	proxy.Thaw()
	eventually(t, 10*time.Second, "ready after thaw", p.Ready)

	// A reset is seen through the connection's status events.
	proxy.Close()
	eventually(t, 10*time.Second, "not ready after a reset", func() bool { return !p.Ready() && !p.Status().Connected })

	nc.Close()
	p.Stop()
}

// Stop returns, and the goroutine ends, also when the connection closes
// first (goleak checks it).
func TestProberEndsWithConnection(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	p := Start(nc, time.Second)
	nc.Close()
	eventually(t, 5*time.Second, "not ready after close", func() bool { return !p.Ready() })
	p.Stop()
}
