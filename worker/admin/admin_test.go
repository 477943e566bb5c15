package admin

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/contract"
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
	h, reg := Handler(nc, svc)
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
