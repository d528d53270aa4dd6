package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// hostileStrings are values an attacker can plant in VirusTotal (file names,
// page titles, engine labels, tags) or in a shared knowledge base.
var hostileStrings = map[string]string{
	"sgr escape":     "\x1b[31mred\x1b[0m",
	"clear screen":   "\x1b[2J\x1b[Hfake prompt $ ",
	"osc title":      "\x1b]0;owned\x07title",
	"osc clipboard":  "\x1b]52;c;cm0gLXJmIH4K\x1b\\paste",
	"c1 csi":         "\u009b2Jc1",
	"del nul bell":   "a\x7fb\x00c\x07d",
	"rtl override":   "invoice\u202Efdp.exe",
	"bidi isolate":   "\u2066evil\u2069",
	"zero width":     "ev\u200bil",
	"forged line":    "x\nMALICIOUS  sha256  forged",
	"csv formula":    `=HYPERLINK("http://evil.example/","click")`,
	"csv plus":       "+cmd|' /C calc'!A0",
	"csv at":         "@SUM(1+1)*cmd|' /C calc'!A0",
	"csv tab":        "\t=1+1",
	"csv cr":         "\r=1+1",
	"one megabyte":   strings.Repeat("A", 1<<20),
	"invalid utf8":   "bad\xff\xfe\xc3bytes",
	"tag characters": "hi\U000E0041\U000E0042",
}

// hostileResult puts s into every string field that comes from VirusTotal
// or the knowledge base.
func hostileResult(s string) enrich.Result {
	return enrich.Result{
		Input: "evil.example", Type: ioc.Domain, Normalized: "evil.example",
		Mode: enrich.Triage, Status: enrich.StatusOK, Verdict: verdict.Malicious,
		Stats: verdict.Stats{Malicious: 9, Undetected: 50}, Engines: 59,
		Source: enrich.SourceAPI, FetchedAt: testNow, Permalink: "https://www.virustotal.com/gui/domain/evil.example",
		Error: s,
		Summary: enrich.Summary{
			ThreatLabel: s,
			Detections:  []enrich.Detection{{Engine: s, Category: "malicious", Result: s}},
			Tags:        []string{s, "ok"},
			Name:        s, FileType: s, Country: s, ASOwner: s, Network: s, Registrar: s,
			FinalURL: s, Title: s, Categories: []string{s},
		},
		Local: enrich.Local{
			Tags:       []string{s},
			Notes:      []enrich.Note{{ID: 1, Text: s, Created: testNow}},
			Watchlists: []string{s},
		},
	}
}

// hostileInvalid is an invalid input carrying s, echoed back as given.
func hostileInvalid(s string) enrich.Result {
	return enrich.Result{Input: s, Mode: enrich.Triage, Status: enrich.StatusInvalid, Error: "not an indicator: " + s}
}

// ourSGR matches the colour sequences the writers emit themselves.
var ourSGR = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// checkNoRawControls fails when out holds an ESC (other than our own colour
// sequences when allowed), another C0 control except line feed, DEL, a C1
// control, an invisible formatting character or invalid UTF-8.
func checkNoRawControls(t *testing.T, out []byte, allowSGR bool) {
	t.Helper()
	s := string(out)
	if allowSGR {
		s = ourSGR.ReplaceAllString(s, "")
	}
	if !utf8.ValidString(s) {
		t.Error("output is not valid UTF-8")
	}
	for i, r := range s {
		bad := false
		switch {
		case r == '\n':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			bad = true
		case unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			bad = true
		}
		if bad {
			t.Errorf("raw control %U at byte %d: %q", r, i, s[max(0, i-20):min(len(s), i+20)])
			return
		}
	}
}

func TestHostileStringsEveryFormat(t *testing.T) {
	opts := map[string]Options{
		"plain":  {Width: 100, Now: func() time.Time { return testNow }},
		"color":  {Width: 100, Color: true, Now: func() time.Time { return testNow }},
		"defang": {Width: 100, Defang: true, Now: func() time.Time { return testNow }},
	}
	for name, s := range hostileStrings {
		results := []enrich.Result{hostileResult(s), hostileInvalid(s)}
		for optName, opt := range opts {
			for _, format := range Formats {
				if opt.Color && format != FormatConsole && format != FormatRich {
					continue // colour changes only the human formats
				}
				if opt.Defang && len(s) > 64<<10 {
					continue // a huge value tests nothing more with defanging, and costs seconds under -race
				}
				t.Run(name+"/"+optName+"/"+format, func(t *testing.T) {
					out := render(t, format, opt, results)
					checkNoRawControls(t, out, opt.Color && (format == FormatConsole || format == FormatRich))
					switch format {
					case FormatJSON, FormatNDJSON:
						checkJSONCarriesValue(t, format, out, s)
					case FormatCSV:
						checkCSV(t, out, len(results))
					default:
						checkHuman(t, format, out, len(results))
					}
				})
			}
		}
	}
}

// checkJSONCarriesValue checks that the output is valid JSON whose strings
// decode to the original value, with invalid UTF-8 replaced.
func checkJSONCarriesValue(t *testing.T, format string, out []byte, value string) {
	t.Helper()
	var docs [][]byte
	if format == FormatNDJSON {
		docs = bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
		if len(docs) != 2 {
			t.Fatalf("ndjson has %d lines, want 2", len(docs))
		}
	} else {
		var doc struct{ Results []json.RawMessage }
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("json output is invalid: %v", err)
		}
		for _, r := range doc.Results {
			docs = append(docs, r)
		}
	}

	want := replaceInvalidBytes(value)
	var r enrich.Result
	if err := json.Unmarshal(docs[0], &r); err != nil {
		t.Fatalf("result is invalid JSON: %v", err)
	}
	if r.Summary.ThreatLabel != want {
		t.Errorf("threat label decoded to %q, want the real value %q", clip(r.Summary.ThreatLabel), clip(want))
	}
	if len(r.Local.Notes) != 1 || r.Local.Notes[0].Text != want {
		t.Errorf("note does not carry the real value")
	}
}

// checkCSV checks that the CSV parses to a header and one row per result
// and that no text cell starts a formula.
func checkCSV(t *testing.T, out []byte, results int) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv output does not parse: %v", err)
	}
	if len(rows) != results+1 {
		t.Fatalf("csv has %d rows, want header + %d", len(rows), results)
	}
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell == "" || csvColumns[i] == "reputation" {
				continue
			}
			if strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s starts with a formula character: %q", csvColumns[i], clip(cell))
			}
			if n := utf8.RuneCountInString(cell); n > MaxValueRunes+1 {
				t.Errorf("column %s has %d runes, over the cap", csvColumns[i], n)
			}
		}
	}
}

// checkHuman checks that console and rich output keep one result line per
// IOC and stay small whatever the input size.
func checkHuman(t *testing.T, format string, out []byte, results int) {
	t.Helper()
	if len(out) > 64<<10 {
		t.Errorf("%s output is %d bytes, want a hostile value capped", format, len(out))
	}
	if format != FormatConsole {
		return
	}
	lines := 0
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if !strings.HasPrefix(l, " ") {
			lines++
		}
	}
	if lines != results {
		t.Errorf("console has %d result lines, want %d:\n%s", lines, results, clip(string(out)))
	}
}

// replaceInvalidBytes replaces each byte of invalid UTF-8 with U+FFFD, as
// encoding/json does.
func replaceInvalidBytes(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
