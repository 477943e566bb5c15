package roomsproto

import (
	"bytes"
	"encoding/json"
)

// scanner walks a document that json.Valid accepted, handing out the raw
// bytes of each member. It exists so that Parse sees every key exactly as
// sent (encoding/json matches field names case-insensitively and keeps the
// last of duplicate keys, both of which would make a command ambiguous)
// without copying the frame. On input json.Valid refused it may panic.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// member reads the next member of the object being walked (the scanner is
// past its '{', or past the previous member). ok is false at the '}', which
// it consumes.
func (s *scanner) member() (key, val []byte, ok bool) {
	s.ws()
	if s.b[s.i] == ',' {
		s.i++
		s.ws()
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, nil, false
	}
	key = s.str()
	s.ws()
	s.i++ // ':'
	s.ws()
	return key, s.value(), true
}

// str reads a string, quotes included.
func (s *scanner) str() []byte {
	start := s.i
	j := s.i + 1
	for {
		q := bytes.IndexByte(s.b[j:], '"')
		j += q
		// A quote ends the string unless an odd number of backslashes
		// precede it.
		n := 0
		for k := j - 1; s.b[k] == '\\'; k-- {
			n++
		}
		j++
		if n%2 == 0 {
			break
		}
	}
	s.i = j
	return s.b[start:j]
}

// value reads any value.
func (s *scanner) value() []byte {
	start := s.i
	switch s.b[s.i] {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return s.b[start:s.i]
			}
		}
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return s.b[start:s.i]
		}
		s.i++
	}
	return s.b[start:s.i]
}

// unquote decodes a string value; ok is false when raw is not a string.
// Without escapes the result shares raw's memory.
func unquote(raw []byte) (s []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return []byte(v), true
}

// isNull reports a JSON null, which Parse treats as an absent member.
func isNull(raw []byte) bool { return string(raw) == "null" }
