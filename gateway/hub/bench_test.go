package hub

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/wsgate/wsgate/gateway/client"
)

// nop is a member that only counts, or with watch set, also records the
// delay since the send time each message carries.
type nop struct {
	n     atomic.Int64
	watch bool
	mu    sync.Mutex
	lat   []time.Duration
}

func (m *nop) SendPrepared(b *client.Broadcast) {
	data := b.Data()
	m.n.Add(1)
	if !m.watch {
		return
	}
	ns, _ := strconv.ParseInt(string(data), 10, 64)
	d := time.Duration(time.Now().UnixNano() - ns)
	m.mu.Lock()
	m.lat = append(m.lat, d)
	m.mu.Unlock()
}

func fill[M memberKey](b *testing.B, h *Hub[M], subject string, ms []M) {
	for _, m := range ms {
		if err := h.Join(subject, m, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// Joining and leaving cost the same in a room of 10 and of 20,000.
func BenchmarkJoinLeave(b *testing.B) {
	for _, n := range []int{10, 20000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := newHub[*nop](newFakeBus(), Options{})
			defer h.Close()
			ms := make([]*nop, n)
			for i := range ms {
				ms[i] = &nop{}
			}
			fill(b, h, "room.out.r", ms)
			m := &nop{}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Join("room.out.r", m, time.Second); err != nil {
					b.Fatal(err)
				}
				h.Leave("room.out.r", m)
			}
		})
	}
}

// One broadcast to a room's members, without the dispatcher queue.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := newHub[*nop](newFakeBus(), Options{})
			defer h.Close()
			ms := make([]*nop, n)
			for i := range ms {
				ms[i] = &nop{}
			}
			fill(b, h, "room.out.r", ms)
			msg := &nats.Msg{Subject: "room.out.r", Data: make([]byte, 64), Sub: h.lookup("room.out.r").sub}
			b.ReportAllocs()
			for b.Loop() {
				h.fanOut(msg)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// BenchmarkStorm fills a room with 20,000 members from 64 goroutines while
// it gets a broadcast every 100 µs, and another room with 100 members in the
// same hub gets one every 100 µs too. It reports the fill time and the
// other room's delay from publish to fan-out (fill-ms, other-p99-µs).
func BenchmarkStorm(b *testing.B) {
	const members, joiners = 20000, 64
	var fills, p99s []float64
	for b.Loop() {
		bus := newFakeBus()
		h := newHub[*nop](bus, Options{Dispatchers: 2, Queue: 8192})
		watcher := &nop{watch: true}
		for i := 0; i < 100; i++ {
			m := &nop{}
			if i == 0 {
				m = watcher
			}
			if err := h.Join("room.out.other", m, time.Second); err != nil {
				b.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var pub sync.WaitGroup
		var sent atomic.Int64
		pub.Add(1)
		go func() {
			defer pub.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				now := strconv.FormatInt(time.Now().UnixNano(), 10)
				bus.publish("room.out.other", now)
				bus.publish("room.out.storm", now)
				sent.Add(1)
				time.Sleep(100 * time.Microsecond)
			}
		}()
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < joiners; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= members {
					if err := h.Join("room.out.storm", &nop{}, 5*time.Second); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		fill := time.Since(start)
		close(stop)
		pub.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for watcher.n.Load() < sent.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		h.Close()
		watcher.mu.Lock()
		lat := slices.Clone(watcher.lat)
		watcher.mu.Unlock()
		if len(lat) == 0 {
			b.Fatal("the other room got nothing")
		}
		slices.Sort(lat)
		fills = append(fills, float64(fill.Milliseconds()))
		p99s = append(p99s, float64(lat[len(lat)*99/100].Microseconds()))
	}
	slices.Sort(fills)
	slices.Sort(p99s)
	b.ReportMetric(fills[len(fills)/2], "fill-ms")
	b.ReportMetric(p99s[len(p99s)/2], "other-p99-µs")
}
