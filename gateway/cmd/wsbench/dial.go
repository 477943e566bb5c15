package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (not in package
// syscall). With it, binding a source address defers the port choice to
// connect(), so a port need only be unique per destination: one 127.0.0.x
// source then holds ~28k connections to each server instead of ~28k in all,
// and TIME_WAIT from handshake storms does not exhaust it.
const ipBindAddressNoPort = 24

func netDialer(src net.IP) *net.Dialer {
	return &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: src},
		Timeout:   10 * time.Second,
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			}); err != nil {
				return err
			}
			return serr
		},
	}
}

// wsDialer dials WebSockets from src with small buffers: hold processes keep
// thousands of connections and their frames are tiny.
func wsDialer(src net.IP) *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext:   netDialer(src).DialContext,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
	}
}

// dialWS connects from src to a loopback URL; anything else is refused, so
// a typo can never aim this load at another machine.
func dialWS(ctx context.Context, src net.IP, rawURL string, hdr http.Header) (*websocket.Conn, error) {
	if err := checkLoopback(rawURL); err != nil {
		return nil, err
	}
	ws, resp, err := wsDialer(src).DialContext(ctx, rawURL, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	return ws, nil
}

func checkLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback target %q", rawURL)
	}
	return nil
}

// srcIP is 127.a.b.c: the benchmark gives each scenario and worker its own
// block of loopback source addresses.
func srcIP(a, b, c int) net.IP {
	return net.IPv4(127, byte(a), byte(b), byte(c)).To4()
}

// readMsg appends one message to buf (reused between calls), so readers
// that handle hundreds of thousands of frames do not allocate per frame.
func readMsg(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// nextMsg reads the next data message of ws into buf.
func nextMsg(ws *websocket.Conn, buf []byte) (int, []byte, error) {
	typ, r, err := ws.NextReader()
	if err != nil {
		return 0, buf, err
	}
	buf, err = readMsg(r, buf[:0])
	return typ, buf, err
}
