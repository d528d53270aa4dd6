package ioc

import "strings"

// esc starts every terminal escape sequence.
const esc = 0x1b

// appendWithoutEscapes appends src to dst without terminal escape
// sequences, so colour codes copied from a terminal or a log viewer do not
// glue to indicators ("\x1b[31mevil.com" would read as "31mevil.com"). It
// drops CSI sequences (ESC [, parameter and intermediate bytes, one final
// byte in 0x40-0x7E), OSC sequences (ESC ], ended by BEL, ESC \ or the end
// of the line) and other two-byte ESC sequences. A lone ESC is dropped.
func appendWithoutEscapes(dst []byte, src string) []byte {
	for i := 0; i < len(src); {
		if src[i] != esc {
			dst = append(dst, src[i])
			i++
			continue
		}
		i = escapeEnd(src, i)
	}
	return dst
}

// escapeEnd returns the index after the escape sequence that starts with
// the ESC at s[i].
func escapeEnd(s string, i int) int {
	if i+1 >= len(s) {
		return i + 1
	}
	switch c := s[i+1]; {
	case c == '[':
		j := i + 2
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
			j++
		}
		if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
			j++
		}
		return j
	case c == ']':
		for j := i + 2; j < len(s); j++ {
			switch {
			case s[j] == 0x07:
				return j + 1
			case s[j] == esc && j+1 < len(s) && s[j+1] == '\\':
				return j + 2
			case s[j] == '\n':
				// An unterminated OSC ends with its line.
				return j
			}
		}
		return len(s)
	case c >= 0x40 && c <= 0x5f:
		return i + 2
	}
	return i + 1
}

// stripEscapes is appendWithoutEscapes for a string, allocating only when
// s contains an ESC.
func stripEscapes(s string) string {
	if strings.IndexByte(s, esc) < 0 {
		return s
	}
	return string(appendWithoutEscapes(make([]byte, 0, len(s)), s))
}
