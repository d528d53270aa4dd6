package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/report"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

func TestTriageExitCodes(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		code  int
		inErr string // substring of stderr
	}{
		{name: "clean", args: []string{cleanIP}, code: ExitOK},
		{name: "not found is unknown", args: []string{unseenHash}, code: ExitOK},
		{name: "non-routable", args: []string{"10.1.2.3"}, code: ExitOK},
		{name: "suspicious", args: []string{cleanIP, suspiciousDom}, code: ExitSuspicious},
		{name: "malicious wins", args: []string{suspiciousDom, maliciousHash, cleanIP}, code: ExitMalicious},
		{name: "invalid only", args: []string{"not-an-ioc!"}, code: ExitIncomplete},
		{name: "invalid with clean", args: []string{cleanIP, "999.1.1.1"}, code: ExitIncomplete},
		{name: "invalid with suspicious", args: []string{suspiciousDom, "999.1.1.1"}, code: ExitSuspicious},
		{name: "unknown flag", args: []string{"--bogus", cleanIP}, code: ExitUsage, inErr: "unknown flag"},
		{name: "bad format", args: []string{"-o", "xml", cleanIP}, code: ExitUsage, inErr: "xml"},
		{name: "bad alert level", args: []string{"--alert", "loud", cleanIP}, code: ExitUsage, inErr: "--alert"},
		{name: "alert level unknown", args: []string{"--alert", "unknown", cleanIP}, code: ExitUsage, inErr: "use clean, suspicious or malicious"},
		{name: "no api key", env: map[string]string{"VT_API_KEY": ""}, args: []string{cleanIP}, code: ExitConfig, inErr: "no VirusTotal API key"},
		{name: "missing config", env: map[string]string{"VEX_CONFIG": filepath.Join(te.home, "absent.toml")}, args: []string{cleanIP}, code: ExitConfig, inErr: "absent.toml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := te.run("", tc.env, append([]string{"triage", "-o", "ndjson"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.inErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.inErr, r.stderr)
			}
			if tc.code <= ExitIncomplete {
				if got := len(parseNDJSON(t, r.stdout)); got != len(tc.args) {
					t.Errorf("%d results for %d inputs:\n%s", got, len(tc.args), r.stdout)
				}
			} else if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing on a usage or config error", r.stdout)
			}
		})
	}
}

func TestTriageQuotaExhaustedMidBatch(t *testing.T) {
	// The fake's daily quota of 2 makes the 3rd request a 429 with a
	// Retry-After of hours. One lookup at a time makes "the 3rd" exact.
	te := newTriageEnv(t, vttest.Options{DailyQuota: 2, Clock: noonClock}, triageConfig{concurrency: 1})
	inputs := []string{cleanIP, suspiciousDom, maliciousHash}
	for i := range 7 {
		inputs = append(inputs, fmt.Sprintf("%064x", 0xabc0+i))
	}

	r := te.run("", nil, append([]string{"triage", "-o", "ndjson"}, inputs...)...)

	if r.code != ExitIncomplete && r.code != ExitSuspicious {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	results := parseNDJSON(t, r.stdout)
	if len(results) != 10 {
		t.Fatalf("%d results, want 10:\n%s", len(results), r.stdout)
	}
	for i, res := range results {
		wantOK := i < 2
		if wantOK != (res.Status == enrich.StatusOK) {
			t.Errorf("result %d (%s): status %s", i, res.Input, res.Status)
		}
		if !wantOK && (res.Status != enrich.StatusQuota || res.Error != "not looked up: quota exhausted") {
			t.Errorf("result %d (%s): status %s error %q, want quota_exhausted \"not looked up: quota exhausted\"",
				i, res.Input, res.Status, res.Error)
		}
		if !wantOK && res.Verdict == verdict.Clean {
			t.Errorf("result %d (%s) not looked up but CLEAN", i, res.Input)
		}
	}
	if n := te.fake.Count(""); n != 3 {
		t.Errorf("fake received %d requests, want 3 (none after the 429)", n)
	}
	if !strings.Contains(r.stderr, "quota exhausted: 8 IOCs were not looked up") {
		t.Errorf("stderr lacks the quota message:\n%s", r.stderr)
	}
}

func TestTriageQuotaExhaustedExitCode(t *testing.T) {
	// With nothing suspicious among the kept results the exit code is 3.
	te := newTriageEnv(t, vttest.Options{DailyQuota: 2, Clock: noonClock}, triageConfig{concurrency: 1})
	inputs := []string{cleanIP, unseenHash}
	for i := range 8 {
		inputs = append(inputs, fmt.Sprintf("%064x", 0xabc0+i))
	}

	r := te.run("", nil, append([]string{"triage", "-o", "ndjson"}, inputs...)...)

	if r.code != ExitIncomplete {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitIncomplete, r.stderr)
	}
	got := countStatuses(parseNDJSON(t, r.stdout))
	if got[enrich.StatusOK] != 1 || got[enrich.StatusNotFound] != 1 || got[enrich.StatusQuota] != 8 {
		t.Errorf("statuses %v, want 1 ok, 1 not_found, 8 quota_exhausted", got)
	}
	if n := te.fake.Count(""); n != 3 {
		t.Errorf("fake received %d requests, want 3", n)
	}
}

func TestTriageRejectedKey(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{concurrency: 1})
	inputs := []string{cleanIP, suspiciousDom, maliciousHash, unseenHash, "login-verify2.example.com"}

	r := te.run("", map[string]string{"VT_API_KEY": strings.Repeat("9", 64)},
		append([]string{"triage", "-o", "ndjson"}, inputs...)...)

	if r.code != ExitConfig {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitConfig, r.stderr)
	}
	if n := te.fake.Count(""); n != 1 {
		t.Errorf("fake received %d requests, want 1 (no retry, no further IOC)", n)
	}
	if n := strings.Count(r.stderr, "vex: "); n != 1 {
		t.Errorf("stderr has %d error lines, want 1:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, "rejected the API key") || !strings.Contains(r.stderr, "hint: ") ||
		!strings.Contains(r.stderr, "vex config --set-api-key") {
		t.Errorf("stderr lacks an actionable message:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, strings.Repeat("9", 16)) {
		t.Errorf("stderr shows the rejected key:\n%s", r.stderr)
	}
	got := countStatuses(parseNDJSON(t, r.stdout))
	if got[enrich.StatusAuth] != len(inputs) {
		t.Errorf("statuses %v, want all %d unauthorized", got, len(inputs))
	}
}

func TestTriageRejectedKeyConcurrent(t *testing.T) {
	// With several lookups in flight the first 401 still stops the batch:
	// only requests already sent may follow it, and none is retried.
	te := newTriageEnv(t, vttest.Options{}, triageConfig{concurrency: 4})
	var inputs []string
	for i := range 30 {
		inputs = append(inputs, fmt.Sprintf("%064x", 0xfa0+i))
	}
	r := te.run("", map[string]string{"VT_API_KEY": strings.Repeat("9", 64)},
		append([]string{"triage", "-o", "ndjson"}, inputs...)...)
	if r.code != ExitConfig {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitConfig, r.stderr)
	}
	if n := te.fake.Count(""); n > 4 {
		t.Errorf("fake received %d requests, want at most the 4 in flight", n)
	}
}

// dataFiles returns the bytes of every file in dir, including SQLite's
// -wal and -shm files.
func dataFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.Base(p)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestTriageKeyNeverStored(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	debug := map[string]string{"VEX_LOG": "debug"}
	// hostileHash's object has the key as a tag, as a server echoing it
	// would.
	args := []string{"triage", "-o", "json", cleanIP, suspiciousDom, maliciousHash, hostileHash, unseenHash}
	key := []byte(cfgTestKey)

	runs := []runResult{
		te.run("", debug, args...),
		te.run("", debug, append(args, "--no-cache")...),
		te.run("", debug, append(args, "--offline", "-o", "csv")...),
		te.run("", debug, "tag", cleanIP, "seen-in-test"),
	}
	if !strings.Contains(runs[0].stderr, "level=DEBUG") {
		t.Fatalf("VEX_LOG=debug logged no debug lines; the check would prove nothing:\n%s", runs[0].stderr)
	}
	for i, r := range runs {
		for name, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
			if bytes.Contains([]byte(s), key) {
				t.Errorf("run %d printed the key on %s", i, name)
			}
		}
	}
	files := dataFiles(t, te.dataDir)
	for _, want := range []string{"cache.db", "ledger.db", "kb.db"} {
		if _, ok := files[want]; !ok {
			t.Errorf("data directory lacks %s; have %v", want, mapKeys(files))
		}
	}
	for name, b := range files {
		if bytes.Contains(b, key) {
			t.Errorf("%s contains the API key", name)
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// hasControl reports a control or invisible formatting character other
// than the line feed.
func hasControl(s string) (rune, bool) {
	for _, r := range s {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			return r, true
		}
	}
	return 0, false
}

func TestTriageHostileStrings(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	for _, format := range []string{"console", "rich", "csv", "json", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			r := te.run("", nil, "triage", "-o", format, "--timeline", hostileHash)
			if r.code != ExitMalicious {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitMalicious, r.stderr)
			}
			if c, bad := hasControl(r.stdout); bad {
				t.Errorf("stdout contains control character %U:\n%q", c, r.stdout)
			}
			// The payloads must still be visible as text, defused.
			if !strings.Contains(r.stdout, "HYPERLINK") {
				t.Errorf("stdout lost the hostile name instead of defusing it:\n%s", r.stdout)
			}
		})
	}

	r := te.run("", nil, "triage", "-o", "csv", hostileHash)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("csv output does not parse: %v\n%s", err, r.stdout)
	}
	if len(rows) != 2 {
		t.Fatalf("%d csv rows, want header and one result", len(rows))
	}
	for i, cell := range rows[1] {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			t.Errorf("column %s starts with formula character %q: %q", rows[0][i], cell[0], cell)
		}
	}
	for _, want := range []string{`'=HYPERLINK(`, `'+cmd|`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("csv lacks the quoted cell %q:\n%s", want, r.stdout)
		}
	}
}

func TestTriageAlertFiltersOutputNotExitCode(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	all := []string{cleanIP, suspiciousDom, maliciousHash}

	r := te.run("", nil, append([]string{"triage", "-o", "ndjson", "--alert", "malicious"}, all...)...)
	if r.code != ExitMalicious {
		t.Errorf("exit %d, want %d", r.code, ExitMalicious)
	}
	got := parseNDJSON(t, r.stdout)
	if len(got) != 1 || got[0].Normalized != maliciousHash {
		t.Errorf("--alert malicious printed %d results, want only %s:\n%s", len(got), maliciousHash, r.stdout)
	}

	r = te.run("", nil, "triage", "-o", "ndjson", "--alert", "malicious", cleanIP, suspiciousDom)
	if r.code != ExitSuspicious || r.stdout != "" {
		t.Errorf("exit %d stdout %q, want exit %d and nothing printed", r.code, r.stdout, ExitSuspicious)
	}
}

func TestTriageSummary(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	r := te.run("", nil, "triage", "-o", "ndjson", "--summary", cleanIP, suspiciousDom, maliciousHash, unseenHash, "nope!")
	want := "5 IOCs: 1 malicious, 1 suspicious, 1 clean, 1 unknown, 1 invalid"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stdout, "IOCs:") {
		t.Errorf("summary leaked onto stdout:\n%s", r.stdout)
	}
}

func TestTriageDefang(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	for _, format := range []string{"console", "csv", "ndjson"} {
		r := te.run("", nil, "triage", "-o", format, "--defang", suspiciousDom, "http://login-verify.example.com/a")
		// VirusTotal permalinks stay clickable; they point at VirusTotal.
		out := regexp.MustCompile(`https://www\.virustotal\.com/gui/\S+`).ReplaceAllString(r.stdout, "")
		if strings.Contains(out, suspiciousDom) || strings.Contains(out, "http://") {
			t.Errorf("%s: --defang printed a live indicator:\n%s", format, r.stdout)
		}
		if !strings.Contains(out, "login-verify.example[.]com") || !strings.Contains(out, "hxxp://") {
			t.Errorf("%s: --defang output lacks the defanged forms:\n%s", format, r.stdout)
		}
	}
}

func TestTriageOfflineAndNoCache(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	noKey := map[string]string{"VT_API_KEY": ""}

	// Nothing cached yet: offline needs no key and sends nothing.
	r := te.run("", noKey, "triage", "--offline", "-o", "ndjson", cleanIP)
	if r.code != ExitIncomplete {
		t.Errorf("offline miss: exit %d, want %d; stderr:\n%s", r.code, ExitIncomplete, r.stderr)
	}
	if got := parseNDJSON(t, r.stdout); len(got) != 1 || got[0].Status != enrich.StatusOfflineMiss {
		t.Errorf("offline miss: results %+v, want one not_cached", got)
	}

	r = te.run("", nil, "triage", "-o", "ndjson", cleanIP, maliciousHash)
	if r.code != ExitMalicious || te.fake.Count("") != 2 {
		t.Fatalf("online run: exit %d after %d requests, want %d after 2", r.code, te.fake.Count(""), ExitMalicious)
	}

	r = te.run("", noKey, "triage", "--offline", "-o", "ndjson", cleanIP, maliciousHash, suspiciousDom)
	got := parseNDJSON(t, r.stdout)
	if r.code != ExitMalicious || len(got) != 3 {
		t.Fatalf("offline: exit %d with %d results, want %d with 3; stderr:\n%s", r.code, len(got), ExitMalicious, r.stderr)
	}
	if got[0].Source != enrich.SourceCache || got[0].Verdict != verdict.Clean ||
		got[1].Source != enrich.SourceCache || got[1].Verdict != verdict.Malicious ||
		got[2].Status != enrich.StatusOfflineMiss {
		t.Errorf("offline results: %+v", got)
	}
	if n := te.fake.Count(""); n != 2 {
		t.Errorf("offline runs sent requests: fake count %d, want 2", n)
	}

	r = te.run("", nil, "triage", "-o", "ndjson", cleanIP)
	if n := te.fake.Count(""); n != 2 || parseNDJSON(t, r.stdout)[0].Source != enrich.SourceCache {
		t.Errorf("cached run: fake count %d, want 2 and a cache hit", n)
	}
	r = te.run("", nil, "triage", "-o", "ndjson", "--no-cache", cleanIP)
	if n := te.fake.Count(""); n != 3 || parseNDJSON(t, r.stdout)[0].Source != enrich.SourceAPI {
		t.Errorf("--no-cache: fake count %d, want 3 and a fresh answer", n)
	}
}

func TestTriageFormats(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	args := []string{cleanIP, maliciousHash, "nope!"}
	check := map[string]func(t *testing.T, out string){
		"json": func(t *testing.T, out string) {
			var doc struct {
				Results []enrich.Result `json:"results"`
				Summary struct{ Total, Malicious int }
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if len(doc.Results) != 3 || doc.Summary.Total != 3 || doc.Summary.Malicious != 1 {
				t.Errorf("json document: %d results, summary %+v", len(doc.Results), doc.Summary)
			}
		},
		"ndjson": func(t *testing.T, out string) {
			if got := parseNDJSON(t, out); len(got) != 3 || got[2].Status != enrich.StatusInvalid || got[2].Error == "" {
				t.Errorf("ndjson: %+v", got)
			}
		},
		"csv": func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(rows) != 4 || rows[0][0] != "input" {
				t.Errorf("csv: %d rows, err %v:\n%s", len(rows), err, out)
			}
		},
		"console": func(t *testing.T, out string) {
			for _, want := range []string{"CLEAN", "MALICIOUS", "INVALID", cleanIP} {
				if !strings.Contains(out, want) {
					t.Errorf("console lacks %q:\n%s", want, out)
				}
			}
		},
		"rich": func(t *testing.T, out string) {
			for _, want := range []string{"MALICIOUS", maliciousHash, "Trojan.Agent"} {
				if !strings.Contains(out, want) {
					t.Errorf("rich lacks %q:\n%s", want, out)
				}
			}
		},
	}
	for format, fn := range check {
		t.Run(format, func(t *testing.T) {
			r := te.run("", nil, append([]string{"triage", "-o", format}, args...)...)
			if r.code != ExitMalicious {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, ExitMalicious, r.stderr)
			}
			fn(t, r.stdout)
		})
	}
	r := te.run("", nil, append([]string{"triage", "--csv"}, args...)...)
	if !strings.HasPrefix(r.stdout, "input,type,") {
		t.Errorf("--csv did not write csv:\n%s", r.stdout)
	}
}

func TestTriageInputs(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	dir := t.TempDir()
	freeText := writeFile(t, dir, "report.txt", []byte(
		"Incident 42: the dropper "+maliciousHash+" beaconed to login-verify[.]example[.]com, "+
			"then to "+cleanIP+" (see ticket).\n# a comment line\n\nsample.exe is not a domain\n"))
	crlf := writeFile(t, dir, "crlf.txt", []byte("\ufeff"+cleanIP+"\r\n"+suspiciousDom+"\r\n\r\n"+maliciousHash+"\r\n"))
	long := writeFile(t, dir, "long.txt", []byte(cleanIP+"\n\n"+strings.Repeat("a", 2<<20)+"\n"+maliciousHash+"\n"))

	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		inputs []string // expected normalized values in order
		inErr  string
	}{
		{name: "stdin", stdin: cleanIP + "\n" + suspiciousDom + "\n", code: ExitSuspicious,
			inputs: []string{cleanIP, suspiciousDom}},
		{name: "stdin dash", stdin: maliciousHash + "\n", args: []string{"-f", "-"}, code: ExitMalicious,
			inputs: []string{maliciousHash}},
		{name: "free text", args: []string{"-f", freeText}, code: ExitMalicious,
			inputs: []string{maliciousHash, suspiciousDom, cleanIP}},
		{name: "crlf and bom", args: []string{"-f", crlf}, code: ExitMalicious,
			inputs: []string{cleanIP, suspiciousDom, maliciousHash}},
		{name: "args then file", args: []string{unseenHash, "-f", crlf}, code: ExitMalicious,
			inputs: []string{unseenHash, cleanIP, suspiciousDom, maliciousHash}},
		{name: "long line", args: []string{"-f", long}, code: ExitMalicious,
			inputs: []string{cleanIP, maliciousHash}, inErr: "long.txt:3: line longer than"},
		{name: "missing file", args: []string{"-f", filepath.Join(dir, "absent.txt")}, code: ExitIOError,
			inErr: "absent.txt: no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := te.run(tc.stdin, nil, append([]string{"triage", "-o", "ndjson"}, tc.args...)...)
			checkLookupRun(t, r, tc.code, tc.inputs, tc.inErr)
			if tc.name == "long line" && strings.Contains(r.stderr, "aaaaaaaa") {
				t.Errorf("error quotes the line's contents:\n%.300s", r.stderr)
			}
		})
	}
}

func TestTriageCancelMidBatch(t *testing.T) {
	// The 3rd lookup stalls at the fake until the run is cancelled, the way
	// Ctrl-C cancels the context of cmd/vex.
	te := newTriageEnv(t, vttest.Options{}, triageConfig{concurrency: 1})
	te.fake.Inject(vttest.Fault{Match: maliciousHash, Kind: vttest.Slow, Delay: time.Minute})
	inputs := []string{cleanIP, suspiciousDom, maliciousHash}
	for i := range 7 {
		inputs = append(inputs, fmt.Sprintf("%064x", 0xc0+i))
	}
	// Inputs that need no lookup keep their own status when the run stops
	// before them.
	inputs = append(inputs, "not-an-ioc!", "10.20.30.40")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for te.fake.Count("") < 3 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let the slow response start
		cancel()
	}()

	start := time.Now()
	r := te.runCtx(ctx, "", nil, append([]string{"triage", "-o", "ndjson"}, inputs...)...)

	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("cancelled run took %v", elapsed)
	}
	if r.code != ExitInterrupted {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, ExitInterrupted, r.stderr)
	}
	results := parseNDJSON(t, r.stdout)
	if len(results) != len(inputs) {
		t.Fatalf("%d results for %d inputs:\n%s", len(results), len(inputs), r.stdout)
	}
	for i, res := range results {
		want := enrich.StatusCancelled
		switch {
		case i < 2:
			want = enrich.StatusOK
		case inputs[i] == "not-an-ioc!":
			want = enrich.StatusInvalid
		case inputs[i] == "10.20.30.40":
			want = enrich.StatusNonRoutable
			if res.Type != "ipv4" || res.Normalized != inputs[i] {
				t.Errorf("result %d: type %q normalized %q, want ipv4 %s", i, res.Type, res.Normalized, inputs[i])
			}
		}
		if res.Status != want || res.Input != inputs[i] {
			t.Errorf("result %d: %s %s (%s), want %s %s", i, res.Input, res.Status, res.Error, inputs[i], want)
		}
	}
	if n := te.fake.Count(""); n != 3 {
		t.Errorf("fake received %d requests, want 3", n)
	}
	if !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", r.stderr)
	}
}

func TestTriageCancelExitCode(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{concurrency: 1})
	te.fake.Inject(vttest.Fault{Match: unseenHash, Kind: vttest.Slow, Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for te.fake.Count("") < 2 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	r := te.runCtx(ctx, "", nil, "triage", "-o", "ndjson", cleanIP, unseenHash, "45.83.140.8", "45.83.140.9")
	// An interrupted run exits 130 whatever it found before, so a script
	// can tell it from a finished one.
	if r.code != ExitInterrupted {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, ExitInterrupted, r.stderr)
	}
	if got := countStatuses(parseNDJSON(t, r.stdout)); got[enrich.StatusOK] != 1 || got[enrich.StatusCancelled] != 3 {
		t.Errorf("statuses %v, want 1 ok and 3 cancelled", got)
	}
}

// fullWriter fails every write as a full disk does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

func TestTriageWriteFailureEveryFormat(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	for _, format := range report.Formats {
		t.Run(format, func(t *testing.T) {
			var errOut bytes.Buffer
			code := Run(context.Background(), []string{"triage", "-o", format, cleanIP},
				IO{In: strings.NewReader(""), Out: fullWriter{}, Err: &errOut},
				Env{Getenv: func(k string) string { return te.env[k] }, Home: te.home})
			if code != ExitIOError {
				t.Errorf("exit %d, want %d", code, ExitIOError)
			}
			if !strings.HasPrefix(errOut.String(), "vex: write results: ") {
				t.Errorf("stderr %q lacks the prefix 'vex: write results: '", errOut.String())
			}
			if !strings.Contains(errOut.String(), "no space left on device") {
				t.Errorf("stderr %q does not name the cause", errOut.String())
			}
		})
	}
}
