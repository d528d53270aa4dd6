package ioc

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Hashes of zero bytes of input: a sample with one of these is an empty file.
const (
	emptyMD5    = "d41d8cd98f00b204e9800998ecf8427e"
	emptySHA1   = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Parse trims and refangs s, detects its type and returns its normalised
// form. Hashes are lowercased. IPv4 must be a strict dotted quad. IPv6 is
// compressed and lowercased with any zone dropped, and an IPv4-mapped
// address becomes ipv4. Domains are lowercased, lose a trailing dot, are
// converted to punycode and must end in a public top-level domain. URLs
// (http, https, ftp) get a lowercased scheme and host, while path and
// query keep their case. A URL without a scheme ("example.com/a") gets "http://",
// as VirusTotal does. IOC.Input keeps s as given.
//
// Text copied with an indicator is removed: terminal escape sequences,
// one pair of wrapping brackets or quotes ("<http://x/>", "(evil.com)"), a
// port after an IP address or domain ("1.2.3.4:8080", "[::1]:443"), and a
// label before a hash ("sha256:<hash>", "MD5=<hash>"). A hash label that
// names another type than the length gives is invalid.
//
// Any other input returns an *InvalidError whose Reason gives the cause.
func Parse(s string) (IOC, error) {
	v := strings.TrimSpace(Refang(strings.TrimSpace(stripEscapes(s))))
	v = unwrap(v)
	ioc, reason := detect(v)
	if reason != "" {
		return IOC{}, &InvalidError{Input: s, Reason: reason}
	}
	ioc.Input = s
	return ioc, nil
}

// detect classifies a trimmed, refanged value. It returns a reason when the
// value is not a valid indicator.
func detect(v string) (IOC, string) {
	switch {
	case v == "":
		return IOC{}, "empty input"
	case strings.ContainsAny(v, " \t\r\n"):
		return IOC{}, "contains white space: give one indicator at a time"
	case strings.Contains(v, "://"):
		return parseURL(v)
	case isHex(v) && len(v) >= 8:
		return parseHash(v)
	}

	if i := strings.LastIndexByte(v, '@'); i > 0 && !strings.ContainsAny(v[:i], "/:") {
		return IOC{}, "an email address is not an indicator: look up its domain " + strconv.Quote(v[i+1:])
	}
	if strings.ContainsAny(v, "/?#") {
		return parseSchemeless(v)
	}

	if host, port, ok := cutPort(v); ok {
		return parseHostPort(host, port)
	}
	if ioc, reason, ok := parseLabelledHash(v); ok {
		return ioc, reason
	}

	switch {
	case strings.Contains(v, ":"):
		return parseColons(v)
	case isDottedDigits(v):
		return parseIPv4(v)
	case isDigits(v):
		return IOC{}, "a number is not an indicator"
	case !strings.Contains(v, "."):
		return IOC{}, "not a hash, ip address, domain or url"
	}
	d, reason := normalizeDomain(v)
	if reason != "" {
		return IOC{}, reason
	}
	return IOC{Type: Domain, Value: d}, ""
}

// parseSchemeless parses "host/path" as an http URL, as VirusTotal does
// with URLs submitted without a scheme.
func parseSchemeless(v string) (IOC, string) {
	end := strings.IndexAny(v, "/?#")
	host := v[:end]
	if isDottedDigits(host) && v[end] == '/' && isDigits(v[end+1:]) {
		return IOC{}, "a network range (CIDR) is not a single address"
	}
	if c := strings.LastIndexByte(host, ':'); c >= 0 && isDigits(host[c+1:]) {
		host = host[:c]
	}
	if _, reason := parseHost(host); reason != "" {
		return IOC{}, reason
	}
	return parseURL("http://" + v)
}

func parseHash(v string) (IOC, string) {
	h := lowerASCII(v)
	var t Type
	switch len(h) {
	case 32:
		t = MD5
	case 40:
		t = SHA1
	case 64:
		t = SHA256
	default:
		return IOC{}, fmt.Sprintf("%d hex characters: not a known hash length", len(h))
	}
	ioc := IOC{Type: t, Value: h}
	if h == emptyMD5 || h == emptySHA1 || h == emptySHA256 {
		ioc.Flags = []Flag{FlagEmptyFile}
	}
	return ioc, ""
}

func parseIPv4(v string) (IOC, string) {
	if strings.HasSuffix(v, ".") {
		// Counting the empty part after a trailing dot would report "5
		// numbers" for 9.9.9.9. and "2" for a lone dot.
		if _, reason := parseIPv4(strings.TrimSuffix(v, ".")); reason == "" {
			return IOC{}, "an ipv4 address does not end with a dot: drop the dot after " + strconv.Quote(strings.TrimSuffix(v, "."))
		}
		if strings.Trim(v, ".") == "" {
			return IOC{}, "only dots: no address or name"
		}
	}
	if n := strings.Count(v, ".") + 1; n != 4 {
		return IOC{}, fmt.Sprintf("%d dot-separated numbers: an ipv4 address has 4", n)
	}
	var octets [4]byte
	rest := v
	for k := range octets {
		p := rest
		if dot := strings.IndexByte(rest, '.'); dot >= 0 {
			p, rest = rest[:dot], rest[dot+1:]
		}
		switch {
		case p == "":
			return IOC{}, "empty octet"
		case len(p) > 1 && p[0] == '0':
			return IOC{}, "leading zeros are ambiguous"
		}
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 || n < 0 {
			return IOC{}, fmt.Sprintf("octet %s out of range 0-255", p)
		}
		octets[k] = byte(n)
	}
	a := netip.AddrFrom4(octets)
	// Without leading zeros the dotted quad is already canonical.
	ioc := IOC{Type: IPv4, Value: v}
	if NonRoutable(a) {
		ioc.Flags = []Flag{FlagNonRoutable}
	}
	return ioc, ""
}

// unwrap removes the brackets or quotes that wrap all of v, up to three
// pairs deep: "<http://x/>", "(evil.com)", "'8.8.8.8'".
func unwrap(v string) string {
	for k := 0; k < 3 && len(v) >= 2; k++ {
		switch v[:1] + v[len(v)-1:] {
		case "<>", "()", "[]", `""`, "''":
			v = v[1 : len(v)-1]
		default:
			return v
		}
	}
	return v
}

// cutPort splits "host:port" where host is an IPv4 address or a domain
// name (it has a dot and no colon) or a bracketed IPv6 address.
func cutPort(v string) (host, port string, ok bool) {
	c := strings.LastIndexByte(v, ':')
	if c < 0 || !isDigits(v[c+1:]) {
		return "", "", false
	}
	host, port = v[:c], v[c+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1], port, true
	}
	if strings.IndexByte(host, ':') >= 0 || strings.IndexByte(host, '.') < 0 {
		return "", "", false
	}
	return host, port, true
}

// parseHostPort parses the host of "host:port" and drops the port.
func parseHostPort(host, port string) (IOC, string) {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return IOC{}, fmt.Sprintf("invalid port %q", port)
	}
	ioc, reason := detect(host)
	if reason != "" {
		return IOC{}, reason
	}
	switch ioc.Type {
	case IPv4, IPv6, Domain:
		return ioc, ""
	}
	return IOC{}, "a port follows " + string(ioc.Type) + ", not a host"
}

// hashLabelTypes maps the labels written before a hash to the hash type.
var hashLabelTypes = map[string]Type{"md5": MD5, "sha1": SHA1, "sha256": SHA256}

// parseLabelledHash parses "label:hex" and "label=hex". It returns ok
// false when v does not have that form: a label of letters, digits,
// hyphens and underscores with a letter, then at least 8 hex characters.
func parseLabelledHash(v string) (ioc IOC, reason string, ok bool) {
	k := strings.IndexAny(v, ":=")
	if k < 1 || k > 16 || len(v)-k-1 < 8 || !isHex(v[k+1:]) {
		return IOC{}, "", false
	}
	label, hex := v[:k], v[k+1:]
	letter := false
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case isASCIILetter(c):
			letter = true
		case c >= '0' && c <= '9' || c == '-' || c == '_':
		default:
			return IOC{}, "", false
		}
	}
	if !letter {
		return IOC{}, "", false
	}

	ioc, reason = parseHash(hex)
	if reason != "" {
		return IOC{}, fmt.Sprintf("%d hex characters after %q: not a known hash length", len(hex), v[:k+1]), true
	}
	name := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(label))
	if t, known := hashLabelTypes[name]; known && t != ioc.Type {
		return IOC{}, fmt.Sprintf("labelled %s but %d hex characters is a %s", t, len(hex), ioc.Type), true
	}
	return ioc, "", true
}

// parseColons parses an IPv6 address, or gives the reason why a value with
// colons is not one.
func parseColons(v string) (IOC, string) {
	ioc, reason := parseIPv6(v)
	switch {
	case reason == "":
		return ioc, ""
	case isTimeOfDay(v):
		return IOC{}, "a time of day is not an indicator"
	case strings.Trim(v, "0123456789abcdefABCDEF:.") != "" && !strings.Contains(v, "%"):
		return IOC{}, "not a hash, ip address, domain or url"
	}
	return IOC{}, reason
}

// isTimeOfDay reports whether v has the form "H:MM", "HH:MM" or
// "HH:MM:SS".
func isTimeOfDay(v string) bool {
	parts := strings.Split(v, ":")
	if len(parts) > 3 || len(parts) < 2 || len(parts[0]) > 2 || !isDigits(parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) != 2 || !isDigits(p) {
			return false
		}
	}
	return true
}

func parseIPv6(v string) (IOC, string) {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is6() {
		return IOC{}, "not an ipv6 address"
	}
	return addrIOC(a.WithZone("")), ""
}

// addrIOC builds the IOC of a parsed address; IPv4-mapped IPv6 becomes ipv4.
func addrIOC(a netip.Addr) IOC {
	a = a.Unmap()
	ioc := IOC{Type: IPv6, Value: a.String()}
	if a.Is4() {
		ioc.Type = IPv4
	}
	if NonRoutable(a) {
		ioc.Flags = []Flag{FlagNonRoutable}
	}
	return ioc
}

// normalizeDomain validates a refanged domain name and returns its key:
// lowercase, punycode, no trailing dot. The reason is empty when valid.
func normalizeDomain(v string) (string, string) {
	d := strings.TrimSuffix(v, ".")
	if d == "" {
		return "", "empty domain name"
	}
	if !isASCII(d) {
		// IDNA would map an invalid byte to U+FFFD and then to a real
		// punycode name that differs from the input.
		if !utf8.ValidString(d) {
			return "", "not valid UTF-8"
		}
		a, err := idna.Punycode.ToASCII(d)
		if err != nil || !isASCII(a) {
			return "", "not a valid internationalised domain name"
		}
		d = a
	}
	d = lowerASCII(d)
	if len(d) > 253 {
		return "", "domain name longer than 253 characters"
	}
	if strings.IndexByte(d, '.') < 0 {
		return "", "a domain needs at least two labels"
	}
	rest := d
	for {
		dot := strings.IndexByte(rest, '.')
		label := rest
		if dot >= 0 {
			label = rest[:dot]
		}
		if reason := checkLabel(label); reason != "" {
			return "", reason
		}
		if dot < 0 {
			break
		}
		rest = rest[dot+1:]
	}
	if !isPublicTLD(rest) {
		return "", "not a public top-level domain: " + strconv.Quote(rest)
	}
	return d, ""
}

// lowerASCII lowercases ASCII letters, allocating only when one is upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// checkLabel allows letters, digits, hyphens and underscores. Underscores
// are not LDH, but DNS carries them (SRV and DKIM names) and real C2 hosts
// use them, so VirusTotal has reports for such names.
func checkLabel(l string) string {
	switch {
	case l == "":
		return "empty label"
	case len(l) > 63:
		return "label longer than 63 characters"
	case l[0] == '-' || l[len(l)-1] == '-':
		return "label starts or ends with a hyphen"
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Sprintf("character %q not allowed in a domain name", c)
		}
	}
	return ""
}

// isPublicTLD reports whether tld (lowercase, punycode) is a top-level
// domain in the ICANN section of the public suffix list.
func isPublicTLD(tld string) bool {
	if tld == "" || isDigits(tld) {
		return false
	}
	if _, ok := publicTLDs.Load(tld); ok {
		return true
	}
	s, icann := publicsuffix.PublicSuffix(tld)
	if icann && s == tld {
		publicTLDs.Store(strings.Clone(tld), struct{}{})
		return true
	}
	return false
}

// publicTLDs contains the labels that isPublicTLD has found in the list.
// publicsuffix.PublicSuffix (golang.org/x/net v0.63.0) first parses its
// argument as an IP address, which allocates an error for every name, and
// then searches the list. Only labels in the list are stored, so the cache
// cannot outgrow it.
var publicTLDs sync.Map

// parseHost validates a URL host: bracketed IPv6, IPv4 or a domain name.
// It returns the normalised host and the address when it is an IP.
func parseHost(h string) (hostInfo, string) {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return hostInfo{}, "unclosed bracket in ipv6 host"
		}
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || !a.Is6() {
			return hostInfo{}, "invalid ipv6 address in host"
		}
		a = a.WithZone("")
		return hostInfo{value: "[" + a.String() + "]", addr: a, isAddr: true}, ""
	}
	if isDottedDigits(h) {
		ioc, reason := parseIPv4(h)
		if reason != "" {
			return hostInfo{}, reason
		}
		a := netip.MustParseAddr(ioc.Value)
		return hostInfo{value: ioc.Value, addr: a, isAddr: true}, ""
	}
	d, reason := normalizeDomain(h)
	if reason != "" {
		return hostInfo{}, reason
	}
	return hostInfo{value: d}, ""
}

type hostInfo struct {
	value  string
	addr   netip.Addr
	isAddr bool
}

// parseURL splits scheme://authority/rest by hand, because url.Parse and
// URL.String re-encode the path, and VirusTotal keys URLs by their text.
func parseURL(v string) (IOC, string) {
	i := strings.Index(v, "://")
	scheme := strings.ToLower(v[:i])
	switch scheme {
	case "http", "https", "ftp":
	case "":
		return IOC{}, "url without a scheme before ://"
	default:
		return IOC{}, fmt.Sprintf("scheme %q not supported: use http, https or ftp", scheme)
	}
	rest := v[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	for j := 0; j < len(tail); j++ {
		if tail[j] < 0x20 || tail[j] == 0x7f || tail[j] == ' ' {
			return IOC{}, "control character or space in url"
		}
	}
	if !utf8.ValidString(tail) {
		return IOC{}, "url is not valid utf-8"
	}

	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	host, port := authority, ""
	if c := strings.LastIndexByte(authority, ':'); c >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:c], authority[c:]
		if n, err := strconv.Atoi(port[1:]); err != nil || n > 65535 || port[1:] == "" {
			return IOC{}, fmt.Sprintf("invalid port %q", port[1:])
		}
	}
	if host == "" {
		return IOC{}, "url without a host"
	}
	hi, reason := parseHost(host)
	if reason != "" {
		return IOC{}, "invalid host: " + reason
	}

	ioc := IOC{Type: URL, Value: scheme + "://" + userinfo + hi.value + port + tail}
	if hi.isAddr && NonRoutable(hi.addr) {
		ioc.Flags = []Flag{FlagNonRoutable}
	}
	return ioc, ""
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&clsHex == 0 {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDottedDigits reports whether s has only digits and dots, with a dot.
func isDottedDigits(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return dot
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
