package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/gateway/events"
	"github.com/wsgate/wsgate/shared/contract"
)

// BenchmarkPresenceQuery10k: a /ws/rooms client asks who is in a room of
// 10,000 members (10,000 users), through the gateway and a presence worker
// over real NATS and a real socket. The members are written to the bucket
// as gateways write them.
func BenchmarkPresenceQuery10k(b *testing.B) {
	_, url := startNATS(b)
	presenceWorker(b, url, 15*time.Second)
	g := gateway(b, url)
	nc := natsConn(b, url)
	js, _ := jetstream.New(nc)
	const members = 10000
	var futures []jetstream.PubAckFuture
	for i := range members {
		conn := strconv.FormatUint(uint64(i), 36)
		m := events.Put(contract.PresenceMemberKey("big", "BENCH", conn), "BENCH."+conn+".j1",
			contract.PresenceEntry{User: fmt.Sprintf("user-%05d", i), Route: "/ws/rooms", Join: 1})
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	// The bench "gateway" beats, so its members are not swept.
	kv, _ := js.KeyValue(context.Background(), contract.PresenceBucket)
	beat, _ := json.Marshal(contract.PresenceBeat{TTLMillis: time.Hour.Milliseconds(), Beat: 1})
	if _, err := kv.Put(context.Background(), contract.PresenceGatewayKey("BENCH"), beat); err != nil {
		b.Fatal(err)
	}
	c := dialRooms(b, g.url, nil)
	deadline := time.Now().Add(30 * time.Second)
	for len(c.who("big").Users) != members {
		if time.Now().After(deadline) {
			b.Fatal("the view never held the members")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.ResetTimer()
	for range b.N {
		if a := c.who("big"); len(a.Users) != members {
			b.Fatalf("%d users", len(a.Users))
		}
	}
}

// BenchmarkPresenceJoinLeave: /ws/rooms clients on two gateways join and
// leave rooms, 2,000 joins and leaves a second in all ("2000/s"), or as
// fast as they are answered ("max"); it reports the rate reached, and how
// long after the last leave's answer the events stream had every event
// (then every room must be empty in presence).
func BenchmarkPresenceJoinLeave(b *testing.B) {
	b.Run("2000/s", func(b *testing.B) { benchJoinLeave(b, 2000) })
	b.Run("max", func(b *testing.B) { benchJoinLeave(b, 0) })
}

func benchJoinLeave(b *testing.B, rate int) {
	_, url := startNATS(b)
	presenceWorker(b, url, 15*time.Second)
	worker(b, url, "auth")
	g1, g2 := gateway(b, url, noRateLimit), gateway(b, url, noRateLimit)
	const clients, rooms = 40, 20
	var cs []*rc
	for i := range clients {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		cs = append(cs, dialRooms(b, g.url, bearer(token(b, "u"+strconv.Itoa(i), time.Hour, nil))))
	}
	nc := natsConn(b, url)
	before := streamCount(b, nc)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + clients - 1) / clients
	var gap time.Duration // between one client's join+leave pairs
	if rate > 0 {
		gap = time.Duration(float64(time.Second) * float64(2*clients) / float64(rate))
	}
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now().Add(gap * time.Duration(i) / clients)
			for j := range per {
				if gap > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(gap)
				}
				room := "r" + strconv.Itoa((i+j)%rooms)
				id1 := c.cmd("join", map[string]string{"room": room})
				id2 := c.cmd("leave", map[string]string{"room": room})
				if _, e := c.result(id1); e != nil {
					panic(e.Reason)
				}
				if _, e := c.result(id2); e != nil {
					panic(e.Reason)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ops := per * clients * 2
	b.StopTimer()
	want := before + uint64(ops)*1 // a join or leave event each (no connects meanwhile)
	deadline := time.Now().Add(60 * time.Second)
	for streamCount(b, nc) < want {
		if time.Now().After(deadline) {
			b.Fatalf("events: %d, want %d", streamCount(b, nc), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	lag := time.Since(start) - elapsed
	for r := range rooms {
		cs[0].whoIs("r"+strconv.Itoa(r), contract.PresenceAnswer{Users: users()})
	}
	b.ReportMetric(float64(ops)/elapsed.Seconds(), "joins+leaves/s")
	b.ReportMetric(lag.Seconds()*1000, "ms-events-behind")
	b.ReportMetric(0, "ns/op")
}

func streamCount(b testing.TB, nc *nats.Conn) uint64 {
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		b.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return info.State.Msgs
}

// BenchmarkPresenceVisible: how long after a join's ok on one gateway a
// presence query on another gateway shows it (and likewise the leave).
func BenchmarkPresenceVisible(b *testing.B) {
	_, url := startNATS(b)
	presenceWorker(b, url, 15*time.Second)
	worker(b, url, "auth")
	g1, g2 := gateway(b, url, noRateLimit), gateway(b, url, noRateLimit)
	actor := dialRooms(b, g1.url, bearer("secret"))
	asker := dialRooms(b, g2.url, nil)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		want := 1
		if i%2 == 0 {
			actor.join("seen")
		} else {
			actor.ok("leave", map[string]string{"room": "seen"})
			want = 0
		}
		t0 := time.Now()
		for len(asker.who("seen").Users) != want {
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-until-visible")
}
