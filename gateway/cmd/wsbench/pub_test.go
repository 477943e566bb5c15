package main

import "testing"

func TestPubCheck(t *testing.T) {
	frame := func(seq uint64) []byte { return append([]byte("echo: "), pubFrame(nil, seq)...) }
	pc := &pubCheck{prefix: []byte("echo: ")}
	for _, seq := range []uint64{0, 1, 2, 4, 3, 5, 5} {
		if got, ok := pc.check(frame(seq)); !ok || got != seq {
			t.Fatalf("check(frame %d) = %d, %v", seq, got, ok)
		}
	}
	// 4 skips 3, 3 comes back late, 5 after 3 skips 4, and 5 again: four
	// answers out of sequence.
	if d := pc.disorder.Load(); d != 4 {
		t.Errorf("disorder = %d, want 4", d)
	}
	malformed := [][]byte{
		[]byte("echo: "),
		[]byte("p1 " + string(make([]byte, 60))), // no prefix
		[]byte("echo: q1 xxx"),
		[]byte("echo: p xxx"),
		[]byte("echo: p1x xxx"),
		append(frame(6), 'x'),                            // longer than sent
		frame(7)[:len(frame(7))-1],                       // shorter than sent
		append([]byte("echo: p8 "), make([]byte, 55)...), // wrong padding
	}
	for _, m := range malformed {
		if _, ok := pc.check(m); ok {
			t.Errorf("check(%q) accepted a malformed answer", m)
		}
	}
	if w, g := pc.wrong.Load(), pc.got.Load(); w != uint64(len(malformed)) || g != 7 {
		t.Errorf("wrong = %d, got = %d; want %d, 7", w, g, len(malformed))
	}
}

func TestPubFrame(t *testing.T) {
	for _, seq := range []uint64{0, 9, 123456789} {
		f := pubFrame(nil, seq)
		if len(f) != 64 || f[0] != 'p' {
			t.Errorf("pubFrame(%d) = %q", seq, f)
		}
	}
}
