//go:build !unix

package client

import "syscall"

// writeSome writes nothing where a socket cannot be written without
// waiting: the client's own writer goroutine writes everything.
func writeSome(syscall.RawConn, []byte) (int, error) { return 0, nil }

// readFD is never called where await has no socket to read.
func (e *early) readFD(uintptr) bool { return true }
