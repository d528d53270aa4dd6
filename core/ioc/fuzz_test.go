package ioc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/<target>; `make fuzz` runs each
// target for a short time.

func FuzzRefangIdempotent(f *testing.F) {
	f.Add("hxxps://example[.]com/path[.]php")
	f.Fuzz(func(t *testing.T, s string) {
		once := Refang(s)
		if twice := Refang(once); twice != once {
			t.Fatalf("Refang not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}

func FuzzDefangIdempotent(f *testing.F) {
	f.Add("https://www.google.co.uk/a")
	f.Fuzz(func(t *testing.T, s string) {
		once := Defang(s)
		if twice := Defang(once); twice != once {
			t.Fatalf("Defang not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}

func FuzzDefangRoundTrip(f *testing.F) {
	f.Add("8.8.8.8")
	f.Fuzz(func(t *testing.T, s string) {
		ioc, err := Parse(s)
		if err != nil {
			return
		}
		d := ioc.Defanged()
		if back := Refang(d); back != ioc.Value {
			t.Fatalf("Refang(Defanged(%q)) = %q, want %q (defanged %q)", s, back, ioc.Value, d)
		}
		again, err := Parse(d)
		if err != nil || again.Value != ioc.Value || again.Type != ioc.Type {
			t.Fatalf("Parse(%q) = %+v, %v; want %s %q", d, again, err, ioc.Type, ioc.Value)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("::ffff:198.51.100.7")
	f.Fuzz(func(t *testing.T, s string) {
		ioc, err := Parse(s)
		if err != nil {
			if ie, ok := err.(*InvalidError); !ok || ie.Reason == "" {
				t.Fatalf("Parse(%q) error %v is not an *InvalidError with a reason", s, err)
			}
			return
		}
		if ioc.Type == "" || ioc.Value == "" {
			t.Fatalf("Parse(%q) = %+v without type or value", s, ioc)
		}
		// A normalised value is its own normal form.
		again, err := Parse(ioc.Value)
		if err != nil || again.Value != ioc.Value || again.Type != ioc.Type {
			t.Fatalf("Parse(%q) = %+v, %v; want %s %q", ioc.Value, again, err, ioc.Type, ioc.Value)
		}
		if !utf8.ValidString(ioc.Value) || strings.ContainsAny(ioc.Value, " \t\r\n") {
			t.Fatalf("value %q has white space or invalid UTF-8", ioc.Value)
		}
	})
}

func FuzzExtract(f *testing.F) {
	f.Add("see hxxps://example[.]com/a and 1.2.3[.]4\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		seen := map[string]bool{}
		err := Extract(strings.NewReader(s), ExtractOptions{Invalid: true, All: true}, func(m Match) error {
			if m.Line < 1 {
				t.Fatalf("line %d", m.Line)
			}
			if m.Invalid != nil {
				if m.IOC.Type != "" || m.Invalid.Reason == "" {
					t.Fatalf("invalid match %+v", m)
				}
				return nil
			}
			key := string(m.IOC.Type) + " " + m.IOC.Value
			if seen[key] {
				t.Fatalf("%s reported twice", key)
			}
			seen[key] = true
			again, err := Parse(m.IOC.Value)
			if err != nil || again.Value != m.IOC.Value || again.Type != m.IOC.Type {
				t.Fatalf("extracted %s %q does not parse to itself: %+v, %v", m.IOC.Type, m.IOC.Value, again, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Extract: %v", err)
		}
	})
}
