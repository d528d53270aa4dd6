package report

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"plain ascii", "Trojan.Win32.Agent", "Trojan.Win32.Agent"},
		{"unicode kept", "Лаборатория Касперского 卡巴斯基", "Лаборатория Касперского 卡巴斯基"},
		{"sgr colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"clear screen", "a\x1b[2J\x1b[Hb", "ab"},
		{"osc title bel", "x\x1b]0;pwned\x07y", "xy"},
		{"osc 52 clipboard st", "x\x1b]52;c;ZWNobyBoaQ==\x1b\\y", "xy"},
		{"osc hyperlink", "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"unterminated osc", "ok\x1b]0;never ends", "ok"},
		{"dcs", "a\x1bP1$r0m\x1b\\b", "ab"},
		{"two byte escape", "a\x1bcb", "ab"},
		{"charset escape", "a\x1b(0b", "ab"},
		{"lone esc at end", "abc\x1b", "abc"},
		{"c1 csi", "a\u009b31mb", "a31mb"},
		{"c1 next line", "a\u0085b", "ab"},
		{"del and nul", "a\x7fb\x00c", "abc"},
		{"backspace", "evil\b\b\b\bgood", "evilgood"},
		{"newline becomes space", "line1\nMALICIOUS forged", "line1 MALICIOUS forged"},
		{"crlf and tab", "a\r\nb\tc", "a  b c"},
		{"line separator", "a\u2028b\u2029c", "a b c"},
		{"rtl override", "invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"bidi isolates", "\u2066abc\u2069\u2067d\u2068e", "abcde"},
		{"zero width", "ev\u200bil\u200c.\u200dcom\ufeff", "evil.com"},
		{"tag characters", "hi\U000E0041\U000E0042", "hi"},
		{"invalid utf8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Sanitize(c.in); got != c.want {
				t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestSanitizeCapsLongValues(t *testing.T) {
	in := strings.Repeat("A", 1<<20)
	got := Sanitize(in)

	if n := utf8.RuneCountInString(got); n > MaxValueRunes {
		t.Errorf("sanitised value has %d runes, want at most %d", n, MaxValueRunes)
	}
	if !strings.Contains(got, "…[cut ") {
		t.Errorf("sanitised value has no cut marker: %q", got[len(got)-40:])
	}
	if again := Sanitize(got); again != got {
		t.Errorf("Sanitize is not idempotent on a cut value: %q became %q", got[len(got)-40:], again[len(again)-40:])
	}
}

func TestSanitizeKeepsValueAtLimit(t *testing.T) {
	in := strings.Repeat("é", MaxValueRunes)
	if got := Sanitize(in); got != in {
		t.Errorf("value of exactly MaxValueRunes runes was changed, now %d runes", utf8.RuneCountInString(got))
	}
}

func TestCSVCellGuardsFormulas(t *testing.T) {
	cases := map[string]string{
		"=1+1":                  "'=1+1",
		"+cmd|' /C calc'!A0":    "'+cmd|' /C calc'!A0",
		"-2+3":                  "'-2+3",
		"@SUM(A1:A2)":           "'@SUM(A1:A2)",
		"\t=1":                  "' =1",
		"\r=1":                  "' =1",
		"safe text":             "safe text",
		"a=b":                   "a=b",
		"\x1b[31m=HYPERLINK(1)": "'=HYPERLINK(1)",
		"\u202E=cmd":            "'=cmd",
		"":                      "",
	}
	for in, want := range cases {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeJSONKeepsValue(t *testing.T) {
	value := "a\x7fb\u009bc\u202Ed\u200be\U000E0041f\u2028g"
	raw, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	escaped := escapeJSON(raw)

	if !json.Valid(escaped) {
		t.Fatalf("escaped JSON is invalid: %s", escaped)
	}
	for _, bad := range []string{"\x7f", "\u009b", "\u202E", "\u200b", "\U000E0041", "\u2028"} {
		if strings.Contains(string(escaped), bad) {
			t.Errorf("escaped JSON still holds %q raw: %s", bad, escaped)
		}
	}
	var back string
	if err := json.Unmarshal(escaped, &back); err != nil {
		t.Fatal(err)
	}
	if back != value {
		t.Errorf("round trip = %q, want %q", back, value)
	}
}
