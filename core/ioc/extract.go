package ioc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// DefaultMaxLineBytes is the longest line Extract accepts when
// ExtractOptions.MaxLineBytes is zero.
const DefaultMaxLineBytes = 1 << 20

// ExtractOptions selects what Extract reports.
type ExtractOptions struct {
	// All also reports the host of every URL as a domain or IP address.
	All bool
	// Invalid also reports candidates that look like indicators but are
	// not valid, such as a 65-character hex run or an octet above 255.
	Invalid bool
	// Types keeps only these types; nil or empty keeps all.
	Types []Type
	// MaxLineBytes bounds one line, end of line included. A longer line
	// stops extraction with a *LineTooLongError unless SkipLongLines is
	// set. Zero means DefaultMaxLineBytes.
	MaxLineBytes int
	// SkipLongLines skips a line longer than MaxLineBytes instead of
	// stopping, and reports it as a Match whose Invalid.Reason is "line N
	// longer than M bytes: skipped" and whose Invalid.Input is the first
	// 32 bytes of the line followed by "...". The report is made even
	// without Invalid and whatever Types contains, because the skipped line
	// may contain indicators.
	SkipLongLines bool
}

// Match is one result of Extract: a valid indicator (IOC.Type set) or, with
// ExtractOptions.Invalid, an invalid candidate (Invalid set). IOC.Input,
// IOC.Value and Invalid.Input up to 4 KiB long are cut from 64 KiB blocks
// shared with other matches of the same call, so keeping one of them keeps
// its whole block in memory.
type Match struct {
	IOC     IOC
	Invalid *InvalidError
	// Line is the 1-based line where the value was first seen.
	Line int
}

// LineTooLongError reports a line longer than ExtractOptions.MaxLineBytes.
type LineTooLongError struct {
	Line int
	Max  int
	// Option names the setting that raises the limit in the caller's
	// terms, such as a command-line flag; empty means "MaxLineBytes".
	Option string
}

func (e *LineTooLongError) Error() string {
	opt := e.Option
	if opt == "" {
		opt = "MaxLineBytes"
	}
	return fmt.Sprintf("line %d is longer than %d bytes: raise %s or split the input", e.Line, e.Max, opt)
}

// skippedPrefix is how many bytes of a skipped line its report shows.
const skippedPrefix = 32

// Extract finds indicators in free text (reports, logs, emails, CSV,
// Markdown and AsciiDoc tables), defanged or not, in one streaming pass,
// and calls fn once per distinct value in first-seen order. Distinct means
// distinct normalised value: "EVIL[.]com" and "evil.com" are one domain.
//
// Lines may end in LF or CRLF, and a UTF-8 byte order mark at the start is
// skipped. A URL's host is reported separately only with opt.All. The local
// part of an email address is skipped, and its domain is reported. File
// names whose extension is not a public top-level domain ("invoice.pdf")
// are not domains, nor are names after a backslash or inside a path.
// Terminal escape sequences (colour codes) are removed before tokenising.
// Quoted-printable text is decoded once the input shows that it is
// quoted-printable: a line ending in a soft line break "=" that also contains
// an "=XX" escape, or a "Content-Transfer-Encoding: quoted-printable"
// header. From there on soft line breaks join lines, and a match in joined
// lines has the number of the first.
// Extract stops at the first error from fn or r and returns it.
func Extract(r io.Reader, opt ExtractOptions, fn func(Match) error) error {
	e := newExtractor(opt, fn)
	max := opt.MaxLineBytes
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	e.max = max
	br := bufio.NewReaderSize(r, min(max, 64<<10))
	// Every line that fits in the buffer is within the limit.
	whole := br.Size() <= max
	var long []byte
	physical := 0
	for {
		if whole {
			if block := takeLines(br); block != "" {
				if err := e.feedLines(&physical, block); err != nil {
					return err
				}
				continue
			}
		}

		line, tooLong, err := readLine(br, max, opt.SkipLongLines, &long)
		if len(line) > 0 || tooLong {
			physical++
		}

		var ferr error
		switch {
		case tooLong && !opt.SkipLongLines:
			return &LineTooLongError{Line: physical, Max: max}
		case tooLong:
			ferr = e.skipLine(physical, line)
		case len(line) > 0:
			ferr = e.feed(physical, string(line))
		}
		if ferr == nil {
			ferr = e.flush()
		}
		if ferr != nil {
			return ferr
		}

		if err == io.EOF {
			if err := e.flushJoined(); err != nil {
				return err
			}
			return e.flush()
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", physical+1, err)
		}
	}
}

// takeLines returns the complete lines in the reader's buffer as one
// string, or "" when the buffer contains no end of line. One string for
// many lines saves an allocation per token, because tokens and the values
// parsed from them are substrings of it until report copies the values
// it keeps.
func takeLines(br *bufio.Reader) string {
	n := br.Buffered()
	if n == 0 {
		return ""
	}
	buf, _ := br.Peek(n)
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		return ""
	}
	block := string(buf[:end+1])
	br.Discard(end + 1)
	return block
}

// feedLines feeds each line of block, end of line included, counts them
// in *physical and reports the matches found.
func (e *extractor) feedLines(physical *int, block string) error {
	for block != "" {
		end := strings.IndexByte(block, '\n') + 1
		*physical++
		if err := e.feed(*physical, block[:end]); err != nil {
			return err
		}
		block = block[end:]
	}
	return e.flush()
}

// readLine reads one line, end of line included, using *buf for lines
// longer than the reader's buffer. A line longer than limit sets tooLong
// and returns the first skippedPrefix bytes. With skip, the rest of that
// line is read and dropped first, so memory stays bounded by limit.
func readLine(br *bufio.Reader, limit int, skip bool, buf *[]byte) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		switch {
		case tooLong:
			// Dropping the rest of a skipped line.
		case len(*buf)+len(chunk) > limit:
			tooLong = true
			keep := max(0, min(len(chunk), skippedPrefix-len(*buf)))
			*buf = append((*buf)[:min(len(*buf), skippedPrefix)], chunk[:keep]...)
			if !skip {
				return *buf, true, nil
			}
		case full || len(*buf) > 0:
			*buf = append(*buf, chunk...)
		default:
			return chunk, false, err
		}
		if !full {
			return *buf, tooLong, err
		}
	}
}

// ExtractString is Extract over a string, collecting the matches.
func ExtractString(s string, opt ExtractOptions) ([]Match, error) {
	var out []Match
	err := Extract(strings.NewReader(s), opt, func(m Match) error {
		out = append(out, m)
		return nil
	})
	return out, err
}

type extractor struct {
	opt  ExtractOptions
	fn   func(Match) error
	line int
	want map[Type]bool             // nil: every type
	seen [len(typeOrder)]*valueSet // values seen, by typeIndex
	// seenInvalid holds the invalid candidates already reported.
	seenInvalid *valueSet
	tlds        map[string]bool // cache of isPublicTLD by lowercase label
	err         error           // first error from fn
	max         int             // the line limit in bytes

	// Quoted-printable state: qp is set once the input looks
	// quoted-printable, joined contains the lines ended by soft line breaks, and
	// joinedLine is the number of its first line.
	qp         bool
	joined     []byte
	joinedLine int
	// scratch is a reused buffer for a decoded quoted-printable line, and
	// scratchEscape for a line without escape sequences.
	scratch       []byte
	scratchEscape []byte

	// raw is the current token as found; refanged is set when Refang
	// changed it, so Input must be mapped back to the text as found.
	raw          string
	refanged     bool
	refangedText string

	// pending are the matches found since the last flush.
	pending []pendingMatch
	// refangBuf is reused by every refang of a token.
	refangBuf refangBuffer
}

func newExtractor(opt ExtractOptions, fn func(Match) error) *extractor {
	e := &extractor{opt: opt, fn: fn, seenInvalid: newValueSet(), tlds: map[string]bool{}}
	e.refangBuf.results = &stringBlocks{}
	for i := range e.seen {
		e.seen[i] = newValueSet()
	}
	if len(opt.Types) > 0 {
		e.want = map[Type]bool{}
		for _, t := range opt.Types {
			e.want[t] = true
		}
	}
	return e
}

// Byte classes for the line scanner.
const (
	clsDelim   = 1 << iota // ends a token: white space, quotes, pipes, commas
	clsHex                 // 0-9 a-f A-F
	clsSpecial             // needs a closer look: . : @ brackets backslash
	clsEscape              // ESC, which starts a terminal escape sequence
	clsAngle               // '<', a delimiter that may open "<.>"
	clsRefang              // may start a refang rule (see refangStart)
)

var byteClass = func() (t [256]uint8) {
	for _, c := range " \t\r\n\v\f\"'`|,;<>" {
		t[c] = clsDelim
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clsHex
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = clsHex
		t[c-'a'+'A'] = clsHex
	}
	for _, c := range ".:@[](){}\\/" {
		t[c] = clsSpecial
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = clsSpecial
	}
	t[esc] = clsEscape
	t['<'] |= clsAngle
	for c := range t {
		if refangStart[c] != 0 {
			t[c] |= clsRefang
		}
	}
	return t
}()

// scanLine splits one line into tokens at white space and at characters
// that never occur inside an indicator in running text (quotes, backticks,
// table pipes, commas, semicolons, angle brackets). Most tokens are plain
// words and are rejected here without allocating.
func (e *extractor) scanLine(line string) error {
	n := len(line)
	for i := 0; i < n; {
		for i < n && byteClass[line[i]]&clsDelim != 0 {
			i++
		}
		start := i
		// or and and collect the classes of the token's bytes.
		or, and := uint8(0), uint8(0xff)
		var stop uint8 // class of the byte that ended the token
		for i < n {
			c := byteClass[line[i]]
			if c&clsDelim != 0 {
				stop = c
				break
			}
			or |= c
			and &= c
			i++
		}
		hexOnly, angled := and&clsHex != 0, false

		// One test per token for the rare cases keeps plain text fast.
		if (or|stop)&(clsEscape|clsAngle) != 0 {
			if or&clsEscape != 0 {
				// ESC occurs only inside tokens, so the line is clean up
				// to start. The rest is scanned again without escape
				// sequences.
				buf := append(e.scratchEscape[:0], line[:start]...)
				e.scratchEscape = appendWithoutEscapes(buf, line[start:])
				line = string(e.scratchEscape)
				n, i = len(line), start
				continue
			}
			if i > start {
				if end := extendOverAngles(line, i); end != i {
					i, or, hexOnly, angled = end, or|clsSpecial|clsRefang, false, true
				}
			}
		}
		if start == i {
			continue
		}
		// The test before the call is the first one of joinSpacedSeparators,
		// which most tokens fail.
		if i+1 < n && isSpace(line[i]) && (isSpace(line[i+1]) || isOpener(line[i+1])) {
			if end := joinSpacedSeparators(line, i); end != i {
				i, or = end, or|clsSpecial|clsRefang
			}
		}
		tok := line[start:i]
		if or&clsSpecial == 0 && !(hexOnly && len(tok) >= minHexCandidate) {
			if !hasLongHexRun(tok) {
				continue
			}
		}
		if or&clsSpecial != 0 && !angled && !worthALook(tok) {
			continue
		}
		e.token(tok, or&clsRefang != 0)
		if e.err != nil {
			return e.err
		}
	}
	return nil
}

// joinSpacedSeparators extends a token that ends at i over separators
// written as their own words ("example [.] com", "me (at) example.com") and
// the word after each. It returns the new end.
func joinSpacedSeparators(line string, i int) int {
	for {
		j := i
		for j < len(line) && isSpace(line[j]) {
			j++
		}
		if j == i || j >= len(line) || !isOpener(line[j]) {
			return i
		}
		k := j
		if line[j] == '<' {
			k = max(j, angleSeparatorEnd(line, j, false))
		}
		for k < len(line) && byteClass[line[k]]&clsDelim == 0 {
			k++
		}
		m := k
		for m < len(line) && isSpace(line[m]) {
			m++
		}
		end := m
		for end < len(line) && byteClass[line[end]]&clsDelim == 0 {
			end++
		}
		if end == m {
			return i
		}
		// The word after the separator takes part, since "(at)" counts
		// only before a domain name.
		sep := line[j:end]
		if _, n, both, ok := matchToken(sep, 0); !ok || !both || n < k-j {
			return i
		}
		i = end
	}
}

// extendOverAngles returns the end of a token that has reached the "<" at
// line[i], extended over separators defanged with angle brackets. Angle
// brackets end tokens in HTML and e-mail text, but "evil<.>com" is one
// name.
func extendOverAngles(line string, i int) int {
	for i < len(line) && line[i] == '<' {
		end := angleSeparatorEnd(line, i, true)
		if end == 0 {
			break
		}
		i = end
		for i < len(line) && byteClass[line[i]]&clsDelim == 0 {
			i++
		}
	}
	return i
}

// angleSeparatorEnd returns the end of a separator defanged with angle
// brackets ("<.>", "<dot>", "<://>") at line[i], or 0 when there is none.
// With glued, a token byte must follow, as in "evil<.>com".
func angleSeparatorEnd(line string, i int, glued bool) int {
	j := i + 1
	for j < len(line) && j-i <= 8 && line[j] != '>' && byteClass[line[j]]&clsDelim == 0 {
		j++
	}
	if j >= len(line) || line[j] != '>' || j == i+1 {
		return 0
	}
	core, n := matchCore(line[i+1 : j])
	if core == "" || n != j-i-1 {
		return 0
	}
	if glued && (j+1 >= len(line) || byteClass[line[j+1]]&clsDelim != 0) {
		return 0
	}
	return j + 1
}

// minHexCandidate is the shortest hex run reported as an invalid hash: a
// truncated or padded hash is still long, while shorter runs are mostly
// numbers, colours and words like "deadbeef".
const minHexCandidate = 24

func hasLongHexRun(tok string) bool {
	if len(tok) < minHexCandidate {
		return false
	}
	run := 0
	for i := 0; i < len(tok); i++ {
		if byteClass[tok[i]]&clsHex != 0 {
			run++
			if run >= minHexCandidate {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// worthALook rejects tokens whose only special characters are sentence
// punctuation at the ends ("end.", "Note:", "(see").
func worthALook(tok string) bool {
	i, j := 0, len(tok)
	for i < j && isEdgePunct(tok[j-1]) {
		j--
	}
	for i < j && isEdgePunct(tok[i]) && tok[i] != ':' && tok[i] != '.' {
		// "::1" and ".onion" names keep their first character.
		i++
	}
	for k := i; k < j; k++ {
		if byteClass[tok[k]]&clsSpecial != 0 {
			return true
		}
	}
	return hasLongHexRun(tok)
}

func isEdgePunct(c byte) bool {
	switch c {
	case '.', ':', '!', '?', '(', ')', '[', ']', '{', '}', '*', '+', '=':
		return true
	}
	return false
}

// maxRefangToken bounds the tokens that are refanged. Longer runs without
// white space are data blobs, not defanged text, and refanging them could
// cost time quadratic in the "[at]" they contain.
const maxRefangToken = 16 << 10

// token extracts every indicator from one token. Without mayRefang, no
// byte of raw can start a refang rule, so Refang would return raw.
func (e *extractor) token(raw string, mayRefang bool) {
	s := raw
	if mayRefang && len(raw) <= maxRefangToken {
		s = e.refangBuf.refang(raw)
	}
	e.raw, e.refanged, e.refangedText = raw, s != raw, s

	if i := strings.Index(s, "://"); i >= 0 {
		start := schemeStart(s, i)
		e.segment(s[:start])
		e.url(s[start:])
		return
	}
	e.segment(s)
}

// schemeStart returns where the scheme before "://" at i begins: the
// longest known scheme at the end of the letter run, so "--~Chttp://x"
// yields "http://x".
func schemeStart(s string, i int) int {
	start := i
	for start > 0 && isASCIILetter(s[start-1]) {
		start--
	}
	word := strings.ToLower(s[start:i])
	for _, sc := range []string{"https", "http", "ftp"} {
		if strings.HasSuffix(word, sc) {
			return i - len(sc)
		}
	}
	return start
}

// url handles a token part that starts with a scheme.
func (e *extractor) url(s string) {
	u := trimURL(s)
	if strings.Index(u, "://") == len(u)-3 {
		return
	}
	ioc, reason := detect(u)
	if reason != "" {
		e.invalid(u, reason, URL)
		return
	}
	if ioc.Type != URL {
		return
	}
	ioc.Input = u
	e.emit(ioc)
	if e.opt.All {
		e.emitHost(ioc.Value)
	}
}

// emitHost reports the host of a normalised URL as a domain or address.
func (e *extractor) emitHost(u string) {
	rest := u[strings.Index(u, "://")+3:]
	end := strings.IndexAny(rest, "/?#")
	if end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	if c := strings.LastIndexByte(rest, ':'); c >= 0 && !strings.HasSuffix(rest, "]") {
		rest = rest[:c]
	}
	rest = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	if ioc, err := Parse(rest); err == nil {
		e.emit(ioc)
	}
}

// trimURL cuts what running text glues to the end of a URL: sentence
// punctuation, closing brackets without an opening one inside the URL, and
// Unicode quotes or spaces.
func trimURL(s string) string {
	for i, r := range s {
		if r >= utf8.RuneSelf && (unicode.IsSpace(r) || unicode.Is(unicode.Quotation_Mark, r) || unicode.Is(unicode.Pi, r) || unicode.Is(unicode.Pf, r)) {
			s = s[:i]
			break
		}
	}
	for len(s) > 0 {
		c := s[len(s)-1]
		switch c {
		case '.', ',', ';', ':', '!', '?', '*', '\\':
			s = s[:len(s)-1]
			continue
		case ')', ']', '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if strings.Count(s, string(open)) < strings.Count(s, string(c)) {
				s = s[:len(s)-1]
				continue
			}
		}
		break
	}
	return s
}

// segment extracts indicators from a token part without a scheme. It
// walks atoms: runs of letters, digits, dots, hyphens, underscores and
// colons.
func (e *extractor) segment(s string) {
	inPath := false
	first := true
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if !isAtomRune(r) {
			if r == '/' {
				inPath = true
			}
			i += size
			continue
		}
		j := i
		for j < len(s) {
			// ASCII bytes take the table alone, without a call.
			if c := s[j]; c < utf8.RuneSelf {
				if !atomByte[c] {
					break
				}
				j++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[j:])
			if !isAtomRune(r) {
				break
			}
			j += size
		}
		var prev, next byte
		if i > 0 {
			prev = s[i-1]
		}
		if j < len(s) {
			next = s[j]
		}

		// A host followed by a path is a URL without a scheme.
		if first && next == '/' && prev != '\\' && prev != '/' {
			if e.schemeless(s[i:]) {
				return
			}
		}
		first = false

		e.atom(s[i:j], prev, next, inPath)
		i = j
	}
}

// atomByte marks the ASCII bytes of atoms.
var atomByte = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		b := byte(c)
		t[c] = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '-' || b == '_' || b == ':'
	}
	return t
}()

func isAtomRune(r rune) bool {
	if r < utf8.RuneSelf {
		return atomByte[r]
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// schemeless reports a "host/path" candidate as a URL with http:// (or a
// CIDR range as invalid). It returns false when the text before the slash
// is not a host, so the caller goes on with atoms.
func (e *extractor) schemeless(s string) bool {
	slash := strings.IndexByte(s, '/')
	host := strings.TrimLeft(s[:slash], ".-_")
	hostOnly := host
	if c := strings.LastIndexByte(host, ':'); c >= 0 && isDigits(host[c+1:]) {
		hostOnly = host[:c]
	}

	// "198.51.100.0/24" is a network, not a URL.
	if isDottedDigits(hostOnly) && isDigits(s[slash+1:]) && hostOnly == host {
		if _, reason := parseIPv4(hostOnly); reason == "" {
			e.invalid(host+s[slash:], "a network range (CIDR) is not a single address", IPv4)
			return true
		}
		return false
	}

	if !isDottedDigits(hostOnly) && !e.tldOK(hostOnly) {
		return false
	}
	if _, reason := parseHost(hostOnly); reason != "" {
		return false
	}

	// "evil.com/" is just the host.
	u := trimURL(host + s[slash:])
	if u == host+"/" || u == host {
		e.atom(host, 0, '/', false)
		return true
	}

	ioc, reason := detect("http://" + u)
	if reason != "" {
		return false
	}
	ioc.Input = u
	e.emit(ioc)
	if e.opt.All {
		e.emitHost(ioc.Value)
	}
	return true
}

// atom classifies one run of letters, digits, dots, hyphens, underscores
// and colons. prev and next are the bytes around it (0 at the ends).
func (e *extractor) atom(a string, prev, next byte, inPath bool) {
	a = trimLabelPunct(a)
	switch {
	case a == "":
	case strings.IndexByte(a, ':') >= 0:
		e.colonAtom(a, prev, next, inPath)
	case isHex(a):
		e.hexAtom(a)
	case inPath || prev == '\\' || next == '@':
		// Local parts of email addresses, Windows paths and path segments
		// are not hosts, but "<sha256>.exe" still names a hash.
		e.hashLabels(a)
	case isDottedDigits(a):
		e.ipv4Atom(a)
	case strings.IndexByte(a, '.') >= 0:
		e.domainAtom(a)
	}
}

// ipv4Atom reports a dotted quad, valid or not. Other counts of numbers
// are versions, dates and section numbers.
func (e *extractor) ipv4Atom(a string) {
	if strings.Count(a, ".") != 3 {
		return
	}
	ioc, reason := parseIPv4(a)
	if reason != "" {
		e.invalid(a, reason, IPv4)
		return
	}
	ioc.Input = a
	e.emit(ioc)
}

// domainAtom reports a name whose last label is a public TLD. Other dotted
// words are file names, code identifiers or abbreviations.
//
// NOTE: file names whose extension is also a TLD ("work3.py", "ton.zip",
// "README.md") are reported as domains, because the text alone cannot tell
// them apart from hosts such as "files.zip".
func (e *extractor) domainAtom(a string) {
	if !e.tldOK(a) {
		e.hashLabels(a)
		return
	}
	d, reason := normalizeDomain(a)
	if reason != "" {
		e.invalid(a, reason, Domain)
		return
	}
	e.emit(IOC{Input: a, Type: Domain, Value: d})
}

// trimLabelPunct trims dots, hyphens and underscores at both ends, which
// sentences and markup glue to names ("evil.com.", "_name_"). A single
// leading underscore stays when the name has no trailing one and more
// labels follow, because DNS service and policy names start with one
// ("_jabber._tcp.gmail.com", "_dmarc.example.org").
func trimLabelPunct(s string) string {
	i, j := 0, len(s)
	for j > i && isLabelPunct(s[j-1]) {
		j--
	}
	emphasis := j < len(s) && s[j] == '_'
	for i < j && isLabelPunct(s[i]) {
		if s[i] == '_' && !emphasis && (i == 0 || s[i-1] != '_') && i+1 < j && !isLabelPunct(s[i+1]) &&
			strings.IndexByte(s[i:j], '.') >= 0 {
			break
		}
		i++
	}
	return s[i:j]
}

func isLabelPunct(c byte) bool { return c == '.' || c == '-' || c == '_' }

// tldOK reports whether the last label of host is a public TLD, cached.
func (e *extractor) tldOK(host string) bool {
	last := strings.TrimSuffix(host, ".")
	last = last[strings.LastIndexByte(last, '.')+1:]
	if ok, hit := e.tlds[last]; hit {
		return ok
	}
	l := strings.ToLower(last)
	if !isASCII(l) {
		a, err := idna.Punycode.ToASCII(l)
		if err != nil {
			e.tlds[strings.Clone(last)] = false
			return false
		}
		l = a
	}
	ok := isPublicTLD(l)
	if len(e.tlds) < 4096 {
		// The key is copied because last may point into a block of lines.
		e.tlds[strings.Clone(last)] = ok
	}
	return ok
}

// hashLabels reports hashes used as file names: "<sha256>.exe".
func (e *extractor) hashLabels(a string) {
	if len(a) < 32 {
		return
	}
	for _, l := range strings.Split(a, ".") {
		if isHex(l) && (len(l) == 32 || len(l) == 40 || len(l) == 64) {
			e.hexAtom(l)
		}
	}
}

func (e *extractor) hexAtom(a string) {
	if len(a) < minHexCandidate {
		return
	}
	ioc, reason := parseHash(a)
	if reason != "" {
		if hasDigitAndLetter(a) {
			e.invalid(a, reason, SHA256)
		}
		return
	}
	ioc.Input = a
	e.emit(ioc)
}

func hasDigitAndLetter(s string) bool {
	d, l := false, false
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = true
		} else {
			l = true
		}
	}
	return d && l
}

// colonAtom handles atoms with colons: IPv6 addresses, or host:port,
// label:value and times, which are split at the colons.
func (e *extractor) colonAtom(a string, prev, next byte, inPath bool) {
	if v6, ok := ipv6Candidate(a); ok {
		if !inPath && prev != '\\' {
			ioc := addrIOC(v6)
			ioc.Input = a
			e.emit(ioc)
		}
		return
	}
	for k := 0; ; k++ {
		p, rest, more := strings.Cut(a, ":")
		pv, nx := byte(':'), byte(':')
		if k == 0 {
			pv = prev
		}
		if !more {
			nx = next
		}
		e.atom(p, pv, nx, inPath)
		if !more {
			return
		}
		a = rest
	}
}

// ipv6Candidate parses a as an IPv6 address. Times ("12:30:45"), MAC
// addresses and longer colon-separated fingerprints fail here because
// netip requires exactly eight groups or a "::".
func ipv6Candidate(a string) (netip.Addr, bool) {
	// Cheap shape check first: only hex digits, colons and the dots of an
	// embedded IPv4, and either "::" or all groups. Times such as
	// "12:30:45" fail here without the cost of a parse error.
	colons := 0
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c == ':':
			colons++
		case c == '.' || byteClass[c]&clsHex != 0:
		default:
			return netip.Addr{}, false
		}
	}
	full := colons == 7 || (colons == 6 && strings.IndexByte(a, '.') >= 0)
	if colons < 2 || (!full && !strings.Contains(a, "::")) {
		return netip.Addr{}, false
	}
	for _, cand := range []string{a, strings.TrimSuffix(a, ":")} {
		if addr, err := netip.ParseAddr(cand); err == nil && addr.Is6() && strings.ContainsAny(cand, "0123456789abcdefABCDEF") {
			return addr, true
		}
	}
	return netip.Addr{}, false
}

func (e *extractor) wanted(t Type) bool {
	return e.want == nil || e.want[t] || (t == SHA256 && (e.want[MD5] || e.want[SHA1]))
}

// typeOrder indexes the per-type sets; an unknown type shares slot 0.
var typeOrder = [...]Type{"", MD5, SHA1, SHA256, IPv4, IPv6, Domain, URL}

func typeIndex(t Type) int {
	for i, u := range typeOrder {
		if u == t {
			return i
		}
	}
	return 0
}

// emit queues ioc to be reported unless its value was reported before.
func (e *extractor) emit(ioc IOC) {
	if e.err != nil || (e.want != nil && !e.want[ioc.Type]) {
		return
	}
	e.queue(pendingMatch{ioc: ioc, set: e.seen[typeIndex(ioc.Type)]})
}

// invalid queues a candidate that is not valid. kind is the type it
// resembles, which the type filter uses (any hash type for hex runs).
func (e *extractor) invalid(input, reason string, kind Type) {
	if e.err != nil || !e.opt.Invalid || !e.wanted(kind) {
		return
	}
	e.queue(pendingMatch{ioc: IOC{Input: input}, invalid: true, reason: reason, set: e.seenInvalid})
}

// pendingMatch is a match that is found but not yet compared with the
// values already reported.
type pendingMatch struct {
	// ioc is the valid indicator, or for an invalid candidate only its
	// Input. The strings may point into the current block of lines.
	ioc     IOC
	invalid bool
	reason  string
	line    int
	set     *valueSet // the values of the match's type, or seenInvalid
	hash    uint64    // the hash of the value in set
	// The token state that inputFor needs.
	raw, refangedText string
	refanged          bool
	// probe is the table slot read ahead by flush. It is not used again.
	probe uint64
}

// maxPending bounds the matches queued before a flush, which keeps the
// queue small on a long line full of indicators.
const maxPending = 512

func (e *extractor) queue(p pendingMatch) {
	p.line = e.line
	p.raw, p.refangedText, p.refanged = e.raw, e.refangedText, e.refanged
	e.pending = append(e.pending, p)
	if len(e.pending) >= maxPending {
		e.err = e.flush()
	}
}

// flush reports the queued matches whose values are new, in the order they
// were found, and returns the first error from fn. On dense text most
// values are new, and the table slot of each is a cache miss. The first
// pass reads all slots of the batch one after another, so that those
// misses overlap, and the second inserts and reports.
func (e *extractor) flush() error {
	batch := e.pending
	for i := range batch {
		p := &batch[i]
		p.hash = p.set.hashOf(p.key())
		p.set.prepare()
	}
	for i := range batch {
		p := &batch[i]
		p.probe = p.set.slot(p.hash)
	}
	for i := range batch {
		if e.err != nil {
			break
		}
		e.report(&batch[i])
	}
	clear(batch)
	e.pending = batch[:0]
	return e.err
}

// key returns the string under which p.set stores p, which is the input
// for an invalid candidate and the value otherwise.
func (p *pendingMatch) key() string {
	if p.invalid {
		return p.ioc.Input
	}
	return p.ioc.Value
}

// report passes p to fn unless its value was reported before. The strings
// passed are copies owned by the value set, so they do not keep the block
// of lines alive.
func (e *extractor) report(p *pendingMatch) {
	value, isNew := p.set.addHashed(p.key(), p.hash)
	if !isNew {
		return
	}
	input := p.ioc.Input
	if p.refanged {
		input = inputFor(input, p.refangedText, p.raw, &e.refangBuf)
	}
	input = p.set.ownedInput(input, value)
	if p.invalid {
		e.err = e.fn(Match{Invalid: &InvalidError{Input: input, Reason: p.reason}, Line: p.line})
		return
	}
	ioc := p.ioc
	ioc.Input, ioc.Value = input, value
	e.err = e.fn(Match{IOC: ioc, Line: p.line})
}

// inputFor returns the text as found for a value taken from a refanged
// token: the raw token when it holds just this value, else the value.
func inputFor(value, refanged, raw string, buf *refangBuffer) string {
	if value == refanged {
		return raw
	}
	t := strings.TrimRight(strings.TrimLeft(raw, "([{*+="), ".,:;!?)]}*+")
	if t != raw && buf.refang(t) == value {
		// When t is raw, it refangs to refanged, which is not value.
		return t
	}
	return value
}

// utf8BOM is skipped at the start of the input.
const utf8BOM = "\xef\xbb\xbf"

// feed takes physical line n. It removes a byte order mark and escape
// sequences, joins quoted-printable soft line breaks and scans the result.
func (e *extractor) feed(n int, line string) error {
	if n == 1 {
		line = strings.TrimPrefix(line, utf8BOM)
	}
	if !e.qp && len(line) > 0 && (line[0]|0x20 == 'c' || mayEndInSoftBreak(line)) && startsQuotedPrintable(line) {
		e.qp = true
	}
	if !e.qp {
		e.line = n
		return e.scanLine(line)
	}

	if len(e.joined) == 0 {
		e.joinedLine = n
	}
	body, soft := cutSoftBreak(line)
	if soft && len(e.joined)+len(body) <= e.max {
		e.joined = append(e.joined, body...)
		return nil
	}
	e.joined = append(e.joined, line...)
	return e.flushJoined()
}

// mayEndInSoftBreak is a cheap, inlined filter for startsQuotedPrintable:
// the last byte before the end of line is "=" or white space.
func mayEndInSoftBreak(line string) bool {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return n > 0 && (line[n-1] == '=' || line[n-1] == ' ' || line[n-1] == '\t')
}

// flushJoined decodes and scans the quoted-printable lines joined so far.
func (e *extractor) flushJoined() error {
	if len(e.joined) == 0 {
		return nil
	}
	e.scratch = appendQPDecoded(e.scratch[:0], e.joined)
	e.joined = e.joined[:0]
	e.line = e.joinedLine
	return e.scanLine(string(e.scratch))
}

// skipLine reports line n, too long to scan, of which prefix is the start.
func (e *extractor) skipLine(n int, prefix []byte) error {
	if err := e.flushJoined(); err != nil {
		return err
	}
	if err := e.flush(); err != nil {
		return err
	}
	for len(prefix) > 0 && !utf8.Valid(prefix) {
		prefix = prefix[:len(prefix)-1]
	}
	e.line = n
	reason := fmt.Sprintf("line %d longer than %d bytes: skipped", n, e.max)
	e.err = e.fn(Match{Invalid: &InvalidError{Input: string(prefix) + "...", Reason: reason}, Line: n})
	return e.err
}
