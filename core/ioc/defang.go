package ioc

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Defang returns a form of the indicator in s that mail clients, chat tools
// and browsers will not turn into a link, for sharing: "hxxps://" for
// "https://", "evil[.]com", "198.51.100[.]7", "2001[:]db8[:][:]1". Valid
// input is normalised first, so Defang("EVIL.com") is "evil[.]com". Text
// that is not one valid indicator is returned unchanged.
//
// Defang is idempotent, and Refang(Defang(v)) == v for every normalised
// value v (IOC.Value).
func Defang(s string) string {
	ioc, err := Parse(s)
	if err != nil {
		return s
	}
	// Parse drops wrappers, a :port and a "sha256:" label around the value.
	// Keep them, so "198.51.100.7:8080" stays an address with its port.
	if text := strings.TrimSpace(Refang(strings.TrimSpace(stripEscapes(s)))); text != ioc.Value {
		if i := strings.Index(text, ioc.Value); i >= 0 {
			return text[:i] + ioc.Defanged() + text[i+len(ioc.Value):]
		}
	}
	return ioc.Defanged()
}

// Defanged returns the defanged form of the normalised value; see Defang.
func (i IOC) Defanged() string {
	switch i.Type {
	case IPv4:
		return defangIPv4(i.Value)
	case IPv6:
		return strings.ReplaceAll(i.Value, ":", "[:]")
	case Domain:
		return defangDomain(i.Value)
	case URL:
		return defangURL(i.Value)
	}
	return i.Value
}

func defangIPv4(v string) string {
	j := strings.LastIndexByte(v, '.')
	if j < 0 {
		return v
	}
	return v[:j] + "[.]" + v[j+1:]
}

// defangDomain brackets the dot before the public suffix and the dots inside
// it ("www.google[.]co[.]uk"), the form most vendor reports use: the name
// stays readable and no part of it is a resolvable host.
func defangDomain(d string) string {
	suffix, _ := publicsuffix.PublicSuffix(d)
	start := len(d) - len(suffix) - 1
	if start < 0 {
		start = 0
	}
	return d[:start] + strings.ReplaceAll(d[start:], ".", "[.]")
}

func defangURL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	scheme := u[:i]
	switch scheme {
	case "http":
		scheme = "hxxp"
	case "https":
		scheme = "hxxps"
	case "ftp":
		scheme = "fxp"
	}

	rest := u[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	host, port := authority, ""
	if c := strings.LastIndexByte(authority, ':'); c >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:c], authority[c:]
	}

	switch {
	case strings.HasPrefix(host, "["):
		// The scheme is already defanged; brackets inside brackets read badly.
	case isDottedDigits(host):
		host = defangIPv4(host)
	default:
		host = defangDomain(host)
	}
	return scheme + "://" + userinfo + host + port + tail
}
