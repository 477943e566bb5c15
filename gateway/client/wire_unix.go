//go:build unix

package client

import (
	"sync"
	"syscall"
)

// writeSome writes as much of b as the socket takes at once: one write(2)
// on the non-blocking socket, repeated only while it takes everything
// offered (a short write or EAGAIN means the socket buffer is full). It
// never waits for the socket.
func writeSome(raw syscall.RawConn, b []byte) (int, error) {
	x := attempts.Get().(*attempt)
	x.b, x.n, x.err = b, 0, nil
	err := raw.Write(x.fn)
	n := x.n
	if err == nil {
		err = x.err
	}
	x.b, x.err = nil, nil
	attempts.Put(x)
	return n, err
}

// attempt is one writeSome; pooled, with its method value bound once, so
// that a write allocates nothing.
type attempt struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var attempts = sync.Pool{New: func() any {
	x := &attempt{}
	x.fn = x.write
	return x
}}

// write runs with the socket's write lock held; returning true ends
// RawConn.Write without waiting for the socket to be writable.
func (x *attempt) write(fd uintptr) bool {
	for x.n < len(x.b) {
		rest := x.b[x.n:]
		n, err := syscall.Write(int(fd), rest)
		if n > 0 {
			x.n += n
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			x.err = err
			return true
		case n < len(rest):
			return true // a short write: the buffer is full
		}
	}
	return true
}
