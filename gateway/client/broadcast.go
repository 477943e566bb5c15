package client

import (
	"sync"

	"github.com/gorilla/websocket"
)

// Broadcast is a frame for many clients, checked once (see FrameType).
// Each client's writer copies it into its own write: a client that
// compresses gets it compressed once for all of them.
type Broadcast struct {
	typ  int
	data []byte
	once sync.Once
	pm   *websocket.PreparedMessage
	err  error
}

// NewBroadcast makes a frame of type typ for many clients. data must not
// be modified afterwards.
func NewBroadcast(typ int, data []byte) *Broadcast { return &Broadcast{typ: typ, data: data} }

// Data is the broadcast's payload.
func (b *Broadcast) Data() []byte { return b.data }

// prepared is the broadcast as gorilla frames it once for every client
// (compressed where compression was negotiated), made at the first need.
func (b *Broadcast) prepared() (*websocket.PreparedMessage, error) {
	b.once.Do(func() { b.pm, b.err = websocket.NewPreparedMessage(b.typ, b.data) })
	return b.pm, b.err
}
