package ioc

import (
	"strings"
	"unicode/utf8"
)

// Refang undoes the usual ways analysts defang indicators so they can be
// parsed: hxxp, hxxps and fxp schemes in any case, brackets around dots,
// colons, slashes and at-signs ("[.]", "(.)", "{.}", "<.>", "[dot]", "[:]",
// "[://]", "[/]", "[@]", also stacked or one-sided as in "[[.]]" or "[.x"),
// backslash-escaped dots, fullwidth "．＠：／", the ideographic full stop and
// zero-width characters. "[at]", "(at)" and "{at}" become "@" only when a
// domain name follows, so "state[at]rest" stays as it is.
//
// Refang rewrites until nothing changes, so it is idempotent:
// Refang(Refang(s)) == Refang(s) for every s. Text without defanging is
// returned unchanged.
func Refang(s string) string {
	if !mayBeDefanged(s) {
		return s
	}
	for {
		r := refangOnce(s)
		if r == s {
			return r
		}
		s = r
	}
}

// mayBeDefanged is a fast pre-check: every rule starts at a bracket, a
// backslash, a non-ASCII rune, or a scheme ending in "://".
func mayBeDefanged(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, isBracket(c), c == '\\':
			return true
		case c == ':' && strings.HasPrefix(s[i:], "://"):
			return true
		}
	}
	return false
}

func isBracket(c byte) bool {
	switch c {
	case '[', ']', '(', ')', '{', '}', '<', '>':
		return true
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// refangOnce applies every rule once, left to right.
func refangOnce(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]

		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			switch r {
			case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
				// zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen
			case '．', '。', '｡':
				b = append(b, '.')
			case '＠':
				b = append(b, '@')
			case '：':
				b = append(b, ':')
			case '／':
				b = append(b, '/')
			default:
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}

		if c == '\\' {
			// "10\.10" and "example\(.)com": drop backslashes that escape a
			// dot or a bracketed token.
			j := i
			for j < len(s) && s[j] == '\\' {
				j++
			}
			if j < len(s) && s[j] == '.' {
				i = j
				continue
			}
			if _, _, _, ok := matchToken(s, j); ok && isBracket(s[j]) {
				i = j
				continue
			}
			b = append(b, s[i:j]...)
			i = j
			continue
		}

		if isBracket(c) || c == '.' || c == 'd' || c == 'D' {
			if rep, n, both, ok := matchToken(s, i); ok {
				// Spaces around a token bracketed on both sides belong to
				// it: "example [.] com".
				for both && len(b) > 0 && isSpace(b[len(b)-1]) {
					b = b[:len(b)-1]
				}
				b = append(b, rep...)
				i += n
				continue
			}
		}

		b = append(b, c)
		i++
	}
	return refangSchemes(string(b))
}

// matchToken matches a defanged separator starting at s[i]: brackets, an
// optional space run, a core ("." "dot" ":" "://" "/" "//" "@" "at" "-"), an
// optional space run and brackets, with at least one bracket. It returns
// the replacement, the number of bytes consumed and whether the core was
// bracketed on both sides.
func matchToken(s string, i int) (rep string, n int, both, ok bool) {
	j := i
	open := 0
	for j < len(s) && isBracket(s[j]) {
		j++
		open++
	}
	k := j
	for k < len(s) && isSpace(s[k]) {
		k++
	}
	if open > 0 {
		j = k
	} else if k != j {
		return "", 0, false, false
	}

	core, coreLen := matchCore(s[j:])
	if coreLen == 0 {
		return "", 0, false, false
	}
	j += coreLen

	k = j
	for k < len(s) && isSpace(s[k]) {
		k++
	}
	end := k
	closeN := 0
	for end < len(s) && isBracket(s[end]) {
		end++
		closeN++
	}
	if closeN == 0 {
		end = j
	}

	switch {
	case open == 0 && closeN == 0:
		return "", 0, false, false
	case core == "dot" || core == "at":
		// Words need a bracket on both sides, except "dot]" right after a
		// label ("exampledot]com"), which is common in the wild.
		if closeN == 0 || (open == 0 && (core == "at" || i == 0 || !isLabelByte(s[i-1]))) {
			return "", 0, false, false
		}
	case open == 0 || closeN == 0:
		// A one-sided bracket counts only around a dot: "[.x", "x.]".
		if core != "." {
			return "", 0, false, false
		}
		if open == 0 && (i == 0 || !isLabelByte(s[i-1])) {
			return "", 0, false, false
		}
		if closeN == 0 && (end >= len(s) || !isLabelByte(s[end])) {
			return "", 0, false, false
		}
	}

	rep = core
	switch core {
	case "dot":
		rep = "."
	case "at":
		if !domainFollows(s[end:]) {
			return "", 0, false, false
		}
		rep = "@"
	}
	both = open > 0 && closeN > 0
	if both {
		for end < len(s) && isSpace(s[end]) {
			end++
		}
	}
	return rep, end - i, both, true
}

func matchCore(s string) (string, int) {
	switch {
	case strings.HasPrefix(s, "://"):
		return "://", 3
	case strings.HasPrefix(s, "//"):
		return "//", 2
	case len(s) >= 3 && strings.EqualFold(s[:3], "dot"):
		return "dot", 3
	case len(s) >= 2 && strings.EqualFold(s[:2], "at"):
		return "at", 2
	case s == "":
		return "", 0
	}
	switch s[0] {
	case '.', ':', '/', '@', '-':
		return s[:1], 1
	}
	return "", 0
}

func isLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= utf8.RuneSelf
}

// domainFollows reports whether s starts with a domain name whose last label
// is a public top-level domain, possibly itself defanged.
func domainFollows(s string) bool {
	end := 0
	for end < len(s) && !isSpace(s[end]) && s[end] != '/' && s[end] != '?' && s[end] != '#' && s[end] != ',' && s[end] != ';' && s[end] != '"' && s[end] != '\'' {
		end++
	}
	// Refang the rest without the at-rule so this check cannot recurse.
	host := refangDots(s[:end])
	host = strings.TrimRight(host, ".>)]}")
	if i := strings.IndexByte(host, '@'); i >= 0 {
		return false
	}
	_, reason := normalizeDomain(host)
	return reason == ""
}

// refangDots replaces only dot tokens; used for the look-ahead of the at-rule.
func refangDots(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if isBracket(s[i]) || s[i] == '.' || s[i] == 'd' || s[i] == 'D' {
			if rep, n, ok := matchDotToken(s, i); ok {
				b.WriteString(rep)
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func matchDotToken(s string, i int) (string, int, bool) {
	j := i
	for j < len(s) && (isBracket(s[j]) || isSpace(s[j])) {
		j++
	}
	core, n := matchCore(s[j:])
	if core != "." && core != "dot" {
		return "", 0, false
	}
	k := j + n
	for k < len(s) && (isBracket(s[k]) || isSpace(s[k])) {
		k++
	}
	if j == i && k == j+n {
		if core == "." {
			return ".", 1, true
		}
		return "", 0, false
	}
	return ".", k - i, true
}

// refangSchemes rewrites "hxxp://", "hXXps://", "fxp://" and similar to the
// real scheme. Only the letters right before "://" are looked at.
func refangSchemes(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := strings.Index(s, "://"); i >= 0; {
		start := i
		for start > 0 && isASCIILetter(s[start-1]) {
			start--
		}
		if rep, from := schemeFor(s[start:i]); rep != "" {
			b.WriteString(s[last : start+from])
			b.WriteString(rep)
			last = i
		}
		next := strings.Index(s[i+3:], "://")
		if next < 0 {
			break
		}
		i += 3 + next
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// schemeFor maps a defanged scheme at the end of word to its real name and
// returns where in word it starts.
func schemeFor(word string) (string, int) {
	for _, c := range []struct{ defanged, real string }{
		{"hxxps", "https"}, {"hxxp", "http"}, {"hxtps", "https"}, {"hxtp", "http"},
		{"htxps", "https"}, {"htxp", "http"}, {"fxp", "ftp"},
	} {
		n := len(c.defanged)
		if len(word) >= n && strings.EqualFold(word[len(word)-n:], c.defanged) {
			return c.real, len(word) - n
		}
	}
	return "", 0
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
