package client

import (
	"errors"
	"io"
	"slices"
	"unicode/utf8"
)

var (
	errTooBig      = errors.New("message too big")
	errInvalidUTF8 = errors.New("text is not valid UTF-8")
)

// readMessage appends one message from r to buf, reading at most limit
// bytes (more: errTooBig). A text message is checked as it arrives, so
// invalid UTF-8 is refused when its bytes come in, not after the rest of
// the message (which a hostile client may never send).
func readMessage(buf []byte, r io.Reader, limit int64, text bool) ([]byte, error) {
	var check utf8Check
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(512, len(buf)), int(limit)+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), int(limit)+1)])
		piece := buf[len(buf) : len(buf)+n]
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooBig
		}
		if text && !check.write(piece) {
			return buf, errInvalidUTF8
		}
		if err == io.EOF {
			if text && !check.done() {
				return buf, errInvalidUTF8 // the message ends inside a character
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// utf8Check validates UTF-8 that arrives in pieces: a character may be
// split between two pieces. It holds the start of such a character.
type utf8Check struct {
	pend [utf8.UTFMax]byte
	n    int
}

// write checks the next piece. It is false as soon as no continuation can
// make the text valid.
func (v *utf8Check) write(p []byte) bool {
	if v.n > 0 {
		// Finish the character the last piece ended in.
		for len(p) > 0 && !utf8.FullRune(v.pend[:v.n]) {
			v.pend[v.n] = p[0]
			v.n++
			p = p[1:]
		}
		if !utf8.FullRune(v.pend[:v.n]) {
			return true // p was too short to finish it
		}
		if r, size := utf8.DecodeRune(v.pend[:v.n]); r == utf8.RuneError && size == 1 {
			return false // FullRune holds for an invalid start too
		}
		v.n = 0
	}
	if utf8.Valid(p) {
		return true
	}
	// Either p is invalid, or it ends inside a character: the last
	// character start is within its last 3 bytes.
	for k := 1; k < utf8.UTFMax && k <= len(p); k++ {
		i := len(p) - k
		if !utf8.RuneStart(p[i]) {
			continue
		}
		// FullRune is false only for the valid start of a character.
		if utf8.FullRune(p[i:]) || !utf8.Valid(p[:i]) {
			return false
		}
		v.n = copy(v.pend[:], p[i:])
		return true
	}
	return false
}

// done reports whether the text ended at a character boundary.
func (v *utf8Check) done() bool { return v.n == 0 }
