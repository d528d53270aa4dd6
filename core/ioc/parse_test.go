package ioc

import (
	"errors"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		typ   Type
		value string
		flags []Flag
	}{
		// Cases reported against other IOC tools.
		{"defanged url keeps https", "hxxps://example[.]com/path[.]php", URL, "https://example.com/path.php", nil},
		{"colon bracket scheme", "http[:]//example.com/a", URL, "http://example.com/a", nil},
		{"bracketed scheme separator", "hxxps[://]example[.]net", URL, "https://example.net", nil},
		{"paren dot word", "example(dot)com", Domain, "example.com", nil},
		// RFC 3986 brackets around an IPv6 host are not defang brackets.
		{"ipv6 url without port", "http://[2620:fe::fe]/x", URL, "http://[2620:fe::fe]/x", nil},
		{"ipv6 url doh", "https://[2001:4860:4860::8888]/dns-query", URL, "https://[2001:4860:4860::8888]/dns-query", nil},
		{"ipv6 url bare host", "http://[2620:fe::fe]", URL, "http://[2620:fe::fe]", nil},
		{"ipv6 url loopback", "http://[::1]/x", URL, "http://[::1]/x", []Flag{FlagNonRoutable}},
		{"bracket dot word", "example[dot]com", Domain, "example.com", nil},
		{"brace dot", "example{.}com", Domain, "example.com", nil},
		{"defanged ipv4", "198.51[.]100[.]7", IPv4, "198.51.100.7", []Flag{FlagNonRoutable}},
		{"sha1 not md5", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", SHA1, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", nil},
		{"zip is a tld", "files.zip", Domain, "files.zip", nil},
		{"mov is a tld", "trailer.mov", Domain, "trailer.mov", nil},
		{"app is a tld", "my.app", Domain, "my.app", nil},
		{"ipv6 documentation", "2001:db8::1", IPv6, "2001:db8::1", []Flag{FlagNonRoutable}},
		{"ipv4 mapped becomes ipv4", "::ffff:198.51.100.7", IPv4, "198.51.100.7", []Flag{FlagNonRoutable}},
		{"ipv6 compressed", "2001:db8:0:0:1::7", IPv6, "2001:db8::1:0:0:7", []Flag{FlagNonRoutable}},
		{"ipv6 loopback", "::1", IPv6, "::1", []Flag{FlagNonRoutable}},
		{"ipv6 link local", "fe80::1", IPv6, "fe80::1", []Flag{FlagNonRoutable}},
		{"punycode domain", "xn--80aaaaimf2bemuibxoc5d.xn--p1ai", Domain, "xn--80aaaaimf2bemuibxoc5d.xn--p1ai", nil},
		{"unicode domain to punycode", "test.公司.cn", Domain, "test.xn--55qx5d.cn", nil},
		{"punycode form same key", "test.xn--55qx5d.cn", Domain, "test.xn--55qx5d.cn", nil},
		{"upper sha256 empty file", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []Flag{FlagEmptyFile}},

		// Hashes.
		{"md5", "68b329da9893e34099c7d8ad5cb9c940", MD5, "68b329da9893e34099c7d8ad5cb9c940", nil},
		{"empty md5", "D41D8CD98F00B204E9800998ECF8427E", MD5, "d41d8cd98f00b204e9800998ecf8427e", []Flag{FlagEmptyFile}},
		{"empty sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", []Flag{FlagEmptyFile}},
		{"hash with spaces around", "  68b329da9893e34099c7d8ad5cb9c940\t", MD5, "68b329da9893e34099c7d8ad5cb9c940", nil},

		// IPv4.
		{"public ipv4", "8.8.8.8", IPv4, "8.8.8.8", nil},
		{"private ipv4", "10.1.2.3", IPv4, "10.1.2.3", []Flag{FlagNonRoutable}},
		{"cgnat ipv4", "100.64.0.1", IPv4, "100.64.0.1", []Flag{FlagNonRoutable}},
		{"link local ipv4", "169.254.1.1", IPv4, "169.254.1.1", []Flag{FlagNonRoutable}},
		{"multicast ipv4", "224.0.0.251", IPv4, "224.0.0.251", []Flag{FlagNonRoutable}},
		{"unspecified ipv4", "0.0.0.0", IPv4, "0.0.0.0", []Flag{FlagNonRoutable}},
		{"reserved ipv4", "240.1.2.3", IPv4, "240.1.2.3", []Flag{FlagNonRoutable}},
		{"loopback ipv4", "127.0.0.1", IPv4, "127.0.0.1", []Flag{FlagNonRoutable}},
		{"zero octet is fine", "1.0.0.1", IPv4, "1.0.0.1", nil},

		// IPv6.
		{"ipv6 upper case", "2606:4700:4700::1111", IPv6, "2606:4700:4700::1111", nil},
		{"ipv6 full form", "2606:4700:4700:0000:0000:0000:0000:1111", IPv6, "2606:4700:4700::1111", nil},
		{"ipv6 zone dropped", "fe80::1%eth0", IPv6, "fe80::1", []Flag{FlagNonRoutable}},
		{"ipv6 unique local", "fd00::1", IPv6, "fd00::1", []Flag{FlagNonRoutable}},
		{"ipv6 multicast", "ff02::1", IPv6, "ff02::1", []Flag{FlagNonRoutable}},
		{"ipv6 unspecified", "::", IPv6, "::", []Flag{FlagNonRoutable}},
		{"defanged ipv6", "2606[:]4700[:][:]1111", IPv6, "2606:4700::1111", nil},

		// Domains.
		{"domain lowercased", "EVIL.Example.COM", Domain, "evil.example.com", nil},
		{"trailing dot dropped", "example.com.", Domain, "example.com", nil},
		{"underscore label", "_jabber._tcp.gmail.com", Domain, "_jabber._tcp.gmail.com", nil},
		{"fullwidth dot", "example．com", Domain, "example.com", nil},
		{"ideographic full stop", "example。com", Domain, "example.com", nil},
		{"zero width space", "exa\u200bmple.com", Domain, "example.com", nil},
		{"escaped dot", `example\.com`, Domain, "example.com", nil},
		{"caret dot", "example^.com", Domain, "example.com", nil},
		{"bracketed label", "[www].example.com", Domain, "www.example.com", nil},
		{"stacked brackets", "www[[.]]example[.]com", Domain, "www.example.com", nil},
		{"dot word upper case", "example[DOT]com", Domain, "example.com", nil},
		{"spaced bracket dot", "example [.] com", Domain, "example.com", nil},
		{"russian idn", "вирус[.]рф", Domain, "xn--b1amyej.xn--p1ai", nil},

		// URLs.
		{"scheme and host lowercased", "HTTPS://Example.COM/Path?Q=A", URL, "https://example.com/Path?Q=A", nil},
		{"hxxp upper case", "HXXP://example.com/", URL, "http://example.com/", nil},
		{"mixed case hxxps", "hXXps://example.com/a", URL, "https://example.com/a", nil},
		{"fxp", "fxp://files.example.com/x.bin", URL, "ftp://files.example.com/x.bin", nil},
		{"ipv6 host keeps brackets", "http://[2606:4700:4700:0:0:0:0:1111]:8080/x", URL, "http://[2606:4700:4700::1111]:8080/x", nil},
		{"ipv4 host non routable", "http://192.168.1.1/admin", URL, "http://192.168.1.1/admin", []Flag{FlagNonRoutable}},
		{"port kept", "https://example.com:8443/a", URL, "https://example.com:8443/a", nil},
		{"userinfo kept", "ftp://user@files.example.com/", URL, "ftp://user@files.example.com/", nil},
		{"no scheme gets http", "example.com/dir/", URL, "http://example.com/dir/", nil},
		{"no scheme with port", "Example.com:8080/x", URL, "http://example.com:8080/x", nil},
		{"percent encoding kept", "https://example.com/a%20b", URL, "https://example.com/a%20b", nil},
		{"at word before domain", "https://example.org/test?target=bad[@]test.com", URL, "https://example.org/test?target=bad@test.com", nil},
		{"idn host", "http://пример.рф/путь", URL, "http://xn--e1afmkfd.xn--p1ai/путь", nil},
		{"bracketed scheme", "[http]://example.com/test.php", URL, "http://example.com/test.php", nil},
		{"xxxx scheme", "xxxx://example.com/a", URL, "http://example.com/a", nil},
		{"angle dot url", "hxxps://google<.>com", URL, "https://google.com", nil},
		{"double underscore scheme", "http__example.com/test", URL, "http://example.com/test", nil},
		{"ansi colour stripped", "\x1b[31mevil.com\x1b[0m", Domain, "evil.com", nil},

		// Single tokens copied with their surroundings.
		{"ipv4 with port", "1.2.3.4:8080", IPv4, "1.2.3.4", nil},
		{"domain with port", "evil.com:443", Domain, "evil.com", nil},
		{"bracketed ipv6 with port", "[2606:4700::1111]:443", IPv6, "2606:4700::1111", nil},
		{"sha256 label colon", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []Flag{FlagEmptyFile}},
		{"md5 label equals", "MD5=68b329da9893e34099c7d8ad5cb9c940", MD5, "68b329da9893e34099c7d8ad5cb9c940", nil},
		{"angle wrapped url", "<http://x-evil.com/a>", URL, "http://x-evil.com/a", nil},
		{"paren wrapped domain", "(evil.com)", Domain, "evil.com", nil},
		{"quoted domain", `"evil.com"`, Domain, "evil.com", nil},
		{"single quoted ipv4", "'8.8.8.8'", IPv4, "8.8.8.8", nil},
		{"bracket wrapped ipv6", "[2001:db8::1]", IPv6, "2001:db8::1", []Flag{FlagNonRoutable}},
		{"wrapped ipv4 with port", "(1.2.3.4:80)", IPv4, "1.2.3.4", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got.Type != tt.typ {
				t.Errorf("type = %q, want %q", got.Type, tt.typ)
			}
			if got.Value != tt.value {
				t.Errorf("value = %q, want %q", got.Value, tt.value)
			}
			if !slices.Equal(got.Flags, tt.flags) {
				t.Errorf("flags = %v, want %v", got.Flags, tt.flags)
			}
			if got.Input != tt.in {
				t.Errorf("input = %q, want the text as given %q", got.Input, tt.in)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string
	}{
		{"empty", "  ", "empty input"},
		{"65 hex", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3a94a8fe5ccb19ba61c4c0873d", "65 hex characters: not a known hash length"},
		{"sha512", "be688838ca8686e5c90689bf2ab585cef1137c999b48c70b92f67a5c34dc15697b5d11c982ed6d71be1e1e7f7b4e0733884aa97c3f7a339a8ed03577cf74be09", "128 hex characters: not a known hash length"},
		{"39 hex", "944233262bb95bbb7456314e14c56fb36200e09", "39 hex characters: not a known hash length"},
		{"leading zeros", "192.168.001.1", "leading zeros are ambiguous"},
		// An invalid byte must not become U+FFFD and then a real punycode
		// name.
		{"invalid utf-8 domain", "acc\xffount.example.net", "not valid UTF-8"},
		{"invalid utf-8 label", "\xc3\x28.example.com", "not valid UTF-8"},
		{"invalid utf-8 url host", "http://acc\xffount.example.net/", "invalid host: not valid UTF-8"},
		{"octet out of range", "255.256.344.1", "octet 256 out of range 0-255"},
		{"three parts", "192.168.1", "3 dot-separated numbers: an ipv4 address has 4"},
		// Reasons name the input's own fault, not the parser's count.
		{"trailing dot", "9.9.9.9.", `an ipv4 address does not end with a dot: drop the dot after "9.9.9.9"`},
		{"lone dot", ".", "only dots: no address or name"},
		{"lone fullwidth dot", "．", "only dots: no address or name"},
		{"pdf not a tld", "invoice.pdf", `not a public top-level domain: "pdf"`},
		{"exe not a tld", "virus.exe", `not a public top-level domain: "exe"`},
		{"dll not a tld", "payload.dll", `not a public top-level domain: "dll"`},
		{"time", "12:30:45", "a time of day is not an indicator"},
		{"short time", "12:30", "a time of day is not an indicator"},
		{"short colon groups", "1:6:0", "not an ipv6 address"},
		{"ipv4 bad port", "1.2.3.4:99999", `invalid port "99999"`},
		{"ipv4 port bad octet", "1.2.3.999:80", "octet 999 out of range 0-255"},
		{"domain bad port", "evil.com:0", `invalid port "0"`},
		{"label then short hex", "sha256:deadbeef", "8 hex characters after \"sha256:\": not a known hash length"},
		{"label disagrees with length", "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "labelled md5 but 64 hex characters is a sha256"},
		{"unbalanced wrapper", "(evil.com", "character '(' not allowed in a domain name"},
		{"colon word", "note:evil", "not a hash, ip address, domain or url"},
		{"fingerprint", "d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e", "not an ipv6 address"},
		{"two groups", "1:1", "not an ipv6 address"},
		{"at word without domain", "state[at]rest", "not a hash, ip address, domain or url"},
		{"single label", "localhost", "not a hash, ip address, domain or url"},
		{"url single label host", "http://localhost/x", "invalid host: a domain needs at least two labels"},
		{"unsupported scheme", "ldap://example.com/a", `scheme "ldap" not supported: use http, https or ftp`},
		{"cidr", "1.2.3.4/32", "a network range (CIDR) is not a single address"},
		{"email", "bob[@]example[.]com", `an email address is not an indicator: look up its domain "example.com"`},
		{"hyphen label", "-evil.com", "label starts or ends with a hyphen"},
		{"empty label", "evil..com", "empty label"},
		{"white space", "evil.com 1.2.3.4", "contains white space: give one indicator at a time"},
		{"bad port", "http://example.com:99999/", `invalid port "99999"`},
		{"number", "12345", "a number is not an indicator"},
		{"short hex", "deadbeef", "8 hex characters: not a known hash length"},
		{"label too long", "a" + string(make([]byte, 0)) + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", "label longer than 63 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Parse(%q) = %+v, %v; want *InvalidError", tt.in, got, err)
			}
			if ie.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", ie.Reason, tt.reason)
			}
			if ie.Input != tt.in {
				t.Errorf("input = %q, want %q", ie.Input, tt.in)
			}
		})
	}
}

func TestIDNFormsShareKey(t *testing.T) {
	a, errA := Parse("test.公司.cn")
	b, errB := Parse("TEST.XN--55QX5D.CN")
	if errA != nil || errB != nil {
		t.Fatalf("Parse errors: %v, %v", errA, errB)
	}
	if a.Value != b.Value {
		t.Errorf("keys differ: %q and %q", a.Value, b.Value)
	}
}

func TestRefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hxxps://example[.]com/path[.]php", "https://example.com/path.php"},
		{"state[at]rest", "state[at]rest"},
		{"juanita(at)example.com", "juanita@example.com"},
		{"foo{at}bar[.]com", "foo@bar.com"},
		{"a. [b", "a. [b"},
		{"analysis), yo", "analysis), yo"},
		{"www],example),com", "www],example),com"},
		{"HKLM\\SOFTWARE\\foo", "HKLM\\SOFTWARE\\foo"},
		{"10\\\\\\\\.10", "10.10"},
		{"ldap://example.com/a", "ldap://example.com/a"},
		{"plain text without defanging", "plain text without defanging"},
		{"x\u200d.com", "x.com"},
		{"user＠example．com", "user@example.com"},
		{"http：／／example.com", "http://example.com"},
		{"me[arroba]example[punto]com", "me@example.com"},
		{"foo[ET]bar.com", "foo@bar.com"},
		{"hxxp://example.com[/test", "http://example.com/test"},
		{"https://example\\(.)com/", "https://example.com/"},
		{"fooDOT]com", "foo.com"},
		{"http__example.com/test", "http://example.com/test"},
		{"HXXPS__example.com", "https://example.com"},
		{"__init__.py", "__init__.py"},
		{"my_http__x.com", "my_http__x.com"},
		{"http__", "http__"},
		{"example<DOT>com", "example.com"},
		{"http]://example.com", "http://example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Refang(tt.in); got != tt.want {
				t.Errorf("Refang(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := Refang(Refang(tt.in)); got != Refang(tt.in) {
				t.Errorf("Refang is not idempotent on %q: %q", tt.in, got)
			}
		})
	}
}

func TestDefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://www.google.com", "hxxps://www.google[.]com"},
		{"https://www.google.co.uk", "hxxps://www.google[.]co[.]uk"},
		{"http://example.com/a.php?x=1", "hxxp://example[.]com/a.php?x=1"},
		{"ftp://files.example.com/", "fxp://files.example[.]com/"},
		{"8.8.8.8", "8.8.8[.]8"},
		{"EVIL.com", "evil[.]com"},
		{"2001:db8::1", "2001[:]db8[:][:]1"},
		{"http://1.2.3.4:8080/x", "hxxp://1.2.3[.]4:8080/x"},
		{"http://[2001:db8::1]/", "hxxp://[2001:db8::1]/"},
		{"d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e"},
		{"not an indicator", "not an indicator"},
		{"hxxps://www.google[.]com", "hxxps://www.google[.]com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Defang(tt.in)
			if got != tt.want {
				t.Errorf("Defang(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := Defang(got); again != got {
				t.Errorf("Defang is not idempotent: Defang(%q) = %q", got, again)
			}
			if ioc, err := Parse(tt.in); err == nil {
				if back := Refang(got); back != ioc.Value {
					t.Errorf("Refang(%q) = %q, want %q", got, back, ioc.Value)
				}
			}
		})
	}
}

func TestVTPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "/files/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"8.8.8.8", "/ip_addresses/8.8.8.8"},
		{"2001:db8::1", "/ip_addresses/2001:db8::1"},
		{"Example[.]com", "/domains/example.com"},
		// base64url("http://example.com/") without padding.
		{"http://example.com/", "/urls/aHR0cDovL2V4YW1wbGUuY29tLw"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ioc, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := ioc.VTPath(); got != tt.want {
				t.Errorf("VTPath = %q, want %q", got, tt.want)
			}
		})
	}
	if got := (IOC{}).VTPath(); got != "" {
		t.Errorf("zero IOC VTPath = %q, want empty", got)
	}
}

func TestURLID(t *testing.T) {
	// Padded base64 of this URL ends in "=", which VirusTotal ids omit.
	if got, want := URLID("https://example.com/ab"), "aHR0cHM6Ly9leGFtcGxlLmNvbS9hYg"; got != want {
		t.Errorf("URLID = %q, want %q", got, want)
	}
	if got, want := URLID("http://a.b/?q=<>"), "aHR0cDovL2EuYi8_cT08Pg"; got != want {
		t.Errorf("URLID = %q, want %q (base64url alphabet)", got, want)
	}
}

func TestPublicTLDCached(t *testing.T) {
	// The second call with a label in the list reads the cache, and the
	// second call with any other label searches the list again.
	for _, c := range []struct {
		tld  string
		want bool
	}{{"com", true}, {"xn--p1ai", true}, {"notatld", false}, {"py", true}, {"", false}, {"123", false}, {"::1", false}} {
		for round := range 2 {
			if got := isPublicTLD(c.tld); got != c.want {
				t.Errorf("round %d: isPublicTLD(%q) = %v, want %v", round, c.tld, got, c.want)
			}
		}
	}
}
