package wsclose

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSendable(t *testing.T) {
	for code := -1; code <= 70000; code++ {
		want := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) || (code >= 3000 && code <= 4999)
		if Sendable(code) != want {
			t.Fatalf("Sendable(%d) = %v", code, !want)
		}
		if c := New(code, ""); c.Code() != code && want || !want && c.Code() != Fallback {
			t.Fatalf("New(%d) has code %d", code, c.Code())
		}
	}
}

func TestReason(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"bye":                             "bye",
		"bad\xff\xfe\xfdrun":              "bad\uFFFDrun",
		"a\xffb\xffc":                     "a\uFFFDb\uFFFDc",
		strings.Repeat("x", 123):          strings.Repeat("x", 123),
		strings.Repeat("x", 124):          strings.Repeat("x", 123),
		strings.Repeat("é", 100):          strings.Repeat("é", 61),        // 122 bytes: a 62nd would split at 123
		strings.Repeat("x", 121) + "€":    strings.Repeat("x", 121),       // 3 bytes do not fit in 2
		strings.Repeat("x", 120) + "€!":   strings.Repeat("x", 120) + "€", // exactly 123
		strings.Repeat("x", 122) + "\xff": strings.Repeat("x", 122),       // U+FFFD is 3 bytes
		"\uFFFD":                          "\uFFFD",                       // a real U+FFFD stays
	} {
		if got := Reason(in); got != want {
			t.Errorf("Reason(%.30q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		value string
		code  int
	}{{"4000", 4000}, {"1000", 1000}, {"1011", 1011}, {"1006", 1000}, {"x", 1000}, {"", 1000}, {"99999999999999999999", 1000}, {"+3000", 3000}} {
		if c := FromHeader(tc.value, []byte("r")); c.Code() != tc.code || c.Reason() != "r" {
			t.Errorf("FromHeader(%q) = %v, want %d", tc.value, c, tc.code)
		}
	}
	var zero Close
	if zero.Code() != 1000 || len(zero.Payload()) != 2 {
		t.Fatalf("zero value: %v", zero)
	}
}

// reference is Reason by its definition: strings.ToValidUTF8, then the
// longest prefix of at most MaxReason bytes that ends at a character
// boundary.
func reference(s string) string {
	v := strings.ToValidUTF8(s, "\uFFFD")
	if len(v) <= MaxReason {
		return v
	}
	i := MaxReason
	for !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i]
}

// Whatever a worker or a revocation sends, the close frame is one a client
// accepts: a code RFC 6455 allows, a reason of valid UTF-8 within 123
// bytes, 125 bytes of payload at most.
func FuzzClose(f *testing.F) {
	f.Add("4000", []byte("bye"))
	f.Add("1005", []byte(strings.Repeat("é", 70)))
	f.Add("x", []byte("bad\xff\xfe"))
	f.Add("2999", []byte(strings.Repeat("x", 122)+"€"))
	f.Fuzz(func(t *testing.T, value string, reason []byte) {
		c := FromHeader(value, reason)
		if !Sendable(c.Code()) {
			t.Fatalf("code %d", c.Code())
		}
		r := c.Reason()
		if !utf8.ValidString(r) || len(r) > MaxReason {
			t.Fatalf("reason %q", r)
		}
		if want := reference(string(reason)); r != want {
			t.Fatalf("reason %q, want %q", r, want)
		}
		p := c.Payload()
		if len(p) > 125 || int(binary.BigEndian.Uint16(p)) != c.Code() || string(p[2:]) != r {
			t.Fatalf("payload %q for %v", p, c)
		}
	})
}
