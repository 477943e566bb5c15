package roomsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// Received is one gateway message as a client reads it: a reply (ID set,
// with OK or Error), a room message (Room set) or a push (Push set). The
// gateway never needs it; tests and tools that play the client do.
type Received struct {
	ID     *uint64         `json:"id"`
	OK     json.RawMessage `json:"ok"`
	Error  *Error          `json:"error"`
	Room   string          `json:"room"`
	Data   *string         `json:"data"`
	B64    *string         `json:"b64"`
	User   string          `json:"user"`
	Direct bool            `json:"direct"`
	Seq    uint64          `json:"seq"`
	Push   *Pushed         `json:"push"`
	Event  string          `json:"event"` // a presence event: join or leave
}

// Pushed is a push's body.
type Pushed struct {
	Data *string `json:"data"`
	B64  *string `json:"b64"`
}

// Decode splits a gateway text frame into its messages.
func Decode(frame []byte) ([]Received, error) {
	var out []Received
	for line := range bytes.SplitSeq(frame, []byte{Separator}) {
		var r Received
		if err := json.Unmarshal(line, &r); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Body gives a room message's or a push's payload, and whether it came as
// b64.
func (r *Received) Body() (body []byte, binary bool, err error) {
	data, b64 := r.Data, r.B64
	if r.Push != nil {
		data, b64 = r.Push.Data, r.Push.B64
	}
	switch {
	case data != nil && b64 != nil:
		return nil, false, errors.New("both data and b64")
	case data != nil:
		return []byte(*data), false, nil
	case b64 != nil:
		body, err := base64.StdEncoding.Strict().DecodeString(*b64)
		return body, true, err
	}
	return nil, false, errors.New("no data or b64")
}
