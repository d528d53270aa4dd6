package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runExtractCLI runs the vex command line in-process with buffers.
func runExtractCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb}, Env{})
	return code, out.String(), errb.String()
}

const extractSample = "Report\r\n" +
	"C2: hxxps://example[.]com/path[.]php and 198.51[.]100[.]7,\r\n" +
	"sha256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n" +
	"bad 10.0.0.256 and evil[.]net\n"

func TestExtractConsole(t *testing.T) {
	code, out, errOut := runExtractCLI(t, extractSample, "extract")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := "url     https://example.com/path.php\n" +
		"ipv4    198.51.100.7 (non_routable)\n" +
		"sha256  e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 (empty_file)\n" +
		"domain  evil.net\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want empty", errOut)
	}
}

func TestExtractNDJSON(t *testing.T) {
	code, out, _ := runExtractCLI(t, extractSample, "extract", "-o", "ndjson", "--invalid")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), out)
	}

	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"ioc":        "hxxps://example[.]com/path[.]php",
		"type":       "url",
		"normalized": "https://example.com/path.php",
		"defanged":   "hxxps://example[.]com/path.php",
		"line":       float64(2),
	} {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["flags"].([]any); !ok {
		t.Errorf("flags = %v, want a JSON array", first["flags"])
	}
	if _, ok := first["file"]; ok {
		t.Errorf("file field present with one input")
	}

	var invalid map[string]any
	if err := json.Unmarshal([]byte(lines[3]), &invalid); err != nil {
		t.Fatal(err)
	}
	if invalid["type"] != "invalid" || invalid["reason"] != "octet 256 out of range 0-255" || invalid["ioc"] != "10.0.0.256" {
		t.Errorf("invalid record = %v", invalid)
	}
}

func TestExtractJSONArray(t *testing.T) {
	code, out, _ := runExtractCLI(t, extractSample, "extract", "-o", "json", "--type", "ipv4,domain")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var recs []extractRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	if len(recs) != 2 || recs[0].Normalized != "198.51.100.7" || recs[1].Normalized != "evil.net" {
		t.Errorf("records = %+v", recs)
	}

	_, empty, _ := runExtractCLI(t, "nothing here", "extract", "-o", "json")
	if strings.TrimSpace(empty) != "[]" {
		t.Errorf("empty output = %q, want []", empty)
	}
}

func TestExtractCSVFormulaGuard(t *testing.T) {
	// A URL whose path starts a cell with "=" cannot occur, but the as-found
	// text of an invalid candidate can start with "-" or "+".
	in := "=cmd|' /C calc'!A0 http://evil.com/=x\n-1.2.3.999\n"
	code, out, _ := runExtractCLI(t, in, "extract", "-o", "csv", "--invalid")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "ioc,type,normalized,defanged,flags,line,file,reason" {
		t.Errorf("header = %s", got)
	}
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts with a formula character", cell)
			}
		}
	}
	if len(rows) != 3 {
		t.Errorf("got %d rows, want header + url + invalid:\n%s", len(rows), out)
	}
	if csvSafe("-1") != "'-1" || csvSafe("@x") != "'@x" || csvSafe("\tx") != "'\tx" || csvSafe("ok") != "ok" {
		t.Errorf("csvSafe does not guard formula characters")
	}
}

func TestExtractDefang(t *testing.T) {
	code, out, _ := runExtractCLI(t, "https://evil.com/a 8.8.8.8", "extract", "--defang")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "url     hxxps://evil[.]com/a\nipv4    8.8.8[.]8\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	_, nd, _ := runExtractCLI(t, "https://evil.com/a", "extract", "--defang", "-o", "ndjson")
	if strings.Contains(nd, "https://") || strings.Contains(nd, "evil.com") {
		t.Errorf("--defang output contains a live value: %s", nd)
	}
}

func TestExtractCount(t *testing.T) {
	code, out, _ := runExtractCLI(t, extractSample, "extract", "--count")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "sha256  1\nipv4    1\ndomain  1\nurl     1\ntotal   4\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	_, js, _ := runExtractCLI(t, extractSample, "extract", "--count", "-o", "json", "--invalid")
	var m map[string]int
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	if m["total"] != 5 || m["invalid"] != 1 || m["md5"] != 0 {
		t.Errorf("counts = %v", m)
	}
	_, c, _ := runExtractCLI(t, extractSample, "extract", "--count", "-o", "csv")
	if c != "type,count\nsha256,1\nipv4,1\ndomain,1\nurl,1\ntotal,4\n" {
		t.Errorf("csv counts = %q", c)
	}
}

func TestExtractAll(t *testing.T) {
	_, out, _ := runExtractCLI(t, "https://evil.com/a", "extract")
	if out != "url     https://evil.com/a\n" {
		t.Errorf("without --all: %q", out)
	}
	_, out, _ = runExtractCLI(t, "https://evil.com/a", "extract", "--all")
	if out != "url     https://evil.com/a\ndomain  evil.com\n" {
		t.Errorf("with --all: %q", out)
	}
}

func TestExtractFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	b := filepath.Join(dir, "b.txt")
	if err := os.WriteFile(a, []byte("evil.com\n1.2.3.4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("\n\nEVIL.com\nother.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runExtractCLI(t, "", "extract", "-o", "ndjson", a, b)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var recs []extractRecord
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r extractRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3 distinct across files: %s", len(recs), out)
	}
	if recs[0].File != a || recs[2].File != b || recs[2].Normalized != "other.org" || recs[2].Line != 4 {
		t.Errorf("records = %+v", recs)
	}
}

func TestExtractErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad format", []string{"extract", "-o", "xml"}, ExitUsage, `invalid output format "xml"`},
		{"bad type", []string{"extract", "--type", "sha512"}, ExitUsage, `invalid --type "sha512"`},
		{"unknown flag", []string{"extract", "--nope"}, ExitUsage, "unknown flag"},
		{"missing file", []string{"extract", filepath.Join(t.TempDir(), "missing.txt")}, ExitIOError, "open input"},
		{"negative line limit", []string{"extract", "--max-line-bytes", "-1"}, ExitUsage, "invalid --max-line-bytes -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runExtractCLI(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if !strings.Contains(errOut, tt.msg) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.msg)
			}
			if out != "" {
				t.Errorf("stdout = %q, want empty on error", out)
			}
		})
	}
}

func TestExtractTypeGroups(t *testing.T) {
	in := "d41d8cd98f00b204e9800998ecf8427e 1.2.3.4 2001:db8::1 evil.com"
	_, out, _ := runExtractCLI(t, in, "extract", "--type", "hash", "-t", "ip")
	want := "md5     d41d8cd98f00b204e9800998ecf8427e (empty_file)\nipv4    1.2.3.4\nipv6    2001:db8::1 (non_routable)\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestExtractControlCharacters(t *testing.T) {
	// An invalid candidate is printed as found; no terminal escape survives.
	code, out, _ := runExtractCLI(t, "http://evil.com/\x1b[31mred\n", "extract", "--invalid")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("output contains an escape character: %q", out)
	}
}

func TestExtractMaxLineBytes(t *testing.T) {
	in := "evil.com\n" + strings.Repeat("x", 40) + " b.org\n"

	code, out, errOut := runExtractCLI(t, in, "extract", "--max-line-bytes", "20")
	if code == 0 {
		t.Errorf("exit 0 with a line over the limit, stdout %q", out)
	}
	want := "extract from standard input: line 2 is longer than 20 bytes: raise --max-line-bytes or split the input"
	if !strings.Contains(errOut, want) {
		t.Errorf("stderr %q does not contain %q", errOut, want)
	}

	code, out, errOut = runExtractCLI(t, in, "extract", "--max-line-bytes", "100")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "domain  evil.com\ndomain  b.org\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestExtractAngleDefanging(t *testing.T) {
	_, out, _ := runExtractCLI(t, "visit hxxps://google<.>com now, also evil<.>com and 1<.>2<.>3<.>4\n", "extract", "--invalid")
	want := "url     https://google.com\ndomain  evil.com\nipv4    1.2.3.4\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestExtractCountFiles(t *testing.T) {
	// A file given twice adds nothing: counts are of values distinct
	// across all inputs, invalid candidates included.
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(a, []byte("evil.com 1.2.3.4 10.0.0.256\nEVIL[.]com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{a}, {a, a}} {
		code, out, errOut := runExtractCLI(t, "", append([]string{"extract", "--count", "--invalid"}, args...)...)
		if code != 0 {
			t.Fatalf("%d inputs: exit %d, stderr %q", len(args), code, errOut)
		}
		want := "ipv4    1\ndomain  1\ninvalid 1\ntotal   3\n"
		if out != want {
			t.Errorf("%d inputs: stdout = %q, want %q", len(args), out, want)
		}
	}
}
