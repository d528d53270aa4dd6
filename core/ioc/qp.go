package ioc

import "strings"

// Quoted-printable e-mail bodies (RFC 2045) break URLs twice: "=" is
// written "=3D", and lines longer than 76 bytes end in a soft line break
// "=" that the reader removes. Extract decodes them only once the input
// shows that it is quoted-printable, so a URL such as "?id=3D4" in
// ordinary text keeps its bytes. The signs are a line that ends in a soft
// line break and also contains an "=XX" escape (two upper-case hex digits, as
// RFC 2045 requires), or a "Content-Transfer-Encoding: quoted-printable"
// header. From that line to the end of the input, soft line breaks join
// lines and "=XX" escapes are decoded before tokenising.

// cutSoftBreak returns line without its end of line and, when it ends in a
// soft line break, without the "=" and the transport padding before it.
// It runs on every line, so it trims by hand: strings.TrimRight with a
// cutset costs more than the rest of the check.
func cutSoftBreak(line string) (string, bool) {
	n := len(line)
	for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r' || line[n-1] == ' ' || line[n-1] == '\t') {
		n--
	}
	if n > 0 && line[n-1] == '=' {
		return line[:n-1], true
	}
	return line, false
}

// startsQuotedPrintable reports whether line is a sign that the input is
// quoted-printable.
func startsQuotedPrintable(line string) bool {
	if _, soft := cutSoftBreak(line); soft {
		return hasQPEscape(line)
	}
	if len(line) > 0 && (line[0] == 'C' || line[0] == 'c') {
		const header = "content-transfer-encoding:"
		return len(line) > len(header) && strings.EqualFold(line[:len(header)], header) &&
			strings.Contains(strings.ToLower(line), "quoted-printable")
	}
	return false
}

func hasQPEscape(line string) bool {
	for i := strings.IndexByte(line, '='); i >= 0 && i+2 < len(line); {
		if isUpperHex(line[i+1]) && isUpperHex(line[i+2]) {
			return true
		}
		next := strings.IndexByte(line[i+1:], '=')
		if next < 0 {
			return false
		}
		i += 1 + next
	}
	return false
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// appendQPDecoded appends src to dst with every "=XX" escape decoded.
// Other "=" bytes are kept, as lenient decoders do.
func appendQPDecoded(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '=' && i+2 < len(src) && isUpperHex(src[i+1]) && isUpperHex(src[i+2]) {
			dst = append(dst, unhex(src[i+1])<<4|unhex(src[i+2]))
			i += 2
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
