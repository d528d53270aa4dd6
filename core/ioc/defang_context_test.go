package ioc

import "testing"

func TestDefangKeepsSurroundings(t *testing.T) {
	cases := map[string]string{
		"51.255.34.118:14433":   "51.255.34[.]118:14433",
		"evil.com:443":          "evil[.]com:443",
		"<http://x-evil.com/a>": "<hxxp://x-evil[.]com/a>",
		"HTTP://Evil.COM/Path":  "hxxp://evil[.]com/Path",
		"8.8.8.8":               "8.8.8[.]8",
		"not an ioc at all":     "not an ioc at all",
	}
	for in, want := range cases {
		if got := Defang(in); got != want {
			t.Errorf("Defang(%q) = %q, want %q", in, got, want)
		}
		if got := Defang(Defang(in)); got != Defang(in) {
			t.Errorf("Defang is not idempotent on %q: %q then %q", in, Defang(in), got)
		}
	}
}
