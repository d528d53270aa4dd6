package ioc

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Refang undoes the usual ways analysts defang indicators so they can be
// parsed. It rewrites hxxp, hxxps and fxp schemes in any case. It removes
// brackets around dots, colons, slashes and at-signs: "[.]", "(.)", "{.}",
// "<.>", "[dot]", "[:]", "[://]", "[/]", "[@]", also stacked or one-sided
// as in "[[.]]" or "[.x". It also maps backslash-escaped dots, fullwidth
// "．＠：／" and the ideographic full stop, and drops zero-width characters. "[at]", "(at)" and "{at}" become "@" only when a
// domain name follows, so "state[at]rest" stays as it is.
//
// Refang rewrites until nothing changes, so it is idempotent:
// Refang(Refang(s)) == Refang(s) for every s. Text without defanging is
// returned unchanged.
func Refang(s string) string {
	var buf refangBuffer
	return buf.refang(s)
}

// refangBuffer keeps the byte slices that refanging builds in, so that a
// caller refanging many strings allocates only each result. With results
// set, the results too are cut from shared blocks.
type refangBuffer struct {
	text, schemes []byte
	results       *stringBlocks
}

// refang is Refang with the slices of buf.
func (buf *refangBuffer) refang(s string) string {
	if !mayBeDefanged(s) {
		return s
	}
	for {
		r := buf.refangOnce(s)
		if r == s || !mayBeDefanged(r) {
			return r
		}
		s = r
	}
}

// mayBeDefanged is a fast pre-check: every rule starts at a bracket, a
// backslash, a non-ASCII rune, or a scheme ending in "://".
func mayBeDefanged(s string) bool {
	for i := 0; i < len(s); i++ {
		switch refangStart[s[i]] {
		case 1:
			return true
		case 2:
			if strings.HasPrefix(s[i:], "://") && defangedScheme(s, i) {
				return true
			}
		case 3:
			if underscoreScheme(s, i) {
				return true
			}
		}
	}
	return false
}

// refangStart is 1 for bytes that may start a refang rule, 2 for ':' and
// 3 for '_'.
var refangStart = func() (t [256]uint8) {
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = 1
	}
	for _, c := range "[](){}<>\\^" {
		t[c] = 1
	}
	t[':'] = 2
	t['_'] = 3
	return t
}()

// defangedScheme reports whether the "://" at s[i] follows a defanged or
// bracketed scheme, which appendRefangedSchemes would rewrite.
func defangedScheme(s string, i int) bool {
	if i > 0 && isBracket(s[i-1]) {
		return true
	}
	start := i
	for start > 0 && isASCIILetter(s[start-1]) {
		start--
	}
	rep, _ := schemeFor(s[start:i], false)
	return rep != ""
}

// underscoreScheme reports whether s[i:] starts with "__" written in place
// of "://" after a scheme ("http__example.com", "hxxps__evil.org"). The
// scheme must start the text or follow a byte that cannot be part of a
// name, and a label must follow, so "my_http__x" and "__init__" stay.
func underscoreScheme(s string, i int) bool {
	if !strings.HasPrefix(s[i:], "__") || i+2 >= len(s) || s[i+2] == '_' || !isLabelByte(s[i+2]) {
		return false
	}
	start := i
	for start > 0 && isASCIILetter(s[start-1]) {
		start--
	}
	if start == i || (start > 0 && isLabelByte(s[start-1])) {
		return false
	}
	word := s[start:i]
	if rep, from := schemeFor(word, true); rep != "" && from == 0 {
		return true
	}
	return false
}

func isBracket(c byte) bool { return bracketByte[c] }

var bracketByte = func() (t [256]bool) {
	for _, c := range "[](){}<>" {
		t[c] = true
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// refangPlain marks the bytes that refangOnce copies without a look at
// what follows, because none of them can start a rule.
var refangPlain = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = true
	}
	for _, c := range "\\_^.[](){}<>dpaeDPAE" {
		t[c] = false
	}
	return t
}()

// refangOnce applies every rule once, left to right. It returns s itself
// when no rule changes it.
func (buf *refangBuffer) refangOnce(s string) string {
	b := buf.text[:0]
	for i := 0; i < len(s); {
		// Bytes that start no rule are copied as one run.
		j := i
		for j < len(s) && refangPlain[s[j]] {
			j++
		}
		if j > i {
			b = append(b, s[i:j]...)
			i = j
			continue
		}
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

		if c == '_' && underscoreScheme(s, i) {
			// "http__example.com": appendRefangedSchemes then rewrites a
			// defanged scheme such as "hxxp://".
			b = append(b, "://"...)
			i += 2
			continue
		}

		if c == '^' && i+1 < len(s) && s[i+1] == '.' {
			// "example^.com"
			i++
			continue
		}

		if c == '[' || c == '(' {
			// "[www].example.com": a bracketed label before a dot.
			if n := bracketedLabel(s, i); n > 0 {
				b = append(b, s[i+1:i+n-1]...)
				i += n
				continue
			}
		}

		if c == '.' && (i+1 == len(s) || !isBracket(s[i+1]) && !isSpace(s[i+1])) {
			// matchToken finds no token at a dot unless a bracket or a
			// space follows it.
			b = append(b, c)
			i++
			continue
		}

		if isBracket(c) || c == '.' || (startsWord(c) && wordBeforeBracket(s, i)) {
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
			if isBracket(c) {
				// No token starts inside this bracket run either, because
				// matchToken reads the whole run as opening brackets. The
				// scan goes on at its last bracket, which may open
				// "[label].", and long runs stay linear.
				j := i + 1
				for j < len(s) && isBracket(s[j]) {
					j++
				}
				b = append(b, s[i:j-1]...)
				if j-1 > i {
					i = j - 1
					continue
				}
			}
		}

		b = append(b, c)
		i++
	}
	buf.text = b[:0]
	out, rewritten := appendRefangedSchemes(buf.schemes[:0], b)
	buf.schemes = out[:0]
	if rewritten {
		b = out
	}
	if string(b) == s {
		return s
	}
	if buf.results != nil {
		return buf.results.string(b)
	}
	return string(b)
}

// matchToken matches a defanged separator starting at s[i]: brackets, a
// core ("." "dot" ":" "://" "/" "//" "@" "at" "-", see matchCore) and
// brackets, with at least one bracket. It returns the replacement, the
// number of bytes consumed and whether the core was bracketed on both sides.
// Spaces may surround the core only when it is bracketed on both sides, so
// "a. [b" is left alone while "example [ . ] com" is not.
func matchToken(s string, i int) (rep string, n int, both, ok bool) {
	j := i
	for j < len(s) && isBracket(s[j]) {
		j++
	}
	open := j - i
	spaceBefore := j
	for j < len(s) && isSpace(s[j]) {
		j++
	}
	spaced := j != spaceBefore

	core, coreLen := matchCore(s[j:])
	if coreLen == 0 || (spaced && open == 0) {
		return "", 0, false, false
	}
	j += coreLen

	end := j
	for end < len(s) && isSpace(s[end]) {
		end++
	}
	spaced = spaced || end != j
	closeStart := end
	for end < len(s) && isBracket(s[end]) {
		if isOpener(s[end]) && startsToken(s, end) {
			// "[:][:]": this bracket opens the next token.
			break
		}
		end++
	}
	closeN := end - closeStart
	if closeN == 0 {
		end = j
	}
	both = open > 0 && closeN > 0
	if spaced && !both {
		return "", 0, false, false
	}

	switch {
	case open == 0 && closeN == 0:
		return "", 0, false, false
	case core == "dot" || core == "at":
		// Words need a bracket on both sides, except a dot word right
		// after a label ("exampledot]com"), which is common in the wild.
		if closeN == 0 || (open == 0 && (core == "at" || i == 0 || !isLabelByte(s[i-1]))) {
			return "", 0, false, false
		}
	case !both:
		// A one-sided bracket counts only around a dot or a slash between
		// labels: "[.x", "x.]y", "example.com[/test".
		if core != "." && core != "/" {
			return "", 0, false, false
		}
		// "http://[2620:fe::fe]/x": the bracket closes an IPv6 literal.
		if open == 1 && s[i] == ']' && closesIPv6Literal(s, i) {
			return "", 0, false, false
		}
		if open == 0 && (i == 0 || !isLabelByte(s[i-1])) {
			return "", 0, false, false
		}
		if closeN == 0 && (end >= len(s) || !isLabelByte(s[end])) {
			return "", 0, false, false
		}
	}

	if both {
		for end < len(s) && isSpace(s[end]) {
			end++
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
	return rep, end - i, both, true
}

// closesIPv6Literal reports whether the ']' at s[i] ends an RFC 3986 IPv6
// literal such as "[2001:db8::1]" or "[fe80::1%25eth0]": an opening '['
// before it with only address characters, two colons at least, between.
func closesIPv6Literal(s string, i int) bool {
	colons := 0
	for k := i - 1; k >= 0 && i-k <= 64; k-- {
		switch c := s[k]; {
		case c == '[':
			return colons >= 2
		case c == ':':
			colons++
		case c == '.' || c == '%' || isLabelByte(c):
		default:
			return false
		}
	}
	return false
}

func isOpener(c byte) bool { return c == '[' || c == '(' || c == '{' || c == '<' }

// startsToken reports whether the opening brackets at s[i] are followed by a
// separator core.
func startsToken(s string, i int) bool {
	for i < len(s) && isOpener(s[i]) {
		i++
	}
	_, n := matchCore(s[i:])
	return n > 0
}

// dotWords and atWords are the words written in brackets for "." and "@",
// in English, German and Spanish ("[punkt]", "(punto)", "[arroba]") and
// French ("(et)").
var (
	dotWords = []string{"dot", "punkt", "punto"}
	atWords  = []string{"arroba", "at", "et"}
)

// matchCore matches the separator at the start of s and returns its
// canonical form ("dot" and "at" for the words) and length.
func matchCore(s string) (string, int) {
	switch {
	case strings.HasPrefix(s, "://"):
		return "://", 3
	case strings.HasPrefix(s, "//"):
		return "//", 2
	case s == "":
		return "", 0
	}
	switch s[0] {
	case '.', ':', '/', '@', '-':
		return s[:1], 1
	}
	for _, w := range dotWords {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) {
			return "dot", len(w)
		}
	}
	for _, w := range atWords {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) {
			return "at", len(w)
		}
	}
	return "", 0
}

// wordBeforeBracket is a cheap filter for matchToken at a letter: a token
// that starts with a word ("dot]") needs a bracket within the next 7 bytes.
func wordBeforeBracket(s string, i int) bool {
	for j := i + 3; j < len(s) && j <= i+7; j++ {
		if isBracket(s[j]) || isSpace(s[j]) {
			return true
		}
	}
	return false
}

// startsWord reports whether c can start a dot word or at word.
func startsWord(c byte) bool {
	switch c | 0x20 {
	case 'd', 'p', 'a', 'e':
		return true
	}
	return false
}

// bracketedLabel returns the length of "[label]" or "(label)" at s[i] when a
// dot follows it, else 0.
func bracketedLabel(s string, i int) int {
	closer := byte(']')
	if s[i] == '(' {
		closer = ')'
	}
	j := i + 1
	for j < len(s) && j-i <= 64 && isLabelByte(s[j]) && s[j] < utf8.RuneSelf {
		j++
	}
	if j == i+1 || j+1 >= len(s) || s[j] != closer || s[j+1] != '.' {
		return 0
	}
	if i > 0 && isLabelByte(s[i-1]) {
		return 0
	}
	return j + 1 - i
}

func isLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= utf8.RuneSelf
}

// domainFollows reports whether s starts with a domain name whose last label
// is a public top-level domain, possibly itself defanged.
func domainFollows(s string) bool {
	// A domain name has at most 253 bytes; defanged separators add a few
	// bytes per label. The bound keeps many "[at]" in a row linear.
	if len(s) > maxDefangedDomain {
		s = s[:maxDefangedDomain]
	}
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

const maxDefangedDomain = 1024

// refangDots replaces only dot tokens; used for the look-ahead of the at-rule.
func refangDots(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if isBracket(s[i]) || s[i] == '.' || startsWord(s[i]) {
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

// appendRefangedSchemes appends s to dst with "hxxp://", "hXXps://",
// "fxp://", "xxxx://" and bracketed schemes ("[http]://", "http]://")
// rewritten to the real scheme. Only the letters right before "://" are
// looked at. It reports whether it rewrote a scheme, and appends nothing
// when it did not.
func appendRefangedSchemes(dst, s []byte) ([]byte, bool) {
	i := bytes.Index(s, schemeSeparator)
	if i < 0 {
		return dst, false
	}
	last := 0
	for {
		// Closing brackets between the scheme and "://".
		j := i
		for j > last && isBracket(s[j-1]) {
			j--
		}
		start := j
		for start > last && isASCIILetter(s[start-1]) {
			start--
		}
		rep, from := schemeFor(string(s[start:j]), j != i)
		if rep != "" {
			from += start
			if j != i {
				// Opening brackets before a bracketed scheme go too.
				for from > last && isBracket(s[from-1]) {
					from--
				}
			}
			dst = append(dst, s[last:from]...)
			dst = append(dst, rep...)
			last = i
		}
		next := bytes.Index(s[i+3:], schemeSeparator)
		if next < 0 {
			break
		}
		i += 3 + next
	}
	if last == 0 {
		return dst, false
	}
	return append(dst, s[last:]...), true
}

var schemeSeparator = []byte("://")

// schemeFor maps a defanged scheme at the end of word to its real name and
// returns where in word it starts. A bracketed word may also be a real
// scheme, whose brackets are then dropped.
func schemeFor(word string, bracketed bool) (string, int) {
	for _, c := range []struct{ defanged, real string }{
		{"hxxps", "https"}, {"hxxp", "http"}, {"hxtps", "https"}, {"hxtp", "http"},
		{"htxps", "https"}, {"htxp", "http"}, {"fxp", "ftp"},
		{"xxxxs", "https"}, {"xxxx", "http"},
	} {
		n := len(c.defanged)
		if len(word) >= n && strings.EqualFold(word[len(word)-n:], c.defanged) {
			return c.real, len(word) - n
		}
	}
	if bracketed {
		for _, real := range []string{"https", "http", "ftp"} {
			if strings.EqualFold(word, real) {
				return real, 0
			}
		}
	}
	return "", 0
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
