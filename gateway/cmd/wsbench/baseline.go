package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// baselineMain is the reference every echo and handshake figure is compared
// to: the same library and the same answers as the product's /ws (text X ->
// text "echo: X", binary likewise), but no NATS and no worker hop. The
// handler goroutine is the connection's reader and writes each answer itself.
func baselineMain(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	_ = fs.Parse(args)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			baselineEcho(ws)
		}),
	}
	// The parent reads this line to learn the port.
	fmt.Printf("listening %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	_ = srv.Close()
	fmt.Fprintln(os.Stderr, "baseline stopped")
	return nil
}

func baselineEcho(ws *websocket.Conn) {
	defer ws.Close()
	ws.SetReadLimit(64 << 10) // the product's default GATEWAY_MAX_MESSAGE_BYTES
	buf := []byte("echo: ")
	for {
		typ, r, err := ws.NextReader()
		if err != nil {
			return
		}
		if buf, err = readMsg(r, buf[:6]); err != nil {
			return
		}
		if err := ws.WriteMessage(typ, buf); err != nil {
			return
		}
	}
}
