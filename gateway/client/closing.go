package client

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/wsclose"
	"github.com/wsgate/wsgate/shared/contract"
)

// Close frames reach the wire from four places: the writer (the gateway's
// own closes), the close handler (the answer to the peer's close), the
// reader after a read error (protocol errors), and gorilla itself, which
// answers a protocol error with 1002 and a frame over the read limit with
// 1009 without telling. Only the first close frame goes out; gorilla fails
// the later ones with ErrCloseSent. The first three take closeMu around
// their write and record the code if theirs went out, so the code counted
// and logged is the one the client received. (A write here puts the frame
// in the wire, in order; the reader then has a writer put it on the socket.)

// errControlFlood ends the reader when control frames exceed the budget.
var errControlFlood = errors.New("control frames over the rate limit")

// sendClose writes a close frame and records its code if it went out.
func (c *Conn) sendClose(payload []byte, code int, deadline time.Time) error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	err := c.ws.WriteControl(websocket.CloseMessage, payload, deadline)
	if err == nil {
		c.sentCode.CompareAndSwap(0, int32(code))
	}
	return err
}

// onClose answers the peer's close frame with its code, as RFC 6455 asks
// (gorilla's default handler does the same, without telling the gateway).
func (c *Conn) onClose(code int, _ string) error {
	c.peerCode.CompareAndSwap(0, int32(code))
	if c.sentCode.Load() == 0 {
		c.peerFirst.Store(true) // the close this sends is an answer
	}
	payload := []byte{} // no code came, none goes back
	if code != websocket.CloseNoStatusReceived {
		payload = wsclose.New(code, "").Payload()
	}
	_ = c.sendClose(payload, code, time.Now().Add(c.opts.WriteTimeout))
	c.kick()
	return nil
}

// readFailed looks at why reading ended, makes sure a close frame goes out
// when the protocol wants one, and says how finish should end (see endGone).
func (c *Conn) readFailed(err error) (end int) {
	defer c.kick() // gorilla may have written a close frame too
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		return endClose // the peer's close, answered by onClose
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return endGone // the connection ended, timed out or was aborted: no close frame is possible
	case errors.Is(err, errControlFlood):
		// The close is queued; frame it now, ahead of what is queued,
		// since the reader ends here.
		_ = c.sendClose(rateLimited.Payload(), rateLimited.Code(), time.Now().Add(c.opts.WriteTimeout))
		return endDrain
	}
	// A protocol error, a frame over the read limit, a frame length gorilla
	// cannot represent, bad compressed data. gorilla sent 1002 or 1009 for
	// most; whatever it did, fail the connection with 1002 now: if a close
	// frame went out already, this one fails with ErrCloseSent.
	already := contract.CloseProtocolError
	if errors.Is(err, websocket.ErrReadLimit) {
		already = contract.CloseMessageTooBig
	}
	c.closeMu.Lock()
	werr := c.ws.WriteControl(websocket.CloseMessage, protocolError.Payload(), time.Now().Add(c.opts.WriteTimeout))
	switch {
	case werr == nil:
		c.sentCode.CompareAndSwap(0, int32(protocolError.Code()))
	case errors.Is(werr, websocket.ErrCloseSent):
		// Unless the writer or onClose recorded theirs, gorilla's went first.
		c.sentCode.CompareAndSwap(0, int32(already))
	}
	c.closeMu.Unlock()
	return endDrain
}

var (
	protocolError = wsclose.New(contract.CloseProtocolError, "protocol error")
	rateLimited   = wsclose.New(contract.ClosePolicyViolation, "rate limit exceeded")
)
