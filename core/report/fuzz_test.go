package report

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzSanitize(f *testing.F) {
	for _, s := range hostileStrings {
		if len(s) < 4096 {
			f.Add(s)
		}
	}
	f.Add("\x1b[")
	f.Add("\x1b]8;;")
	f.Add(strings.Repeat("\u202E", MaxValueRunes+5))
	f.Add(strings.Repeat("é", MaxValueRunes+1))

	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)

		if !utf8.ValidString(out) {
			t.Fatalf("Sanitize(%q) is not valid UTF-8: %q", in, out)
		}
		if n := utf8.RuneCountInString(out); n > MaxValueRunes {
			t.Fatalf("Sanitize(%q) has %d runes, over MaxValueRunes", in, n)
		}
		for _, r := range out {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("Sanitize(%q) = %q keeps control %U", in, out, r)
			}
		}
		if again := Sanitize(out); again != out {
			t.Fatalf("Sanitize is not idempotent: %q, then %q", out, again)
		}
	})
}
