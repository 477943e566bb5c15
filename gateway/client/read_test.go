package client

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// pieces feeds p to a utf8Check in pieces cut where r says. It returns
// whether every write succeeded and the text ended on a boundary, and the
// ends of the pieces given, the last one being the piece that failed.
func pieces(p []byte, r *rand.Rand) (ok bool, ends []int) {
	var v utf8Check
	for i := 0; i < len(p); {
		n := 1 + r.IntN(min(len(p)-i, 5))
		i += n
		ends = append(ends, i)
		if !v.write(p[i-n : i]) {
			return false, ends
		}
	}
	return v.done(), ends
}

// validPrefix reports whether some bytes appended to p make it valid UTF-8:
// one to three more bytes of a character complete any valid start.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for n := 1; n <= 3; n++ {
		for _, first := range []byte{0x80, 0x90, 0xA0} {
			tail := append([]byte{first}, bytes.Repeat([]byte{0x80}, n-1)...)
			if utf8.Valid(append(bytes.Clone(p), tail...)) {
				return true
			}
		}
	}
	return false
}

func TestUTF8Check(t *testing.T) {
	for _, s := range []string{"", "ascii", "café", "€uro", "😀 emoji", "\uFFFD", "日本語のテキスト", strings.Repeat("é😀", 50)} {
		for seed := uint64(0); seed < 20; seed++ {
			if ok, _ := pieces([]byte(s), rand.New(rand.NewPCG(seed, 1))); !ok {
				t.Fatalf("%q refused (seed %d)", s, seed)
			}
		}
	}
	for _, s := range []string{"\xff", "ok\xff", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "é\x80"} {
		for seed := uint64(0); seed < 20; seed++ {
			if ok, _ := pieces([]byte(s), rand.New(rand.NewPCG(seed, 1))); ok {
				t.Fatalf("%q accepted (seed %d)", s, seed)
			}
		}
	}
}

// Pieces cut anywhere give the answer utf8.Valid gives for the whole, and
// the check fails at the first piece after which no continuation could
// make the text valid: not before, not later.
func FuzzUTF8Check(f *testing.F) {
	f.Add([]byte("café"), uint64(1))
	f.Add([]byte("ok\xff"), uint64(2))
	f.Add([]byte("\xe2\x82\xac\xe2\x82"), uint64(3))
	f.Add([]byte("\xf0\x9f\x98\x80\xed\xa0\x80"), uint64(4))
	f.Fuzz(func(t *testing.T, p []byte, seed uint64) {
		ok, ends := pieces(p, rand.New(rand.NewPCG(seed, seed)))
		if ok != utf8.Valid(p) {
			t.Fatalf("%q: check says %v", p, ok)
		}
		for k, end := range ends {
			last := k == len(ends)-1
			switch {
			case !last && !validPrefix(p[:end]):
				t.Fatalf("%q: not failed after %d bytes, no valid prefix", p, end)
			case last && !ok && end < len(p) && validPrefix(p[:end]):
				t.Fatalf("%q: failed after %d bytes, a valid prefix", p, end)
			}
		}
	})
}

// stopAfter returns data in the pieces given, then fails the test if read
// again: the message's rest never comes.
type stopAfter struct {
	t      *testing.T
	pieces [][]byte
}

func (s *stopAfter) Read(p []byte) (int, error) {
	if len(s.pieces) == 0 {
		s.t.Fatal("read past the invalid bytes")
	}
	n := copy(p, s.pieces[0])
	s.pieces[0] = s.pieces[0][n:]
	if len(s.pieces[0]) == 0 {
		s.pieces = s.pieces[1:]
	}
	return n, nil
}

func TestReadMessageRefusesInvalidTextEarly(t *testing.T) {
	r := &stopAfter{t: t, pieces: [][]byte{[]byte("hello "), []byte("caf\xc3"), []byte("\xa9 \xff")}}
	if _, err := readMessage(nil, r, 1<<20, true); !errors.Is(err, errInvalidUTF8) {
		t.Fatalf("err %v", err)
	}
	// Binary is not checked; the limit holds for both.
	data, err := readMessage(nil, strings.NewReader("\xff\xfe"), 2, false)
	if err != nil || string(data) != "\xff\xfe" {
		t.Fatalf("binary: %q %v", data, err)
	}
	if _, err := readMessage(nil, strings.NewReader("abc"), 2, true); !errors.Is(err, errTooBig) {
		t.Fatalf("over the limit: %v", err)
	}
	data, err = readMessage(make([]byte, 0, 1), io.MultiReader(strings.NewReader("a"), strings.NewReader(strings.Repeat("é", 3000))), 1<<20, true)
	if err != nil || string(data) != "a"+strings.Repeat("é", 3000) {
		t.Fatalf("growing: %d bytes, %v", len(data), err)
	}
}
