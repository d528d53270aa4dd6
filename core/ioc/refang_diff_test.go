package ioc

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// refangBefore is Refang as it was before refangOnce copied runs of plain
// bytes at once, passed over dots that no bracket or space follows, and
// built its result in reused byte slices. The comparisons below check that
// these changes alter no output.
func refangBefore(s string) string {
	if !mayBeDefanged(s) {
		return s
	}
	for {
		r := refangOnceBefore(s)
		if r == s || !mayBeDefanged(r) {
			return r
		}
		s = r
	}
}

func refangOnceBefore(s string) string {
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

		if c == '_' && underscoreScheme(s, i) {
			// "http__example.com": refangSchemes then rewrites a
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
	return refangSchemesBefore(string(b))
}

// refangSchemesBefore rewrites "hxxp://", "hXXps://", "fxp://", "xxxx://" and
// bracketed schemes ("[http]://", "http]://") to the real scheme. Only the
// letters right before "://" are looked at.
func refangSchemesBefore(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := strings.Index(s, "://"); i >= 0; {
		// Closing brackets between the scheme and "://".
		j := i
		for j > last && isBracket(s[j-1]) {
			j--
		}
		start := j
		for start > last && isASCIILetter(s[start-1]) {
			start--
		}
		rep, from := schemeFor(s[start:j], j != i)
		if rep != "" {
			from += start
			if j != i {
				// Opening brackets before a bracketed scheme go too.
				for from > last && isBracket(s[from-1]) {
					from--
				}
			}
			b.WriteString(s[last:from])
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

func TestRefangMatchesBefore(t *testing.T) {
	var inputs []string
	for seed := range uint64(4) {
		text := messyText(64<<10, seed)
		for _, line := range strings.Split(string(text), "\n") {
			inputs = append(inputs, line)
			inputs = append(inputs, strings.Fields(line)...)
		}
	}
	r := rand.New(rand.NewPCG(8, 9))
	for range 20_000 {
		var b strings.Builder
		for range 1 + r.IntN(8) {
			b.WriteString(messyPieces[r.IntN(len(messyPieces))])
		}
		inputs = append(inputs, b.String())
	}
	if dir := optionalFixtureDir(t, "refang"); dir != "" {
		cases, err := os.ReadFile(filepath.Join(dir, "cases.tsv"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(cases, []byte("\n")) {
			input, _, _ := strings.Cut(string(line), "\t")
			inputs = append(inputs, input)
		}
	}

	for _, s := range inputs {
		if got, want := Refang(s), refangBefore(s); got != want {
			t.Errorf("Refang(%q) = %q, before %q", s, got, want)
		}
	}
}

func FuzzRefangMatchesBefore(f *testing.F) {
	f.Add("hxxps://example[.]com/a.b(dot)c")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Refang(s), refangBefore(s); got != want {
			t.Fatalf("Refang(%q) = %q, before %q", s, got, want)
		}
	})
}
