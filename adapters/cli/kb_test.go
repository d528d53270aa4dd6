package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/kb/watchrun"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// kbEnv is one isolated vex installation: a home folder with its own data
// directory and environment.
type kbEnv struct {
	home string
	vars map[string]string
	now  time.Time
}

func newKBEnv(t *testing.T) *kbEnv {
	t.Helper()
	return &kbEnv{
		home: t.TempDir(),
		vars: map[string]string{},
		now:  time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC),
	}
}

func (e *kbEnv) kbPath() string { return filepath.Join(e.home, ".vex", "kb.db") }

type cliResult struct {
	code           int
	stdout, stderr string
}

// run executes vex in-process with buffers as a non-terminal, the way cron
// and scripts run it.
func (e *kbEnv) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut},
		Env{Getenv: func(k string) string { return e.vars[k] }, Home: e.home, Now: func() time.Time { return e.now }})
	return cliResult{code, out.String(), errOut.String()}
}

// ok runs vex and fails the test unless it exits 0.
func (e *kbEnv) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("vex %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestTagCommandRoundTrip(t *testing.T) {
	e := newKBEnv(t)

	out := e.ok(t, "tag", "evil[.]com", "--add", "phishing", "--add", "APT29")
	if got, want := lines(out), []string{"APT29", "phishing"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tag --add printed %q, want %q", got, want)
	}

	// Other spellings of the same IOC reach the same entry.
	e.ok(t, "tag", "EVIL.com.", "--remove", "phishing", "--add", "c2")
	out = e.ok(t, "tag", "evil.com")
	if got, want := lines(out), []string{"APT29", "c2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tag list printed %q, want %q", got, want)
	}

	var doc struct {
		IOC  string   `json:"ioc"`
		Type string   `json:"type"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(e.ok(t, "tag", "evil(.)com", "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.IOC != "evil.com" || doc.Type != "domain" || !reflect.DeepEqual(doc.Tags, []string{"APT29", "c2"}) {
		t.Errorf("tag -o json = %+v", doc)
	}

	e.ok(t, "tag", "1.2.3.4", "--add", "scanner")
	out = e.ok(t, "tag", "--all")
	if got := lines(out); len(got) != 2 || !strings.HasPrefix(got[0], "1.2.3.4") || !strings.Contains(got[1], "APT29, c2") {
		t.Errorf("tag --all printed %q", got)
	}
}

func TestTagCommandNoTags(t *testing.T) {
	e := newKBEnv(t)
	r := e.run(t, "", "tag", "8.8.8.8")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "no tags") {
		t.Errorf("tag on an untagged IOC: %+v", r)
	}
	out := e.ok(t, "tag", "8.8.8.8", "-o", "json")
	if !strings.Contains(out, `"tags": []`) {
		t.Errorf("JSON for no tags = %s, want an empty array", out)
	}
}

func TestKBCommandsBadInput(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "tag", "evil.com", "--add", "keep")
	e.ok(t, "note", "evil.com", "--add", "keep this note")
	e.ok(t, "watchlist", "w", "--add", "evil.com")

	cases := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"invalid ioc", []string{"tag", "invoice.pdf", "--add", "x"}, "invalid ioc"},
		{"empty tag", []string{"tag", "evil.com", "--add", "ok", "--add", " "}, "empty tag"},
		{"missing tag", []string{"tag", "evil.com", "--add", "new", "--remove", "absent"}, "no such tag"},
		{"no ioc", []string{"tag"}, "exactly one IOC"},
		{"bad format", []string{"tag", "evil.com", "-o", "yaml"}, "invalid output format"},
		{"missing note id", []string{"note", "evil.com", "--delete", "999"}, "no such note"},
		{"non-numeric note id", []string{"note", "evil.com", "--delete", "abc"}, "invalid argument"},
		{"empty note", []string{"note", "evil.com", "--add", ""}, "empty note"},
		{"add and delete", []string{"note", "evil.com", "--add", "x", "--delete", "1"}, "not both"},
		{"unknown watchlist", []string{"watchlist", "nope"}, "no such watchlist"},
		{"run unknown watchlist", []string{"watchlist", "nope", "--run"}, "no such watchlist"},
		{"bad watchlist name", []string{"watchlist", "../x", "--add", "evil.com"}, "watchlist name"},
		{"invalid ioc in list", []string{"watchlist", "w", "--add", "good.com", "--add", "300.1.1.1"}, "invalid ioc"},
		{"remove non-member", []string{"watchlist", "w", "--remove", "evil.com", "--remove", "other.com"}, "not on the list"},
		{"two actions", []string{"watchlist", "w", "--list", "--run"}, "only one of"},
		{"all with name", []string{"watchlist", "w", "--all"}, "--all"},
		{"delete with add", []string{"watchlist", "w", "--delete", "--add", "x.com"}, "--delete"},
		{"export json", []string{"watchlist", "w", "--export", "-o", "json"}, "plain text"},
	}
	// An unreadable input file is an I/O failure, as for triage -f.
	if r := e.run(t, "", "watchlist", "w", "--import", "/nonexistent/iocs.txt"); r.code != ExitIOError || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("import missing file: exit %d stderr %q, want %d and the cause", r.code, r.stderr, ExitIOError)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(t, "", tc.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing on error", r.stdout)
			}
		})
	}

	// Nothing above changed the knowledge base.
	if got := lines(e.ok(t, "tag", "evil.com")); !reflect.DeepEqual(got, []string{"keep"}) {
		t.Errorf("tags after bad input = %q", got)
	}
	if got := lines(e.ok(t, "note", "evil.com")); len(got) != 1 || !strings.HasSuffix(got[0], "keep this note") {
		t.Errorf("notes after bad input = %q", got)
	}
	if got := lines(e.ok(t, "watchlist", "--all")); len(got) != 1 || !strings.HasPrefix(got[0], "w ") {
		t.Errorf("watchlists after bad input = %q", got)
	}
	if got := lines(e.ok(t, "watchlist", "w", "--export")); !reflect.DeepEqual(got, []string{"evil.com"}) {
		t.Errorf("members after bad input = %q", got)
	}
}

func TestInvalidIOCCreatesNoKB(t *testing.T) {
	e := newKBEnv(t)
	if r := e.run(t, "", "tag", "not-an-ioc", "--add", "x"); r.code != ExitUsage {
		t.Fatalf("exit %d, want %d", r.code, ExitUsage)
	}
	if _, err := os.Stat(e.kbPath()); !os.IsNotExist(err) {
		t.Errorf("kb.db exists after a rejected command: %v", err)
	}
}

func TestNoteCommandRoundTrip(t *testing.T) {
	e := newKBEnv(t)

	out := e.ok(t, "note", "evil[.]com", "--add", "C2 of the March wave\nticket IR-2291")
	if want := "1\t2026-06-01T09:00:00Z\tC2 of the March wave\n\tticket IR-2291\n"; out != want {
		t.Errorf("note --add printed %q, want %q", out, want)
	}
	e.ok(t, "note", "EVIL.COM", "--add", "blocked at the proxy")

	var doc struct {
		IOC   string `json:"ioc"`
		Notes []struct {
			ID   int64  `json:"id"`
			Text string `json:"text"`
		} `json:"notes"`
	}
	if err := json.Unmarshal([]byte(e.ok(t, "note", "evil.com", "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Notes) != 2 || doc.Notes[0].ID != 1 || doc.Notes[1].Text != "blocked at the proxy" {
		t.Errorf("note -o json = %+v", doc)
	}

	r := e.run(t, "from stdin\nsecond line\n", "note", "evil.com", "--add", "-")
	if want := "3\t2026-06-01T09:00:00Z\tfrom stdin\n\tsecond line\n"; r.code != 0 || r.stdout != want {
		t.Errorf("note --add - printed %q (exit %d), want %q", r.stdout, r.code, want)
	}
	if r := e.run(t, strings.Repeat("x", 5000), "note", "evil.com", "--add", "-"); r.code != ExitUsage || !strings.Contains(r.stderr, "longer than") {
		t.Errorf("too long note from stdin: exit %d, stderr %q", r.code, r.stderr)
	}

	r = e.run(t, "", "note", "evil.com", "--delete", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "deleted note 1") {
		t.Errorf("note --delete: %+v", r)
	}
	if got := lines(e.ok(t, "note", "evil.com")); len(got) != 3 || !strings.HasPrefix(got[0], "2\t") {
		t.Errorf("notes after delete = %q", got)
	}
}

func TestWatchlistCommandRoundTrip(t *testing.T) {
	e := newKBEnv(t)

	r := e.run(t, "", "watchlist", "apt29", "--add", "evil[.]com", "--add", "203.0.113.7", "--add", "EVIL.com")
	if r.code != 0 || !strings.Contains(r.stderr, "2 added, 0 already present, 0 removed, 2 members") {
		t.Errorf("watchlist --add: %+v", r)
	}

	// The list name ignores case; an IOC already on the list is reported.
	var ch watchlistChanges
	if err := json.Unmarshal([]byte(e.ok(t, "watchlist", "APT29", "--add", "evil.com", "--add", "hxxps://bad.example[.]org/p?q=1", "-o", "json")), &ch); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Added, []string{"https://bad.example.org/p?q=1"}) || !reflect.DeepEqual(ch.Already, []string{"evil.com"}) || ch.Members != 3 {
		t.Errorf("second --add -o json = %+v", ch)
	}

	out := e.ok(t, "watchlist", "apt29", "--export")
	if want := "evil.com\n203.0.113.7\nhttps://bad.example.org/p?q=1\n"; out != want {
		t.Errorf("--export printed %q, want %q", out, want)
	}
	out = e.ok(t, "watchlist", "apt29", "--export", "--defang")
	if want := "evil[.]com\n203.0.113[.]7\nhxxps://bad.example[.]org/p?q=1\n"; out != want {
		t.Errorf("--export --defang printed %q, want %q", out, want)
	}

	out = e.ok(t, "watchlist", "apt29")
	if got := lines(out); len(got) != 3 || !strings.HasPrefix(got[1], "203.0.113.7") || !strings.Contains(got[1], "ipv4") {
		t.Errorf("list printed %q", got)
	}

	e.ok(t, "watchlist", "other", "--add", "evil.com")
	var lists []struct {
		Name    string `json:"name"`
		Members int    `json:"members"`
	}
	if err := json.Unmarshal([]byte(e.ok(t, "watchlist", "--all", "-o", "json")), &lists); err != nil {
		t.Fatal(err)
	}
	if len(lists) != 2 || lists[0].Name != "apt29" || lists[0].Members != 3 || lists[1].Members != 1 {
		t.Errorf("--all -o json = %+v", lists)
	}

	// Removing one member keeps the others.
	e.ok(t, "watchlist", "apt29", "--remove", "203.0.113.7")
	if got := lines(e.ok(t, "watchlist", "apt29", "--export")); len(got) != 2 {
		t.Errorf("members after --remove = %q", got)
	}

	r = e.run(t, "", "watchlist", "other", "--delete")
	if r.code != 0 || !strings.Contains(r.stderr, "deleted watchlist other") {
		t.Errorf("--delete: %+v", r)
	}
	if r := e.run(t, "", "watchlist", "other"); r.code != ExitUsage || !strings.Contains(r.stderr, "vex watchlist --all") {
		t.Errorf("deleted list: exit %d, stderr %q; want 64 with a hint", r.code, r.stderr)
	}
}

func TestWatchlistImport(t *testing.T) {
	e := newKBEnv(t)
	report := `Incident summary (TLP:AMBER)
The actor used hxxps://login-portal[.]example[.]com/auth and 198.51.100[.]23 for C2.
Dropper SHA-256: 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f.
Contact soc@example.org. Nothing else (invoice.pdf is a file name, not a domain).
`
	path := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(path, []byte(report), 0o600); err != nil {
		t.Fatal(err)
	}

	r := e.run(t, "", "watchlist", "case-17", "--import", path)
	if r.code != 0 {
		t.Fatalf("--import: exit %d, stderr %q", r.code, r.stderr)
	}
	got := lines(e.ok(t, "watchlist", "case-17", "--export"))
	want := []string{
		"https://login-portal.example.com/auth",
		"198.51.100.23",
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		"example.org",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("imported members = %q, want %q", got, want)
	}

	// stdin works too, and a text with no IOCs is an error that changes nothing.
	if r := e.run(t, "just words here\n", "watchlist", "case-17", "--import", "-"); r.code != ExitUsage || !strings.Contains(r.stderr, "no IOCs found") {
		t.Errorf("import without IOCs: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := e.run(t, "also 192.0.2.1\n", "watchlist", "case-17", "--import", "-"); r.code != 0 {
		t.Errorf("import from stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := len(lines(e.ok(t, "watchlist", "case-17", "--export"))); n != 5 {
		t.Errorf("members after stdin import = %d, want 5", n)
	}
}

func TestKBCommandCorruptFile(t *testing.T) {
	e := newKBEnv(t)
	if err := os.MkdirAll(filepath.Dir(e.kbPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat([]byte("not a database\n"), 400)
	if err := os.WriteFile(e.kbPath(), junk, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"tag", "evil.com", "--add", "x"}, {"watchlist", "w", "--run"}} {
		r := e.run(t, "", args...)
		if r.code != ExitIOError {
			t.Errorf("vex %s: exit %d, want %d", strings.Join(args, " "), r.code, ExitIOError)
		}
		if !strings.Contains(r.stderr, e.kbPath()) || !strings.Contains(r.stderr, "hint:") {
			t.Errorf("vex %s: stderr %q does not name the file and give a hint", strings.Join(args, " "), r.stderr)
		}
	}
	r := e.run(t, "", "tag", "evil.com", "--add", "x")
	if !strings.Contains(r.stderr, e.kbPath()) || !strings.Contains(r.stderr, "hint:") {
		t.Errorf("stderr %q does not name the file and give a hint", r.stderr)
	}
	after, err := os.ReadFile(e.kbPath())
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(after) != sha256.Sum256(junk) {
		t.Error("the corrupt file was changed")
	}
}

func TestKBCommandHelp(t *testing.T) {
	e := newKBEnv(t)
	for _, cmd := range []string{"tag", "note", "watchlist"} {
		out := e.ok(t, cmd, "--help")
		for _, want := range []string{"Usage:", "Examples:", "vex " + cmd + " ", "--add", "-o, --output FORMAT"} {
			if !strings.Contains(out, want) {
				t.Errorf("vex %s --help lacks %q", cmd, want)
			}
		}
	}
}

// startFakeVT serves the fixture folder dir on loopback and points vex at it.
func (e *kbEnv) startFakeVT(t *testing.T, dir string) *vttest.Server {
	t.Helper()
	const key = "watchlist-test-key-0123456789abcdef"
	srv := vttest.New(vttest.Options{FixturesDir: dir, APIKey: key})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.vars["VT_API_KEY"] = key
	e.vars["VEX_VT_BASE_URL"] = srv.URL()
	return srv
}

func TestWatchlistRunReportsChange(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "infra", "--add", "turning.example[.]com", "--add", "steady.example.net")

	// First run: the baseline, nothing worsened.
	before := e.startFakeVT(t, filepath.Join("testdata", "watchlist", "before"))
	r := e.run(t, "", "watchlist", "infra", "--run", "-o", "json")
	if r.code != 0 {
		t.Fatalf("first run: exit %d, stderr %q", r.code, r.stderr)
	}
	var first watchrun.Report
	if err := json.Unmarshal([]byte(r.stdout), &first); err != nil {
		t.Fatalf("first run JSON: %v\n%s", err, r.stdout)
	}
	if first.Counts != (watchrun.Counts{New: 2}) {
		t.Errorf("first run counts = %+v, want 2 new", first.Counts)
	}
	if n := before.Count("/domains/"); n != 2 {
		t.Errorf("first run sent %d domain requests, want 2", n)
	}

	// A day later VirusTotal has turned one domain malicious. --no-cache
	// makes the run fetch from the new fake instead of serving the first
	// run's cached answers; the comparison itself uses the verdicts the
	// knowledge base recorded.
	e.now = e.now.Add(24 * time.Hour)
	e.startFakeVT(t, filepath.Join("testdata", "watchlist", "after"))
	r = e.run(t, "", "watchlist", "infra", "--run", "--no-cache")
	if r.code != exitWorsened {
		t.Fatalf("second run: exit %d, want %d; stderr %q", r.code, exitWorsened, r.stderr)
	}
	out := lines(r.stdout)
	if len(out) != 4 || !strings.Contains(out[0], "1 worsened, 0 improved, 1 unchanged, 0 new, 0 errors") {
		t.Fatalf("second run printed %q", out)
	}
	if f := strings.Fields(out[2]); len(f) < 5 || f[0] != "worsened" || f[1] != "turning.example.com" || f[2] != "CLEAN" || f[3] != "MALICIOUS" || f[4] != "10/70" {
		t.Errorf("worsened row %q, want worsened turning.example.com CLEAN MALICIOUS 10/70", out[2])
	}
	if f := strings.Fields(out[3]); len(f) < 4 || f[0] != "unchanged" || f[1] != "steady.example.net" {
		t.Errorf("unchanged row %q", out[3])
	}

	// A third run finds no change: the worsened verdict is now the baseline.
	e.now = e.now.Add(time.Hour)
	r = e.run(t, "", "watchlist", "infra", "--run", "-o", "json")
	if r.code != 0 {
		t.Errorf("third run: exit %d, stderr %q", r.code, r.stderr)
	}
	var third watchrun.Report
	if err := json.Unmarshal([]byte(r.stdout), &third); err != nil {
		t.Fatal(err)
	}
	if third.Counts != (watchrun.Counts{Unchanged: 2}) {
		t.Errorf("third run counts = %+v, want 2 unchanged", third.Counts)
	}
	if p := third.Items[0].Previous; p == nil || p.Verdict.String() != "MALICIOUS" {
		t.Errorf("third run previous verdict = %+v, want MALICIOUS", p)
	}
}

func TestWatchlistRunRejectedKey(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "infra", "--add", "steady.example.net", "--add", "turning.example.com")
	e.startFakeVT(t, filepath.Join("testdata", "watchlist", "before"))
	e.vars["VT_API_KEY"] = "a-key-the-fake-does-not-accept-000"

	r := e.run(t, "", "watchlist", "infra", "--run")
	if r.code != ExitConfig {
		t.Errorf("exit %d, want %d; stderr %q", r.code, ExitConfig, r.stderr)
	}
	if !strings.Contains(r.stdout, "0 new, 2 errors") || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("stdout %q, stderr %q; want 2 errors and a warning naming the rejected key", r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "a-key-the-fake") {
		t.Error("the API key appears in the output")
	}
}

func TestWatchlistRunProgressOnTerminal(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "infra", "--add", "steady.example.net")
	e.startFakeVT(t, filepath.Join("testdata", "watchlist", "before"))

	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"watchlist", "infra", "--run"},
		IO{In: strings.NewReader(""), Out: &out, Err: &errOut, ErrTTY: true},
		Env{Getenv: func(k string) string { return e.vars[k] }, Home: e.home, Now: func() time.Time { return e.now }})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if errOut.Len() == 0 {
		t.Error("no progress output on a terminal stderr")
	}
	if !strings.Contains(out.String(), "1 new") {
		t.Errorf("stdout %q, want the report", out.String())
	}
}

func TestWatchlistRunNoKey(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "infra", "--add", "steady.example.net")
	r := e.run(t, "", "watchlist", "infra", "--run")
	if r.code != ExitConfig {
		t.Errorf("run without a key: exit %d, want %d (stderr %q)", r.code, ExitConfig, r.stderr)
	}
}

// A scheduled run must see today's VirusTotal data even when the previous
// run's cache entries are still within cache.ttl, so --run fetches fresh
// unless --cache is given.
func TestWatchlistRunBypassesCache(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "infra", "--add", "turning.example.com", "--add", "steady.example.net")
	e.startFakeVT(t, filepath.Join("testdata", "watchlist", "before"))
	if r := e.run(t, "", "watchlist", "infra", "--run"); r.code != 0 {
		t.Fatalf("baseline run: exit %d, stderr %q", r.code, r.stderr)
	}

	e.now = e.now.Add(time.Hour)
	after := e.startFakeVT(t, filepath.Join("testdata", "watchlist", "after"))
	r := e.run(t, "", "watchlist", "infra", "--run", "--cache")
	if r.code != 0 {
		t.Errorf("run with --cache: exit %d, want 0; stderr %q", r.code, r.stderr)
	}
	if n := after.Count("/domains/"); n != 0 {
		t.Errorf("run with --cache sent %d requests, want 0 (both entries are cached)", n)
	}

	r = e.run(t, "", "watchlist", "infra", "--run")
	if r.code != exitWorsened {
		t.Errorf("run without --cache: exit %d, want %d; stdout %q, stderr %q", r.code, exitWorsened, r.stdout, r.stderr)
	}
	if n := after.Count("/domains/"); n != 2 {
		t.Errorf("run without --cache sent %d requests, want 2", n)
	}
	if !strings.Contains(r.stdout, "1 worsened") {
		t.Errorf("run without --cache printed %q, want 1 worsened", r.stdout)
	}

	if r := e.run(t, "", "watchlist", "infra", "--run", "--cache", "--no-cache"); r.code != ExitUsage {
		t.Errorf("--cache with --no-cache: exit %d, want %d", r.code, ExitUsage)
	}
}

// A member whose first verdict is already SUSPICIOUS or worse needs the
// same attention as one that got worse, so the cron recipe mails it.
func TestWatchlistRunNewMaliciousAlerts(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "infra", "--add", "turning.example.com", "--add", "steady.example.net")
	e.startFakeVT(t, filepath.Join("testdata", "watchlist", "after"))

	r := e.run(t, "", "watchlist", "infra", "--run")
	if r.code != exitWorsened {
		t.Errorf("first run with a MALICIOUS member: exit %d, want %d; stdout %q", r.code, exitWorsened, r.stdout)
	}
	if !strings.Contains(r.stdout, "2 new") {
		t.Errorf("first run printed %q, want 2 new", r.stdout)
	}

	e.now = e.now.Add(time.Hour)
	if r := e.run(t, "", "watchlist", "infra", "--run"); r.code != 0 {
		t.Errorf("second run, nothing changed: exit %d, want 0; stdout %q", r.code, r.stdout)
	}
}

// A knowledge base that cannot be used is an I/O error (exit 74), as the
// README's exit-code table says, not a configuration error (78), which a
// cron wrapper reads as "fix the API key".
func TestKBErrExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     int
		hintPart string
	}{
		{"read-only", kb.ErrReadOnly, ExitIOError, "writable"},
		{"corrupt", kb.ErrCorrupt, ExitIOError, "backup"},
		{"foreign", kb.ErrForeign, ExitIOError, "cache.data_dir"},
		{"too new", kb.ErrTooNew, ExitIOError, "upgrade vex"},
		{"invalid", kb.ErrInvalid, ExitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ee *ExitError
			if !errors.As(kbErr(fmt.Errorf("open knowledge base /x/kb.db: %w", tt.err)), &ee) {
				t.Fatal("kbErr did not return an *ExitError")
			}
			if ee.Code != tt.code {
				t.Errorf("exit code %d, want %d", ee.Code, tt.code)
			}
			if !strings.Contains(ee.Hint, tt.hintPart) {
				t.Errorf("hint %q lacks %q", ee.Hint, tt.hintPart)
			}
		})
	}
}

// watchlist NAME --list exists, so tag and note accept --list as the
// listing they print without flags.
func TestTagAndNoteListFlag(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "tag", "evil.com", "--add", "c2")
	e.ok(t, "note", "evil.com", "--add", "seen in case 12")

	if got := lines(e.ok(t, "tag", "evil.com", "--list")); !reflect.DeepEqual(got, []string{"c2"}) {
		t.Errorf("tag --list printed %q, want [c2]", got)
	}
	if got := lines(e.ok(t, "note", "evil.com", "--list")); len(got) != 1 || !strings.HasSuffix(got[0], "seen in case 12") {
		t.Errorf("note --list printed %q, want the note", got)
	}
	if r := e.run(t, "", "tag", "evil.com", "--list", "--add", "x"); r.code != ExitUsage {
		t.Errorf("tag --list --add: exit %d, want %d", r.code, ExitUsage)
	}
	if r := e.run(t, "", "note", "evil.com", "--list", "--add", "x"); r.code != ExitUsage {
		t.Errorf("note --list --add: exit %d, want %d", r.code, ExitUsage)
	}
}

// Watchlist names ignore case, so JSON shows the name the list was created
// with, as --all does, not the spelling of the command line.
func TestWatchlistJSONStoredName(t *testing.T) {
	e := newKBEnv(t)
	e.ok(t, "watchlist", "apt29", "--add", "evil.com")

	var list struct {
		Name string `json:"watchlist"`
	}
	if err := json.Unmarshal([]byte(e.ok(t, "watchlist", "APT29", "--list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if list.Name != "apt29" {
		t.Errorf("--list -o json name %q, want apt29", list.Name)
	}

	var ch watchlistChanges
	if err := json.Unmarshal([]byte(e.ok(t, "watchlist", "Apt29", "--add", "1.2.3.4", "-o", "json")), &ch); err != nil {
		t.Fatal(err)
	}
	if ch.Name != "apt29" {
		t.Errorf("--add -o json name %q, want apt29", ch.Name)
	}

	r := e.run(t, "", "watchlist", "APT29", "--add", "5.6.7.8")
	if !strings.Contains(r.stderr, "watchlist apt29:") {
		t.Errorf("--add printed %q, want the stored name apt29", r.stderr)
	}
}

// Many Windows editors save UTF-8 with a byte order mark. triage -f strips
// it, and so does note --add -.
func TestNoteFromStdinStripsBOM(t *testing.T) {
	e := newKBEnv(t)
	r := e.run(t, "\ufeffbom note\r\n", "note", "evil.com", "--add", "-", "-o", "json")
	if r.code != 0 {
		t.Fatalf("note with a BOM: exit %d, stderr %q", r.code, r.stderr)
	}
	var n noteJSON
	if err := json.Unmarshal([]byte(r.stdout), &n); err != nil {
		t.Fatal(err)
	}
	if n.Text != "bom note" {
		t.Errorf("stored note %q, want %q", n.Text, "bom note")
	}

	r = e.run(t, "", "note", "evil.com", "--add", "a\u200eb")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "U+200E at position 2") {
		t.Errorf("note with U+200E: exit %d, stderr %q; want 64 naming U+200E at position 2", r.code, r.stderr)
	}
}
