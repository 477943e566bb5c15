package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natsprobe"
	"github.com/wsgate/wsgate/shared/natstest"
	"github.com/wsgate/wsgate/worker/echo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMetricsAndProbes(t *testing.T) {
	s := natstest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	svc, err := echo.Add(nc, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	probe := natsprobe.Start(nc, 0)
	defer probe.Stop()
	h, reg := Handler(svc, probe)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i := 0; i < 3; i++ {
		if _, err := nc.Request(contract.EchoSubject, []byte("x"), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `wsgate_worker_requests_total{endpoint="echo",service="echo"} 3`) ||
		!strings.Contains(body, "wsgate_worker_nats_connected 1") {
		t.Fatalf("/metrics %d:\n%s", code, body)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "wsgate_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	_ = svc.Stop()
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("/readyz after stop: %d", code)
	}
}

// A frozen NATS server (no TCP reset: a proxy that stops forwarding) turns
// /readyz to 503 within the probe timeout, and /metrics does not wait for it.
func TestFrozenNATS(t *testing.T) {
	s := natstest.Start(t)
	proxy := natstest.NewProxy(t, s.Addr().String())
	nc, err := nats.Connect(proxy.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	svc, err := echo.Add(nc, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	probe := natsprobe.Start(nc, 400*time.Millisecond)
	defer probe.Stop()
	h, _ := Handler(svc, probe)
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Timeout: 5 * time.Second} // a test timeout, not a speed bound
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	proxy.Freeze()
	deadline := time.Now().Add(10 * time.Second) // nats.go alone takes 30 s or more
	for {
		if code, _ := get("/readyz"); code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 200 with NATS frozen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "wsgate_worker_nats_connected") {
		t.Fatalf("/metrics while frozen: %d", code)
	}
	proxy.Thaw()
	deadline = time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not come back after the thaw")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
