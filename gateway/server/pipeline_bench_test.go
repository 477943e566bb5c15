package server

import (
	"fmt"
	"testing"

	"github.com/gorilla/websocket"
)

// One connection sending as fast as its socket takes, reading every
// answer (echo) or broadcast (room) in order; gateway, NATS and workers in
// this process. Reports frames a second.
func BenchmarkOnePublisher(b *testing.B) {
	for _, path := range []string{"/ws", "/ws/room/bench"} {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/in_flight=%d", path, n), func(b *testing.B) {
				_, url := startNATS(b)
				worker(b, url, "echo")
				worker(b, url, "room")
				g := gateway(b, url, noRateLimit, inFlight(n))
				ws := dial(b, g.url+path, nil)
				frame := make([]byte, 64)
				b.ResetTimer()
				go func() {
					for i := 0; i < b.N; i++ {
						if ws.WriteMessage(websocket.BinaryMessage, frame) != nil {
							return
						}
					}
				}()
				for i := 0; i < b.N; i++ {
					if _, _, err := ws.ReadMessage(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}
