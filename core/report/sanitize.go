package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxValueRunes is the longest value, in runes, that human formats print.
// Longer values are cut and end with a marker that states how much was cut,
// so one hostile megabyte-long tag cannot flood a terminal or a spreadsheet.
const MaxValueRunes = 1000

// Sanitize makes a string from an untrusted source safe to print on a
// terminal or in a line-oriented file:
//   - ESC sequences (CSI, OSC, DCS and the other string sequences, and
//     two-byte escapes) are removed whole, an unterminated string sequence up
//     to the end of s;
//   - other C0 controls, DEL and C1 controls are removed, except that tab,
//     line feed, carriage return and the Unicode line and paragraph
//     separators become one space, so text cannot forge extra output lines;
//   - invisible formatting characters (Unicode category Cf: bidi overrides
//     and isolates, zero-width characters, the byte order mark, tag
//     characters) are removed, because they can disguise what is displayed;
//   - invalid UTF-8 bytes become U+FFFD;
//   - values longer than MaxValueRunes are cut, with a marker.
func Sanitize(s string) string {
	if isPlain(s) {
		return s
	}
	b := make([]byte, 0, min(len(s), 4*MaxValueRunes))
	runes := 0
	// keepIn and keepOut mark where a cut would fall, early enough that the
	// marker still fits in MaxValueRunes. That keeps Sanitize idempotent: a
	// sanitised value is never cut twice.
	keepIn, keepOut := -1, 0
	for i := 0; i < len(s); {
		if runes == maxKeptRunes && keepIn < 0 {
			keepIn, keepOut = i, len(b)
		}
		if runes == MaxValueRunes {
			b = fmt.Appendf(b[:keepOut], "…[cut %d bytes]", len(s)-keepIn)
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += escapeLen(s[i:])
			continue
		case r == utf8.RuneError && size == 1:
			b = utf8.AppendRune(b, utf8.RuneError)
		case r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			b = append(b, ' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			i += size
			continue
		default:
			b = append(b, s[i:i+size]...)
		}
		runes++
		i += size
	}
	return string(b)
}

// maxKeptRunes is how many runes of a cut value remain, leaving room for
// the marker of up to 24 runes ("…[cut 1234567890 bytes]").
const maxKeptRunes = MaxValueRunes - 24

// isPlain reports whether s is short printable ASCII, the common case, which
// Sanitize returns unchanged without allocating.
func isPlain(s string) bool {
	if len(s) > MaxValueRunes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// escapeLen returns the length of the escape sequence at the start of s,
// which begins with ESC. It follows ECMA-48. CSI runs to a final byte in
// 0x40-0x7E. OSC, DCS, SOS, PM and APC run to BEL or the string terminator.
// Other escapes are intermediates in 0x20-0x2F and one final byte.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		for i := 2; i < len(s); i++ {
			if c := s[i]; c >= 0x40 && c <= 0x7e {
				return i + 1
			} else if c < 0x20 || c > 0x3f {
				// Not a parameter or intermediate byte: the sequence is
				// malformed, so drop only what was read and keep the rest.
				return i
			}
		}
		return len(s)
	case ']', 'P', 'X', '^', '_':
		for i := 2; i < len(s); i++ {
			switch {
			case s[i] == 0x07:
				return i + 1
			case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
				return i + 2
			case s[i] == 0xc2 && i+1 < len(s) && s[i+1] == 0x9c: // U+009C, the C1 string terminator
				return i + 2
			}
		}
		return len(s)
	}
	i := 1
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}

// SanitizeCell makes a string from an untrusted source safe for a field
// that users export to spreadsheets, such as a Splunk field or an osquery
// column: Sanitize, plus the formula guard of the csv format.
func SanitizeCell(s string) string { return csvCell(s) }

// csvCell sanitises a text cell and guards it against formula injection:
// spreadsheets evaluate a cell that starts with = + - @ tab or CR, so such a
// cell gets a leading apostrophe, which they display as text. Sanitize turns
// a leading tab or CR into a space, so those two are checked before it.
func csvCell(s string) string {
	leadingBlank := s != "" && (s[0] == '\t' || s[0] == '\r')
	s = Sanitize(s)
	if leadingBlank || (s != "" && strings.ContainsRune("=+-@", rune(s[0]))) {
		return "'" + s
	}
	return s
}

// escapeJSON rewrites encoding/json output so that it holds no raw control
// or invisible formatting character: DEL, C1 controls, Cf characters and the
// line and paragraph separators become \u escapes. The decoded value is
// unchanged. The rewrite is safe on whole documents because those characters
// can only occur inside JSON strings. ASCII controls are left alone: inside
// strings encoding/json has already escaped them, and outside strings they
// are the whitespace between tokens.
func escapeJSON(b []byte) []byte {
	if !needsJSONEscape(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			// encoding/json never emits invalid UTF-8, but keep the byte
			// rather than guess.
			out = append(out, b[i])
		} else if r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			out = appendUnicodeEscape(out, r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

func needsJSONEscape(b []byte) bool {
	for _, c := range b {
		if c >= 0x7f {
			return true
		}
	}
	return false
}

func appendUnicodeEscape(out []byte, r rune) []byte {
	if r > 0xffff {
		r1, r2 := utf16.EncodeRune(r)
		return fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
	}
	return fmt.Appendf(out, `\u%04x`, r)
}
