package ioc

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vex-ioc/vex/internal/fixtures"
)

// messyPieces are the parts that messyText glues together at random:
// defanged separators and schemes, hosts, addresses, hashes, escape
// sequences, quoted-printable escapes, line ends and punctuation.
var messyPieces = []string{
	"hxxps://", "hxxp://", "http://", "HTTPS://", "fxp://", "http__", "[.]", "(.)", "{.}", "<.>", "[dot]",
	"(dot)", " [.] ", "[:]", "[://]", "[/]", "[@]", "[at]", "(at)", "\\.", "^.", ".", ".", ":", "/", "@",
	"．", "。", "\u200b", "[", "]", "(", ")", "<", ">", " ", " ", "\t", ",", ";", "|", "\"", "'", "`",
	"_", "-", "*", "=", "?", "#", "example", "evil", "com", "net", "co.uk", "xn--80ak6aa92e", "公司", "ru",
	"top", "zip", "exe", "dll", "10", "192", "168", "1", "255", "256", "01", "8", "443", "::1",
	"2001:db8::1", "fe80::1%eth0", "::ffff:1.2.3.4", "12:30:45",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
	"DEADBEEFDEADBEEFDEADBEEFDEADBEEF0", "sha256:", "md5=", "\x1b[31m", "\x1b[0m", "=3D", "=\n",
	"Content-Transfer-Encoding: quoted-printable\n", "\r\n", "\n", "\n", "user@", "C:\\Windows\\",
	"/a/b.php?id=1#x", "\xef\xbb\xbf", "\xff", "Ü", "_dmarc.",
}

// messyText returns about size bytes of messyPieces in random order, with
// short lines and long ones.
func messyText(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 5))
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(messyPieces[r.IntN(len(messyPieces))])
		if r.IntN(40) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// extractWith renders every match of Extract over r, one string each.
func extractWith(t *testing.T, r io.Reader, opt ExtractOptions) []string {
	t.Helper()
	var out []string
	err := Extract(r, opt, func(m Match) error {
		s := fmt.Sprintf("line %d: %+v", m.Line, m.IOC)
		if m.Invalid != nil {
			s += fmt.Sprintf(" invalid %+v", *m.Invalid)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		out = append(out, "error: "+err.Error())
	}
	return out
}

// TestExtractReadersAgree compares the path that scans whole blocks of
// buffered lines with the line-by-line path. A reader that returns one
// byte per call never leaves a complete line in the buffer, so it takes
// only the line-by-line path, and a reader that returns half of each
// request mixes both.
func TestExtractReadersAgree(t *testing.T) {
	inputs := map[string][]byte{
		"mixed":   mixedText(256<<10, 3),
		"messy 1": messyText(256<<10, 1),
		"messy 2": messyText(256<<10, 2),
	}
	if dir := optionalFixtureDir(t, "iocs"); dir != "" {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			inputs[filepath.Base(path)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	options := []ExtractOptions{
		{},
		{All: true, Invalid: true},
		{Invalid: true, MaxLineBytes: 300, SkipLongLines: true},
		{Types: []Type{Domain, URL}, MaxLineBytes: 4096},
	}

	for name, text := range inputs {
		for k, opt := range options {
			want := extractWith(t, bytes.NewReader(text), opt)
			for _, r := range []struct {
				name   string
				reader io.Reader
			}{
				{"one byte", iotest.OneByteReader(bytes.NewReader(text))},
				{"half", iotest.HalfReader(bytes.NewReader(text))},
			} {
				got := extractWith(t, r.reader, opt)
				if i := firstDifference(got, want); i >= 0 {
					t.Errorf("%s, options %d, %s reader: match %d is\n%q\nwant\n%q", name, k, r.name, i, at(got, i), at(want, i))
				}
			}
		}
	}
}

// optionalFixtureDir returns the shared fixture folder sub, or "" when the
// test runs without the fixtures. fixtures.Dir skips the subtest then, and
// fails it where CI requires the fixtures.
func optionalFixtureDir(t *testing.T, sub string) string {
	dir := ""
	t.Run("fixtures", func(t *testing.T) { dir = fixtures.Dir(t, sub) })
	return dir
}

// firstDifference returns the first index where a and b differ, or -1.
func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}

func TestMessyTextExtracts(t *testing.T) {
	// Guards the input of the reader comparison, which must reach the rare
	// paths and not only plain tokens.
	text := messyText(256<<10, 1)
	got := extractWith(t, bytes.NewReader(text), ExtractOptions{All: true, Invalid: true})
	for _, want := range []string{"Type:url", "Type:domain", "Type:ipv4", "Type:ipv6", "Type:sha256", "invalid"} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no match with %q among %d", want, len(got))
		}
	}
	for _, want := range []string{"\x1b[", "quoted-printable", "[.]"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("text without %q", want)
		}
	}
}
