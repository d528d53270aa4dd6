package hardening

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/stix"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// Hostile values a compromised or spoofed VirusTotal response could carry.
const (
	// hostileEscapes sets the window title, draws a fake hyperlink,
	// clears the screen and turns the text red.
	hostileEscapes = "\x1b]0;pwned\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\x1b[2J\x1b[31mRED\u009b1m"
	hostileRTL     = "invoice\u202egpj.exe\u2066\u200b"
	hostileFormula = `=HYPERLINK("http://evil.example","open")`
	// invalidUTF8Marker is replaced by raw invalid bytes after the JSON
	// is encoded, because encoding/json would repair them.
	invalidUTF8Marker = "INVALID-UTF8-MARKER"
	invalidUTF8       = "bad\xff\xfe\xc0utf8"
)

// hostileHash is the file the hostile fixture describes.
const hostileHash = "bad0000000000000000000000000000000000000000000000000000000000bad"

var hostileLong = strings.Repeat("A", 200_000)

// hostileFixtures writes a fixture folder with one file object whose
// strings are all hostile and returns the folder.
func hostileFixtures(t *testing.T) string {
	t.Helper()
	attrs := map[string]any{
		"meaningful_name":  hostileEscapes + hostileRTL,
		"type_description": hostileFormula,
		"names":            []string{hostileFormula, hostileRTL},
		"tags":             []string{hostileFormula, "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcr", hostileRTL, hostileLong, invalidUTF8Marker, hostileEscapes},
		"popular_threat_classification": map[string]any{
			"suggested_threat_label": hostileEscapes + hostileFormula,
		},
		"last_analysis_stats": map[string]int{"malicious": 5, "suspicious": 0, "undetected": 60, "harmless": 0},
		"last_analysis_results": map[string]any{
			"Engine\x1b[5m": map[string]any{"category": "malicious", "engine_name": "Engine\x1b[5m", "result": hostileFormula + hostileEscapes},
			"Other":         map[string]any{"category": "malicious", "engine_name": "Other", "result": invalidUTF8Marker},
		},
		"reputation":         -50,
		"size":               1234,
		"last_analysis_date": 1700000000,
	}
	body, err := json.Marshal(map[string]any{"data": map[string]any{"type": "file", "id": hostileHash, "attributes": attrs}})
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.ReplaceAll(body, []byte(invalidUTF8Marker), []byte(invalidUTF8))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hostile.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostileErrorBody is a VirusTotal error whose code and message are hostile;
// the message reaches every output's error field.
func hostileErrorBody() []byte {
	return vttest.ErrorBody("BadRequestError"+hostileEscapes, hostileFormula+hostileRTL+hostileLong[:5000])
}

// startHostileFake serves the hostile file, and a hostile error body for
// hostile-error.com.
func startHostileFake(t *testing.T) *vttest.Server {
	t.Helper()
	fake := startFake(t, vttest.Options{FixturesDir: hostileFixtures(t), Synthesize: true})
	fake.Inject(vttest.Fault{Match: "/domains/hostile-error.com", Kind: vttest.Status, Status: 400, Body: hostileErrorBody()})
	return fake
}

// forbiddenRune reports a character that must not reach a terminal, a
// spreadsheet or a log: C0 controls other than line feed, DEL, C1
// controls, bidi overrides and isolates, zero-width characters and BOM.
func forbiddenRune(r rune) bool {
	switch {
	case r == '\n':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
		return true
	}
	return false
}

// checkNeutral checks that text from a human or line-oriented output has
// valid UTF-8, no forbidden character and no line long enough to carry a
// hostile value uncut.
func checkNeutral(t *testing.T, what, text string) {
	t.Helper()
	if !utf8.ValidString(text) {
		t.Errorf("%s: invalid UTF-8", what)
	}
	for i, r := range text {
		if forbiddenRune(r) {
			t.Errorf("%s: forbidden character %U at byte %d: %q", what, r, i, text[max(0, i-20):min(len(text), i+20)])
			return
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if len(line) > 64<<10 {
			t.Errorf("%s: a line of %d bytes; long values must be cut", what, len(line))
			return
		}
	}
}

// checkNoFormula checks that no CSV cell starts a spreadsheet formula.
func checkNoFormula(t *testing.T, what string, records [][]string) {
	t.Helper()
	for _, rec := range records {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) && !isNumber(cell) {
				t.Errorf("%s: cell starts a formula: %.60q", what, cell)
			}
		}
	}
}

// isNumber reports whether a cell is a plain negative number such as a
// reputation of -50, which spreadsheets read as a number, not a formula.
func isNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// TestHostileStringsCLI triages the hostile file and the hostile error in
// every output format and checks each is neutralised, and that JSON and
// STIX stay valid.
func TestHostileStringsCLI(t *testing.T) {
	fake := startHostileFake(t)
	h := newHome(t, fake.URL(), apiConfig{})
	iocs := []string{hostileHash, "hostile-error.com"}

	for _, format := range []string{"console", "rich", "csv"} {
		for _, tty := range []string{"", "1"} {
			name := format
			extra := map[string]string{}
			if tty != "" {
				// CLICOLOR_FORCE takes the coloured terminal path.
				name += "+colour"
				extra = map[string]string{"NO_COLOR": "", "CLICOLOR_FORCE": "1"}
			}
			res := h.run(t, "", extra, append([]string{"triage", "-o", format, "--timeline"}, iocs...)...)
			if res.code != 2 {
				t.Errorf("%s: exit code %d, want 2 (the hostile file is malicious); stderr:\n%s", name, res.code, res.stderr)
			}
			if format == "csv" {
				records, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
				if err != nil {
					t.Fatalf("csv output does not parse: %v", err)
				}
				checkNoFormula(t, name, records)
				for _, rec := range records {
					for _, cell := range rec {
						checkNeutral(t, name+" cell", cell)
					}
				}
			} else {
				checkNeutral(t, name+" stdout", stripSGR(res.stdout, tty != ""))
			}
			checkNeutral(t, name+" stderr", res.stderr)
		}
	}

	for _, format := range []string{"json", "ndjson"} {
		res := h.run(t, "", nil, append([]string{"triage", "-o", format}, iocs...)...)
		checkJSONOutput(t, format, res.stdout)
		checkNeutral(t, format+" stderr", res.stderr)
	}

	// A STIX bundle built from the results stays valid JSON and carries no
	// raw control characters.
	results := parseNDJSON(t, h.run(t, "", nil, append([]string{"triage", "-o", "ndjson"}, iocs...)...).stdout)
	bundle, err := stix.Build(results, stix.Options{})
	if err != nil {
		t.Fatalf("build STIX bundle: %v", err)
	}
	var buf bytes.Buffer
	if err := stix.Write(&buf, bundle); err != nil {
		t.Fatal(err)
	}
	checkJSONOutput(t, "stix", buf.String())
}

// stripSGR removes the colour sequences vex itself writes when colour is
// on, so that any escape left over came from the data.
func stripSGR(s string, colour bool) string {
	if !colour {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
				j++
			}
			if j < len(s) && s[j] == 'm' {
				i = j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkJSONOutput checks JSON or NDJSON output: valid JSON with valid
// UTF-8, and no raw escape or bidi character that a pager or terminal
// showing the file would act on.
func checkJSONOutput(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8", what)
	}
	docs := []string{out}
	if what == "ndjson" {
		docs = strings.Split(strings.TrimSpace(out), "\n")
	}
	for _, d := range docs {
		if !json.Valid([]byte(d)) {
			t.Errorf("%s: invalid JSON: %.200s", what, d)
		}
	}
	// JSON keeps long values whole: it is data for programs, and
	// encoding/json has already escaped every control character.
	for i, r := range out {
		if r != '\n' && forbiddenRune(r) {
			t.Errorf("%s: raw character %U at byte %d", what, r, i)
			return
		}
	}
}

// TestHostileStringsSplunk runs the Splunk command binary over an event
// with the hostile hash and checks every vt_* field.
func TestHostileStringsSplunk(t *testing.T) {
	fake := startHostileFake(t)
	w := newSplunkWorld(t, fake)
	body := "_serial,hash\n0," + hostileHash + "\n1,hostile-error.com\n"
	out, stderr := w.run(t, getinfoChunk(t, w.splunkd.URL(), "field=hash")+executeChunk(true, body))
	replies := decodeChunks(t, out)
	if len(replies) != 2 {
		t.Fatalf("%d replies, want 2; stderr:\n%s", len(replies), stderr)
	}
	records := replies[1].rows
	if len(records) < 3 {
		t.Fatalf("reply rows %v", records)
	}
	header := records[0]
	for _, rec := range records[1:] {
		for i, cell := range rec {
			if !strings.HasPrefix(header[i], "vt_") && !strings.HasPrefix(header[i], "__mv_vt_") {
				continue
			}
			checkNeutral(t, "splunk "+header[i], cell)
		}
	}
	checkNoFormula(t, "splunk", records[1:])
	if got := replies[1].field(t, 0, "vt_verdict"); got != "MALICIOUS" {
		t.Errorf("vt_verdict = %q, want MALICIOUS", got)
	}
	checkNeutral(t, "splunk stderr", stderr)
}

// TestHostileStringsOsquery queries vex_triage through the extension binary
// for the hostile hash and the hostile error and checks every column.
func TestHostileStringsOsquery(t *testing.T) {
	fake := startHostileFake(t)
	e := startOsqueryExt(t, fake)
	rows := e.query(t, []string{hostileHash, "hostile-error.com"})
	if len(rows) != 2 {
		t.Fatalf("rows = %v, want 2", rows)
	}
	for _, row := range rows {
		for col, v := range row {
			if col == "ioc" {
				continue // echoed byte for byte, as osquery requires
			}
			checkNeutral(t, "osquery "+col, v)
			checkNoFormula(t, "osquery "+col, [][]string{{v}})
		}
	}
}
