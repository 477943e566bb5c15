//go:build unix

package client

import (
	"io"
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

// readFD is early's read: false (wait for the socket) while there is
// nothing to read, unless e.leave; it runs with the socket's read lock
// held. The buffer is taken only for the read: a parked reader holds none.
func (e *early) readFD(fd uintptr) bool {
	bp := readBufs.Get().(*[]byte)
	for {
		n, err := syscall.Read(int(fd), *bp)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			readBufs.Put(bp)
			e.left = e.leave
			return e.leave
		case err != nil:
			e.err = err
			readBufs.Put(bp)
		case n == 0:
			e.err = io.EOF
			readBufs.Put(bp)
		default:
			e.bp, e.buf = bp, (*bp)[:n]
		}
		return true
	}
}
