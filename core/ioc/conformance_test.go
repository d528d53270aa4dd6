package ioc

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/internal/fixtures"
)

// refangDifferences lists the rows of the shared refang corpus where vex
// deliberately differs from the library the row comes from, with the
// reason. The libraries disagree with each other at the edges, so no
// refanger can pass every row.
var refangDifferences = map[string]string{
	"httpx://google[.]com":                          "httpx is not a known defanged form of https; guessing a scheme could send the wrong URL to VirusTotal",
	"http:// example .com /test":                    "spaces around bare dots and slashes are prose, not defanging; a single value with spaces is rejected",
	"myuser @ example.com.tld":                      "spaced email forms are prose; vex never treats email addresses as indicators",
	"myuser@example   [[[  . ])] com [.tld":         "a one-sided bracket after a space is ambiguous in prose",
	"myuser[@]example   [[[  . ])] com [.tld":       "a one-sided bracket after a space is ambiguous in prose",
	"myuser { at ) example {  doT ])] com [dot tld": "a one-sided dot word after a space is ambiguous in prose",
	"myuser At example DOT com DOT tld":             "bare AT and DOT words are ordinary English",
	"myuser[@]example[.com[.tld]":                   "a closing bracket after the last label is kept; extraction trims it",
	"http%3A%2F%2Fexample%2Ecom":                    "percent-decoding arbitrary text is not refanging",
	"bad-dot-com":                                   "-dot- occurs in real host names",
	"5[,]6[,]7(,)8":                                 "a comma is not a dot; CSV text would be mangled",
	"9,10,11,12":                                    "a comma is not a dot; CSV text would be mangled",
	"bob AT example.com":                            "bare AT is ordinary English",
	"bob@example DOT com":                           "bare DOT is ordinary English",
	"www.]example.]com":                             "InQuest/iocextract refangs the same form (hxxp://example.]com/test); vex follows it",
	"http ://example.com/test.php":                  "a space before :// is prose",
	"http//example.com/test.php":                    "a missing colon is a typo, not defanging",
	"foo@barDOTcom":                                 "bare DOT inside a word is ordinary text (e.g. DOTNET)",
	"foo @ bar.com":                                 "spaced email forms are prose",
	"fooat]bar.com":                                 "a one-sided at word is too ambiguous (flat]bar.com)",
}

// TestRefangConformance checks every row of the shared refang corpus: typed
// rows must parse to that type and value, "unknown" rows must be invalid,
// and untyped or email rows must refang to the expected text.
func TestRefangConformance(t *testing.T) {
	path := filepath.Join(fixtures.Dir(t, "refang"), "cases.tsv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows, skipped := 0, 0
	for line := 2; sc.Scan(); line++ {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("line %d: %d columns, want 4", line, len(cols))
		}
		in, want, typ := cols[0], cols[1], cols[2]
		rows++
		if reason, ok := refangDifferences[in]; ok {
			skipped++
			t.Logf("line %d %q: deliberate difference: %s", line, in, reason)
			continue
		}
		t.Run(in, func(t *testing.T) {
			checkConformanceRow(t, in, want, typ)
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 150 {
		t.Errorf("read %d rows, want 150", rows)
	}
	if skipped != len(refangDifferences) {
		t.Errorf("%d differences listed but %d matched a row: remove stale entries", len(refangDifferences), skipped)
	}
}

func checkConformanceRow(t *testing.T, in, want, typ string) {
	switch typ {
	case "", "email":
		if want != "" && Refang(in) != want {
			t.Errorf("Refang(%q) = %q, want %q", in, Refang(in), want)
		}
		if typ != "email" {
			return
		}
		// Email addresses are not indicators; their domain is, when it
		// ends in a public TLD (the corpus uses the fake ".tld").
		d, err := Parse(want[strings.LastIndexByte(want, '@')+1:])
		if err != nil || d.Type != Domain {
			return
		}
		ms, err := ExtractString(in, ExtractOptions{})
		if err != nil || len(ms) != 1 || ms[0].IOC.Value != d.Value {
			t.Errorf("Extract(%q) = %+v, %v; want the domain %q", in, ms, err, d.Value)
		}
	case "unknown":
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %s %q, want invalid", in, got.Type, got.Value)
		}
	default:
		got, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if string(got.Type) != typ {
			t.Errorf("type = %s, want %s", got.Type, typ)
		}
		if want == "" {
			return
		}
		// Compare normalised forms: vex lowercases, converts IDN to
		// punycode and gives scheme-less URLs "http://".
		exp, err := Parse(want)
		if err != nil {
			t.Fatalf("expected value %q does not parse: %v", want, err)
		}
		if got.Value != exp.Value {
			t.Errorf("value = %q, want %q", got.Value, exp.Value)
		}
		checkExtracted(t, in, exp)
	}
}

// checkExtracted checks that extraction accepts every defanged form that
// Parse accepts: the row, alone on a line, yields the expected value.
func checkExtracted(t *testing.T, in string, exp IOC) {
	ms, err := ExtractString(in, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.IOC.Type == exp.Type && m.IOC.Value == exp.Value {
			return
		}
	}
	t.Errorf("Extract(%q) = %q, want %s %q among them", in, found(ms), exp.Type, exp.Value)
}

// vendorCounts are the distinct indicators per type in each shared vendor
// list. TA551, Nitrogen and bitter were counted by hand; see each note.
var vendorCounts = []struct {
	file   string
	counts map[string]int
	note   string
}{
	{
		file:   "pan-unit42-iocs/TA551/2020-07-14-TA551-IOCs-for-IcedID.txt",
		counts: map[string]int{"sha256": 55, "ipv4": 8, "domain": 10},
		note: "35 doc and 18 DLL hashes plus 2 IcedID EXE hashes; 6 hosting domains with 6 IPs, " +
			"ldrglobal[.]casa with 104.248.62[.]43, 3 .top C2 domains sharing 194.5.249[.]158; " +
			"the GET paths have no host and are not URLs, puom1.cab inside them is not a domain",
	},
	{
		file:   "sophoslabs-IoCs/Nitrogen 2023-07.csv",
		counts: map[string]int{"sha256": 64, "ipv4": 36, "url": 18, "domain": 3, "invalid": 1},
		note: "65 sha256 rows, one corrupted by a spreadsheet (0dbce3ef...+B53:B88e...) and invalid; " +
			"36 ip rows; 17 url rows plus the Description URL; work3.py, work8.py and ton.zip are file " +
			"names whose extensions are real TLDs (.py, .zip), so the TLD rule reports them as domains",
	},
	{
		file:   "pan-unit42-iocs/bitter/iocs.csv",
		counts: map[string]int{"sha256": 85, "sha1": 85, "md5": 85, "domain": 33, "ipv4": 1},
		note:   "85 rows with three hashes each; 36 distinct C2 cells minus Unknown and [CORRUPT]",
	},
	{
		file:   "eset-malware-ioc/gamaredon/README.adoc",
		counts: map[string]int{"sha1": 73, "ipv4": 28, "domain": 676, "url": 3},
		note: "29 defanged domains in the table plus 647 in the plain list; detection names such as " +
			"MSIL/Pterodo.CD follow a slash and are not domains",
	},
	{
		file:   "signature-base/iocs/c2-iocs.txt",
		counts: map[string]int{"ipv4": 118, "domain": 1655, "url": 25},
		note:   "1773 distinct values outside comments, 118 of them IPs; 25 report URLs in the comments",
	},
}

func TestVendorLists(t *testing.T) {
	dir := fixtures.Dir(t, "iocs")
	for _, v := range vendorCounts {
		t.Run(filepath.Base(v.file), func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, v.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := map[string]int{}
			err = Extract(f, ExtractOptions{Invalid: true}, func(m Match) error {
				if m.Invalid != nil {
					got["invalid"]++
				} else {
					got[string(m.IOC.Type)]++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range append(typeNames(), "invalid") {
				if got[k] != v.counts[k] {
					t.Errorf("%s: %d, want %d (%s)", k, got[k], v.counts[k], v.note)
				}
			}
		})
	}
}

func TestNitrogenCorruptedHashInvalid(t *testing.T) {
	f, err := os.Open(filepath.Join(fixtures.Dir(t, "iocs"), "sophoslabs-IoCs", "Nitrogen 2023-07.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var invalid []Match
	err = Extract(f, ExtractOptions{Invalid: true}, func(m Match) error {
		if m.Invalid != nil {
			invalid = append(invalid, m)
		}
		if m.IOC.Type.IsHash() && strings.Contains("0dbce3ef7f5be8+B53:B88e1008bfa15341d2729724fef8e128555d014ac67ecc205bd76", m.IOC.Value) {
			t.Errorf("corrupted hash reported as %s %s", m.IOC.Type, m.IOC.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(invalid) != 1 || invalid[0].Line != 5 || !strings.Contains(invalid[0].Invalid.Reason, "not a known hash length") {
		t.Fatalf("invalid = %+v, want the corrupted hash on line 5", invalid)
	}
}

func typeNames() []string {
	var s []string
	for _, t := range Types {
		s = append(s, string(t))
	}
	return s
}
