package client

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsgate/wsgate/gateway/wsclose"
)

// Frames the gateway frames itself read as gorilla frames them, at every
// length encoding, and frames queued together go out in one write.
func TestFramesGoOutTogether(t *testing.T) {
	c, peer, _ := served(t, Options{})
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	// Queued while no writer can run: c's writer is busy as far as the
	// queue is concerned (see own), so the frames wait for one turn.
	c.mu.Lock()
	c.writing = true
	c.writers.Add(1)
	c.mu.Unlock()
	for i, n := range sizes {
		typ := websocket.TextMessage
		if i%2 == 1 {
			typ = websocket.BinaryMessage
		}
		c.Send(typ, bytes.Repeat([]byte{'a' + byte(i)}, n))
	}
	c.turn()
	for i, n := range sizes {
		_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
		typ, got, err := peer.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := websocket.TextMessage + i%2; typ != want || !bytes.Equal(got, bytes.Repeat([]byte{'a' + byte(i)}, n)) {
			t.Fatalf("frame %d: type %d, %d bytes; want type %d, %d bytes", i, typ, len(got), want, n)
		}
	}
	// A batch ends once it holds 64 KiB: the first six frames (65,914
	// bytes), then 65,536 and 70,000 bytes alone.
	// (A write is counted once it returned: maybe after the peer read it.)
	eventually(t, "three writes", func() bool { return c.Stats().Writes == 3 })
	if st := c.Stats(); st.FramesOut != uint64(len(sizes)) {
		t.Fatalf("%d frames out, want %d", st.FramesOut, len(sizes))
	}
}

// A broadcast to a client that does not read never makes the goroutine
// that fans it out wait: with the socket full, the client's own writer
// waits (here, for an hour), and the client is closed as a slow consumer
// once its queue is full.
func TestFanOutNeverWaitsForASocket(t *testing.T) {
	c, _, _ := served(t, Options{WriteTimeout: time.Hour}) // the peer reads nothing
	big := bytes.Repeat([]byte("x"), 64<<10)
	b := NewBroadcast(websocket.BinaryMessage, big)
	done := make(chan int)
	go func() {
		n := 0
		for !c.isClosing() {
			c.SendPrepared(b) // 1 MiB of queue is 16 of these, the socket a few more
			n++
		}
		done <- n
	}()
	select {
	case n := <-done:
		if n < 16 {
			t.Fatalf("closed after %d broadcasts", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fan-out waited for a client's socket")
	}
	if got := testutil.ToFloat64(c.opts.Metrics.SlowConsumers); got != 1 {
		t.Fatalf("%v slow consumers", got)
	}
	c.Abort() // its writer waits for the socket: end it
}

// The close frame goes out after the frames queued before it, and nothing
// after it.
func TestNothingAfterTheCloseFrame(t *testing.T) {
	c, peer, _ := served(t, Options{})
	c.Send(websocket.TextMessage, []byte("before"))
	c.Close(wsclose.New(4000, "bye"))
	c.Send(websocket.TextMessage, []byte("after"))
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, got, err := peer.ReadMessage(); err != nil || string(got) != "before" {
		t.Fatalf("got %q %v", got, err)
	}
	_, _, err := peer.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 {
		t.Fatalf("got %v, want close 4000", err)
	}
}

// gorilla answers a protocol error with a close frame of its own, in the
// middle of whatever the writer does: the wire sees it and lets no data
// frame follow. A payload byte that looks like a close opcode is not one.
func TestWireSeesGorillasCloseFrame(t *testing.T) {
	var w wire
	w.buffered.Store(true)
	// A 256-byte binary frame written in two pieces, as gorilla writes a
	// large message: header, then a payload starting with 0x88.
	w.Write([]byte{0x82, 126, 0x01, 0x00})
	w.Write(append([]byte{0x88, 0x02}, make([]byte, 254)...))
	if !w.frame(websocket.TextMessage, []byte("ok")) {
		t.Fatal("a payload byte was taken for a close frame")
	}
	w.Write([]byte{0x88, 0x02, 0x03, 0xea}) // close 1002
	if w.frame(websocket.TextMessage, []byte("late")) {
		t.Fatal("a data frame was queued after gorilla's close frame")
	}
	b := w.take()
	if want := 4 + 256 + 4 + 4; len(*b) != want {
		t.Fatalf("%d bytes buffered, want %d", len(*b), want)
	}
}

// After a write error the wire refuses everything: gorilla then fails its
// own writes instead of buffering them for nobody.
func TestWireAfterAFailedWrite(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	w := wire{Conn: a}
	w.buffered.Store(true)
	w.fail()
	if _, err := w.Write([]byte{0x8a, 0}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after failure: %v", err)
	}
	if w.frame(websocket.TextMessage, nil) || w.has() {
		t.Fatal("frame buffered after failure")
	}
	a.Close()
}

// A client written to less than WriteCoalesce ago gets its next frames in
// one write when that time is up; a client not written to recently is
// written at once.
func TestWriteCoalesce(t *testing.T) {
	c, peer, _ := served(t, Options{WriteCoalesce: 300 * time.Millisecond})
	c.Send(websocket.TextMessage, []byte("first"))
	read := func(want string) {
		t.Helper()
		_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, got, err := peer.ReadMessage(); err != nil || string(got) != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	read("first")
	const n = 50
	for i := 0; i < n; i++ {
		c.Send(websocket.TextMessage, []byte(strings.Repeat("x", i)))
	}
	for i := 0; i < n; i++ {
		read(strings.Repeat("x", i))
	}
	// The first write, then the 50 frames after at most two more (one
	// more unless the sends above took longer than the coalescing time).
	if st := c.Stats(); st.FramesOut != n+1 || st.Writes > 3 {
		t.Fatalf("%d frames in %d writes", st.FramesOut, st.Writes)
	}
}
