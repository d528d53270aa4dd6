package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

var updateGolden = flag.Bool("update-investigate", false, "rewrite testdata/investigate/*.golden from the current output")

// invEnv is one isolated vex installation pointed at a fake VirusTotal
// serving the shared fixtures, with limits high enough that investigate's
// several requests per IOC never wait for the rate limiter.
type invEnv struct {
	home string
	vars map[string]string
	now  time.Time
	fake *vttest.Server
}

const invTestKey = "investigate-test-key-0123456789abcdef"

func newInvEnv(t *testing.T) *invEnv {
	t.Helper()
	return newInvEnvAt(t, fixtures.Dir(t, "vt"))
}

// newInvEnvAt is newInvEnv with the fake serving the fixtures in dir.
func newInvEnvAt(t *testing.T, dir string) *invEnv {
	t.Helper()
	fake := vttest.New(vttest.Options{FixturesDir: dir, Synthesize: true, APIKey: invTestKey})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })

	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".vex"), 0o700); err != nil {
		t.Fatal(err)
	}
	config := `[api]
tier = "premium"
per_minute = 10000
per_day = 1000000
max_retries = 0

[stix]
tlp = "amber"
identity_name = "ACME SOC"
`
	if err := os.WriteFile(filepath.Join(home, ".vex", "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return &invEnv{
		home: home,
		vars: map[string]string{"VT_API_KEY": invTestKey, "VEX_VT_BASE_URL": fake.URL()},
		now:  time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
		fake: fake,
	}
}

type invRun struct {
	code           int
	stdout, stderr string
}

// run executes vex in-process as a non-terminal with a fixed clock.
func (e *invEnv) run(t *testing.T, args ...string) invRun {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
		Env{Getenv: func(k string) string { return e.vars[k] }, Home: e.home, Now: func() time.Time { return e.now }})
	return invRun{code, out.String(), errOut.String()}
}

// investigateJSON runs investigate -o json and returns the one result.
func (e *invEnv) investigateJSON(t *testing.T, args ...string) (enrich.Result, invRun) {
	t.Helper()
	r := e.run(t, append([]string{"investigate", "-o", "json"}, args...)...)
	if r.code > ExitIncomplete {
		t.Fatalf("vex investigate %v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	var doc struct{ Results []enrich.Result }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("investigate JSON: %v\n%s", err, r.stdout)
	}
	if len(doc.Results) != 1 {
		t.Fatalf("got %d results, want 1", len(doc.Results))
	}
	return doc.Results[0], r
}

// fixtureObject is one VirusTotal object of the fixture index with the
// relationship and behaviour sections the index holds for it.
type fixtureObject struct {
	ioc      string
	path     string          // /files/<id> and so on
	sections map[string]bool // section name -> the fixture has items
}

// fixtureObjects reads the index and groups its rows by object. URL
// objects listed by their SHA-256 id are skipped: the same object is
// listed by its URL id too, and only that id gives back the URL.
func fixtureObjects(t *testing.T) []*fixtureObject {
	t.Helper()
	dir := fixtures.Dir(t, "vt")
	rows, err := vttest.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*fixtureObject{}
	var order []string
	for _, row := range rows {
		if row.Method != http.MethodGet || row.Status != http.StatusOK {
			continue
		}
		segs := strings.Split(strings.TrimPrefix(row.Path, "/"), "/")
		if len(segs) < 2 {
			continue
		}
		value := segs[1]
		if segs[0] == "urls" {
			u, err := base64.RawURLEncoding.DecodeString(value)
			if err != nil || !strings.Contains(string(u), "://") {
				continue // a SHA-256 URL id, which hex also decodes from base64
			}
			value = string(u)
		}
		objPath := "/" + segs[0] + "/" + segs[1]
		obj := byPath[objPath]
		if obj == nil {
			obj = &fixtureObject{ioc: value, path: objPath, sections: map[string]bool{}}
			byPath[objPath] = obj
			order = append(order, objPath)
		}
		if len(segs) == 3 {
			obj.sections[segs[2]] = fixtureHasItems(t, filepath.Join(dir, row.File), row.Envelope)
		}
	}
	out := make([]*fixtureObject, 0, len(order))
	for _, p := range order {
		out = append(out, byPath[p])
	}
	return out
}

// fixtureHasItems reports whether a fixture body holds a non-empty data
// list or a data object.
func fixtureHasItems(t *testing.T, path, envelope string) bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := vttest.ApplyEnvelope(raw, envelope)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var doc struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var list []json.RawMessage
	if json.Unmarshal(doc.Data, &list) == nil {
		return len(list) > 0
	}
	return len(doc.Data) > 2
}

// investigateSections are the sections vex fetches per object collection.
var investigateSections = map[string][]string{
	"files":        {"behaviour_summary", "behaviour_mitre_trees", "contacted_ips", "contacted_domains", "contacted_urls", "dropped_files", "execution_parents"},
	"ip_addresses": {"resolutions", "communicating_files", "downloaded_files"},
	"domains":      {"resolutions", "subdomains", "communicating_files", "historical_whois"},
	"urls":         {"downloaded_files", "contacted_domains"},
}

func TestInvestigateEveryFixtureObject(t *testing.T) {
	e := newInvEnv(t)
	for _, obj := range fixtureObjects(t) {
		t.Run(obj.path, func(t *testing.T) {
			r, _ := e.investigateJSON(t, obj.ioc)
			if r.Status != enrich.StatusOK {
				t.Fatalf("status %s (%s), want ok", r.Status, r.Error)
			}
			inv := r.Investigation
			if inv == nil {
				t.Fatal("result has no investigation")
			}
			if len(inv.Missing) > 0 {
				t.Errorf("sections missing: %v", inv.Missing)
			}
			coll := strings.Split(obj.path, "/")[1]
			var names []string
			for _, s := range inv.Sections {
				names = append(names, s.Name)
			}
			if want := investigateSections[coll]; !slices.Equal(names, want) {
				t.Errorf("sections %v, want %v", names, want)
			}
			for name, hasItems := range obj.sections {
				if !slices.Contains(investigateSections[coll], name) {
					continue // a relationship investigate does not fetch, e.g. siblings
				}
				checkSectionFilled(t, r, name, hasItems)
			}
			if len(r.Timeline) == 0 {
				t.Error("timeline is empty")
			}
		})
	}
}

// checkSectionFilled checks that the section the fixture holds shows up
// in the result with its content.
func checkSectionFilled(t *testing.T, r enrich.Result, name string, hasItems bool) {
	t.Helper()
	inv := r.Investigation
	i := slices.IndexFunc(inv.Sections, func(s enrich.Section) bool { return s.Name == name })
	if i < 0 {
		t.Errorf("section %s is absent", name)
		return
	}
	sec := inv.Sections[i]
	if sec.Status != enrich.SectionOK {
		t.Errorf("section %s has status %s (%s)", name, sec.Status, sec.Error)
	}
	switch name {
	case "behaviour_summary":
		if b := inv.Details.Behaviour; hasItems && (b == nil || len(b.ProcessesCreated)+len(b.DNSLookups)+len(b.FilesDropped) == 0) {
			t.Error("behaviour summary in the fixture, but no behaviour decoded")
		}
	case "behaviour_mitre_trees":
		found := false
		for _, m := range inv.Techniques {
			found = found || strings.Contains(m.Evidence, "behaviour_mitre_trees")
		}
		if hasItems && !found {
			t.Error("MITRE trees in the fixture, but no technique cites them")
		}
	default:
		if hasItems && len(sec.Items) == 0 {
			t.Errorf("section %s has no items, but the fixture has some", name)
		}
		for _, it := range sec.Items {
			if it.ID == "" || it.Type == "" {
				t.Errorf("section %s has an item without id or type: %+v", name, it)
			}
			if name == "resolutions" && it.Name == "" {
				t.Errorf("resolution %s has no name", it.ID)
			}
		}
	}
}

func TestInvestigatePremiumSection(t *testing.T) {
	e := newInvEnv(t)
	e.fake.Inject(vttest.Fault{Match: "/execution_parents", Kind: vttest.Status, Status: http.StatusForbidden})
	hash := "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b"

	r, run := e.investigateJSON(t, hash)
	if r.Status != enrich.StatusOK || run.code != ExitMalicious {
		t.Fatalf("status %s exit %d, want ok and %d: a premium-only section must not fail the IOC", r.Status, run.code, ExitMalicious)
	}
	sec := section(t, r, "execution_parents")
	if sec.Status != enrich.SectionRequiresPremium {
		t.Errorf("execution_parents status %q, want %q", sec.Status, enrich.SectionRequiresPremium)
	}
	if len(r.Investigation.Missing) != 0 {
		t.Errorf("Missing = %v, want none: asking again would not help", r.Investigation.Missing)
	}
	if got := section(t, r, "contacted_ips").Status; got != enrich.SectionOK {
		t.Errorf("contacted_ips status %q after the 403, want ok", got)
	}
	if st := e.cacheStatus(t, "sha256", hash); st != cache.StatusOK {
		t.Errorf("cached with status %q, want %q", st, cache.StatusOK)
	}

	rich := e.run(t, "investigate", hash, "-o", "rich", "--offline")
	if !strings.Contains(rich.stdout, "execution parents: requires a premium API key") {
		t.Errorf("rich output does not say the section needs a premium key:\n%s", rich.stdout)
	}
}

func TestInvestigatePartialResult(t *testing.T) {
	e := newInvEnv(t)
	e.fake.Inject(vttest.Fault{Match: "/communicating_files", Kind: vttest.Status, Status: http.StatusInternalServerError})

	r, _ := e.investigateJSON(t, "github.com")
	if r.Status != enrich.StatusOK {
		t.Fatalf("status %s (%s), want ok with a partial investigation", r.Status, r.Error)
	}
	if !slices.Equal(r.Investigation.Missing, []string{"communicating_files"}) {
		t.Errorf("Missing = %v, want [communicating_files]", r.Investigation.Missing)
	}
	if sec := section(t, r, "communicating_files"); sec.Status != enrich.SectionError || sec.Error == "" {
		t.Errorf("communicating_files = %+v, want an error status with its reason", sec)
	}
	if got := len(section(t, r, "resolutions").Items); got == 0 {
		t.Error("resolutions were dropped with the failed section")
	}
	if st := e.cacheStatus(t, "domain", "github.com"); st != cache.StatusPartial {
		t.Errorf("cached with status %q, want %q", st, cache.StatusPartial)
	}

	// The partial entry answers offline and still says what is missing.
	rich := e.run(t, "investigate", "github.com", "-o", "rich", "--offline")
	for _, want := range []string{"PARTIAL", "communicating files: MISSING"} {
		if !strings.Contains(rich.stdout, want) {
			t.Errorf("rich output from the partial cache entry lacks %q:\n%s", want, rich.stdout)
		}
	}
}

func section(t *testing.T, r enrich.Result, name string) enrich.Section {
	t.Helper()
	for _, s := range r.Investigation.Sections {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no section %s", name)
	return enrich.Section{}
}

// cacheStatus returns the status of the cached investigation of value.
func (e *invEnv) cacheStatus(t *testing.T, typ, value string) string {
	t.Helper()
	ctx := context.Background()
	c, err := cache.Open(ctx, filepath.Join(e.home, ".vex", "cache.db"), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	entry, _, err := c.Get(ctx, cache.Key{Mode: string(enrich.Investigate), Type: typ, Value: value})
	if err != nil {
		t.Fatalf("cache entry for %s: %v", value, err)
	}
	return entry.Status
}

// validateSTIX runs the OASIS stix2-validator on bundle when
// VEX_STIX_VALIDATOR names it, with the checks core/stix disables for the
// same reasons: content-derived UUIDv5 ids (103) and external references
// without hashes (302).
func validateSTIX(t *testing.T, bundle []byte) {
	t.Helper()
	var doc struct {
		Type    string
		Objects []map[string]any
	}
	if err := json.Unmarshal(bundle, &doc); err != nil || doc.Type != "bundle" {
		t.Fatalf("not a STIX bundle (%v):\n%s", err, bundle)
	}
	validator := os.Getenv("VEX_STIX_VALIDATOR")
	if validator == "" {
		t.Log("VEX_STIX_VALIDATOR not set; skipping the OASIS stix2-validator check")
		return
	}
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(validator, "--strict", "--disable", "103,302", "--no-cache", "-v", path).CombinedOutput()
	if err != nil {
		t.Fatalf("stix2-validator rejected the bundle: %v\n%s\nbundle:\n%s", err, out, bundle)
	}
}

func stixObjects(t *testing.T, bundle []byte, typ string) []map[string]any {
	t.Helper()
	var doc struct{ Objects []map[string]any }
	if err := json.Unmarshal(bundle, &doc); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, o := range doc.Objects {
		if o["type"] == typ {
			out = append(out, o)
		}
	}
	return out
}

func TestInvestigateExportsSTIXAndNavigator(t *testing.T) {
	e := newInvEnv(t)
	dir := t.TempDir()
	stixPath := filepath.Join(dir, "case.stix.json")
	layerPath := filepath.Join(dir, "case.layer.json")
	hash := "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b"

	e.run(t, "tag", hash, "--add", "case-42")
	e.run(t, "note", hash, "--add", `dropped by the "invoice" mail`)
	r := e.run(t, "investigate", hash, "github.com", "http://example.com/", "--defang", "--stix", stixPath, "--navigator", layerPath)
	if r.code != ExitMalicious {
		t.Fatalf("exit %d, want %d; stderr %q", r.code, ExitMalicious, r.stderr)
	}
	if !strings.Contains(r.stdout, "example[.]com") {
		t.Errorf("--defang did not defang the console output:\n%s", r.stdout)
	}
	for _, p := range []string{stixPath, layerPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", filepath.Base(p), fi.Mode().Perm())
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	bundle, err := os.ReadFile(stixPath)
	if err != nil {
		t.Fatal(err)
	}
	validateSTIX(t, bundle)
	if bytes.Contains(bundle, []byte("[.]")) {
		t.Error("the STIX bundle holds defanged values; it must carry real ones")
	}
	if n := len(stixObjects(t, bundle, "attack-pattern")); n == 0 {
		t.Error("the bundle has no attack-pattern for the file's techniques")
	}
	if mw := stixObjects(t, bundle, "malware"); len(mw) == 0 || mw[0]["name"] != "tasker" {
		t.Errorf("malware objects %v, want the family from the threat label trojan.msil/tasker", mw)
	}
	notes := stixObjects(t, bundle, "note")
	if len(notes) != 1 || notes[0]["content"] != `dropped by the "invoice" mail` {
		t.Errorf("notes %v, want the KB note", notes)
	}
	identity := stixObjects(t, bundle, "identity")
	if len(identity) != 1 || identity[0]["name"] != "ACME SOC" {
		t.Errorf("identity %v, want the configured ACME SOC", identity)
	}
	if !bytes.Contains(bundle, []byte("TLP:AMBER")) {
		t.Error("the bundle lacks the configured TLP:AMBER marking")
	}
	labelled := false
	for _, ind := range stixObjects(t, bundle, "indicator") {
		if labels, ok := ind["labels"].([]any); ok && slices.Contains(labels, any("case-42")) {
			labelled = true
		}
	}
	if !labelled {
		t.Error("no indicator carries the local tag case-42 as a label")
	}

	layer, err := os.ReadFile(layerPath)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Domain     string
		Techniques []struct{ TechniqueID string }
	}
	if err := json.Unmarshal(layer, &l); err != nil {
		t.Fatalf("navigator layer: %v", err)
	}
	if l.Domain != "enterprise-attack" || len(l.Techniques) == 0 {
		t.Errorf("layer has domain %q and %d techniques, want enterprise-attack and some", l.Domain, len(l.Techniques))
	}
}

func TestSTIXToStdout(t *testing.T) {
	e := newInvEnv(t)
	r := e.run(t, "triage", "8.8.8.8", "http://example.com/", "-o", "rich", "--stix", "-")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	validateSTIX(t, []byte(r.stdout))
	if strings.Contains(r.stdout, "VERDICT") {
		t.Error("--stix - also printed the rich table on stdout")
	}

	both := e.run(t, "investigate", "8.8.8.8", "--stix", "-", "--navigator", "-")
	if both.code != ExitUsage || both.stdout != "" {
		t.Errorf("--stix - --navigator -: exit %d stdout %q, want a usage error and no output", both.code, both.stdout)
	}
}

// TestSTIXURLsWithQuotesAndBackslashes checks the pattern escaping end to
// end: the synthesised URL objects come back with the exact URL, and the
// bundle must still validate.
func TestSTIXURLsWithQuotesAndBackslashes(t *testing.T) {
	e := newInvEnv(t)
	urls := []string{
		`http://evil.example.com/a'b`,
		`http://evil.example.com/c\d`,
		`http://evil.example.com/q?x="1"&y=\'`,
		`https://evil.example.com/%zz/\\server\share'`,
	}
	r := e.run(t, append([]string{"investigate", "-o", "json", "--stix", "-"}, urls...)...)
	if r.code > ExitIncomplete {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	validateSTIX(t, []byte(r.stdout))
	patterns := ""
	for _, ind := range stixObjects(t, []byte(r.stdout), "indicator") {
		patterns += ind["pattern"].(string) + "\n"
	}
	for _, want := range []string{`[url:value = 'http://evil.example.com/a\'b']`, `[url:value = 'http://evil.example.com/c\\d']`} {
		if !strings.Contains(patterns, want) {
			t.Errorf("patterns lack %s:\n%s", want, patterns)
		}
	}
	if got := len(stixObjects(t, []byte(r.stdout), "indicator")); got != len(urls) {
		t.Errorf("%d indicators, want %d", got, len(urls))
	}
}

func TestTimelineFlagOnTriage(t *testing.T) {
	e := newInvEnv(t)
	r := e.run(t, "triage", "github.com", "-o", "console", "--timeline")
	if !strings.Contains(r.stdout, "timeline") || !strings.Contains(r.stdout, "domain registered (WHOIS)") {
		t.Errorf("triage --timeline shows no timeline:\n%s", r.stdout)
	}
	r = e.run(t, "triage", "github.com", "-o", "console")
	if strings.Contains(r.stdout, "domain registered (WHOIS)") {
		t.Errorf("triage without --timeline shows the timeline:\n%s", r.stdout)
	}
}

// TestInvestigateRichGolden keeps the rich output of one fixture object
// per IOC type readable at 100 columns: compare with the golden files and
// look at them after a change (go test -run RichGolden -update-investigate).
func TestInvestigateRichGolden(t *testing.T) {
	cases := []struct{ name, ioc string }{
		{"file", "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b"},
		{"ip", "1.1.1.1"},
		{"domain", "github.com"},
		{"url", "http://example.com/"},
	}
	e := newInvEnv(t)
	e.vars["COLUMNS"] = "100"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.run(t, "investigate", c.ioc, "-o", "rich", "--timeline")
			if r.code > ExitMalicious {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			for i, line := range strings.Split(r.stdout, "\n") {
				// A detail header keeps the IOC unbroken for copying.
				if w := twwidth.Width(line); w > 100 && !strings.Contains(line, c.ioc+"  (") {
					t.Errorf("line %d is %d columns: %q", i+1, w, line)
				}
			}
			for _, want := range []string{"related", "timeline"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks the %s section", want)
				}
			}
			checkInvestigateGolden(t, c.name+".golden", r.stdout)
		})
	}
}

func checkInvestigateGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "investigate", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update-investigate to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update-investigate after checking the change)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestSTIXWriteFailureKeepsOldFile(t *testing.T) {
	e := newInvEnv(t)
	missing := filepath.Join(t.TempDir(), "no-such-folder", "case.stix.json")
	r := e.run(t, "triage", "8.8.8.8", "--stix", missing)
	if r.code != ExitIOError || !strings.Contains(r.stderr, "write STIX bundle to "+missing) {
		t.Errorf("exit %d stderr %q, want %d and the failed path", r.code, r.stderr, ExitIOError)
	}

	// A failed rewrite leaves the previous bundle whole: the new one goes
	// to a temporary file first, which a read-only folder rejects.
	dir := t.TempDir()
	old := filepath.Join(dir, "case.stix.json")
	if err := os.WriteFile(old, []byte("previous bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders")
	}
	if r := e.run(t, "triage", "8.8.8.8", "--stix", old); r.code != ExitIOError {
		t.Errorf("exit %d, want %d for an unwritable folder", r.code, ExitIOError)
	}
	if got, _ := os.ReadFile(old); string(got) != "previous bundle" {
		t.Errorf("previous bundle became %q", got)
	}
}

// exportTo looks up 8.8.8.8 with an export flag pointed at path: triage
// for --stix, investigate for --navigator, which only investigate has.
func (e *invEnv) exportTo(t *testing.T, flag, path string) invRun {
	t.Helper()
	cmd := "triage"
	if flag == "--navigator" {
		cmd = "investigate"
	}
	return e.run(t, cmd, "8.8.8.8", "-o", "json", flag, path)
}

// checkExportData fails unless data is a STIX bundle or, for --navigator, a
// Navigator layer.
func checkExportData(t *testing.T, flag string, data []byte) {
	t.Helper()
	var doc struct{ Type, Domain string }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s output is not JSON: %v\n%s", flag, err, data)
	}
	if doc.Type != "bundle" && doc.Domain != "enterprise-attack" {
		t.Fatalf("%s output is neither a STIX bundle nor a Navigator layer:\n%s", flag, data)
	}
}

func fileType(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Type()
}

func TestExportFollowsSymlinks(t *testing.T) {
	e := newInvEnv(t)
	for _, flag := range []string{"--stix", "--navigator"} {
		t.Run(flag, func(t *testing.T) {
			dir := t.TempDir()
			real := writeFile(t, dir, "real.json", []byte("old"))
			if err := os.Chmod(real, 0o640); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "link.json")
			if err := os.Symlink("real.json", link); err != nil {
				t.Fatal(err)
			}
			if r := e.exportTo(t, flag, link); r.code > ExitIncomplete {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if typ := fileType(t, link); typ != fs.ModeSymlink {
				t.Errorf("link.json has type %v after the export, want a symlink", typ)
			}
			data, err := os.ReadFile(real)
			if err != nil {
				t.Fatal(err)
			}
			checkExportData(t, flag, data)
			if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
				t.Errorf("the replaced target has mode %v, want its old 0640", fi.Mode().Perm())
			}
		})
	}

	t.Run("dangling", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "link.json")
		if err := os.Symlink(filepath.Join(dir, "new.json"), link); err != nil {
			t.Fatal(err)
		}
		if r := e.exportTo(t, "--stix", link); r.code > ExitIncomplete {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if typ := fileType(t, link); typ != fs.ModeSymlink {
			t.Errorf("link.json has type %v after the export, want a symlink", typ)
		}
		data, err := os.ReadFile(filepath.Join(dir, "new.json"))
		if err != nil {
			t.Fatalf("the symlink's target was not created: %v", err)
		}
		checkExportData(t, "--stix", data)
	})
}

func TestExportWritesFIFOInPlace(t *testing.T) {
	e := newInvEnv(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A second name for the FIFO lets the test release the reader if the
	// export replaces pipe.json instead of writing into it.
	keep := filepath.Join(dir, "pipe.keep")
	if err := os.Link(fifo, keep); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until a writer opens the FIFO
		if err != nil {
			got <- nil
			return
		}
		data, _ := io.ReadAll(f)
		f.Close()
		got <- data
	}()

	r := e.exportTo(t, "--stix", fifo)
	if typ := fileType(t, fifo); typ != fs.ModeNamedPipe {
		t.Errorf("pipe.json has type %v after the export, want a FIFO", typ)
		if w, err := os.OpenFile(keep, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	if r.code > ExitIncomplete {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	checkExportData(t, "--stix", <-got)
}

// TestExportWritesDevicesInPlace uses device nodes made in a temporary
// folder, so a regression replaces those and not the machine's /dev/null.
// /dev/null itself is tried only after its copy came through.
func TestExportWritesDevicesInPlace(t *testing.T) {
	e := newInvEnv(t)
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	full := filepath.Join(dir, "full")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, charDev(1, 3)); err != nil {
		t.Skipf("mknod needs root: %v", err)
	}
	if err := syscall.Mknod(full, syscall.S_IFCHR|0o666, charDev(1, 7)); err != nil {
		t.Fatal(err)
	}

	if r := e.exportTo(t, "--stix", null); r.code > ExitIncomplete {
		t.Errorf("export to a null device: exit %d, stderr %q", r.code, r.stderr)
	}
	if typ := fileType(t, null); typ != fs.ModeDevice|fs.ModeCharDevice {
		t.Fatalf("the null device has type %v after the export, want a character device", typ)
	}

	r := e.exportTo(t, "--navigator", full)
	if r.code != ExitIOError {
		t.Errorf("export to a full device: exit %d, want %d", r.code, ExitIOError)
	}
	if !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("export to a full device: stderr %q does not name ENOSPC", r.stderr)
	}
	if typ := fileType(t, full); typ != fs.ModeDevice|fs.ModeCharDevice {
		t.Fatalf("the full device has type %v after the export, want a character device", typ)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	if r := e.exportTo(t, "--stix", os.DevNull); r.code > ExitIncomplete {
		t.Errorf("export to %s: exit %d, stderr %q", os.DevNull, r.code, r.stderr)
	}
	if typ := fileType(t, os.DevNull); typ != fs.ModeDevice|fs.ModeCharDevice {
		t.Fatalf("%s has type %v after the export, want a character device", os.DevNull, typ)
	}
}

// charDev returns the Linux device number of a character device with a
// major and minor number below 256 each.
func charDev(major, minor int) int { return major<<8 | minor }

func TestExportRejectsDirectory(t *testing.T) {
	e := newInvEnv(t)
	dir := t.TempDir()
	r := e.exportTo(t, "--stix", dir)
	if r.code != ExitIOError {
		t.Errorf("exit %d, want %d", r.code, ExitIOError)
	}
	if !strings.Contains(r.stderr, "is a directory") {
		t.Errorf("stderr %q does not say the path is a directory", r.stderr)
	}
	if typ := fileType(t, dir); !typ.IsDir() {
		t.Errorf("the folder has type %v after the export", typ)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the export left %v in the folder", entries)
	}
}

// TestExportToStdoutFile checks /dev/stdout when stdout is a regular file:
// the bundle goes to stdout as with "-", and the file is not replaced.
func TestExportToStdoutFile(t *testing.T) {
	e := newInvEnv(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var errOut bytes.Buffer
	code := Run(context.Background(), []string{"triage", "8.8.8.8", "-o", "json", "--stix", out.Name()},
		IO{In: strings.NewReader(""), Out: out, Err: &errOut},
		Env{Getenv: func(k string) string { return e.vars[k] }, Home: e.home, Now: func() time.Time { return e.now }})
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	data, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	checkExportData(t, "--stix", data)
	opened, _ := out.Stat()
	named, _ := os.Stat(out.Name())
	if !os.SameFile(opened, named) {
		t.Error("the export renamed a new file over the one stdout writes to")
	}
}

// TestExportsFollowAlert checks that --alert filters the exports as it
// filters the output: an analyst who shares what was printed must not
// share the CLEAN results too.
func TestExportsFollowAlert(t *testing.T) {
	e := newInvEnv(t)
	hash := "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b"
	layerPath := filepath.Join(t.TempDir(), "layer.json")
	r := e.run(t, "investigate", hash, "8.8.8.8", "--alert", "malicious", "-o", "json", "--stix", "-")
	if r.code != ExitMalicious {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var names []string
	for _, ind := range stixObjects(t, []byte(r.stdout), "indicator") {
		names = append(names, ind["name"].(string))
	}
	if !slices.Equal(names, []string{hash}) {
		t.Errorf("indicators %v, want only the MALICIOUS %s", names, hash)
	}

	// The fixture maps this CLEAN file to ATT&CK techniques, which the
	// layer would show without the filter.
	clean := "2520524c20b464faf5abdbdb4ca5ea06444d070a11b4e5c4ed6cf628eef8de70"
	r = e.run(t, "investigate", clean, "--alert", "malicious", "--navigator", layerPath)
	layer, err := os.ReadFile(layerPath)
	if err != nil {
		t.Fatalf("exit %d, stderr %q: %v", r.code, r.stderr, err)
	}
	var l struct{ Techniques []any }
	if err := json.Unmarshal(layer, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Techniques) != 0 {
		t.Errorf("the layer of a run that printed nothing has %d techniques", len(l.Techniques))
	}
}

// partialFixtures writes fixtures for one file whose behaviour summary
// fails with 500 and whose dropped_files list holds JSON objects that are
// not VirusTotal objects (no type or id).
func partialFixtures(t *testing.T, hash string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "object.json", []byte(`{"data":{"id":"`+hash+`","type":"file","attributes":{"last_analysis_stats":{"malicious":0,"suspicious":0,"undetected":60,"harmless":0}}}}`))
	writeFile(t, dir, "error.json", []byte(`{"error":{"code":"InternalError","message":"backend failed"}}`))
	writeFile(t, dir, "items.json", []byte(`{"data":[{"n":1},{"n":2},{"n":3}]}`))
	index := "method\tpath\tstatus\tfile\tenvelope\n" +
		"GET\t/files/" + hash + "\t200\tobject.json\tas-is\n" +
		"GET\t/files/" + hash + "/behaviour_summary\t500\terror.json\tas-is\n" +
		"GET\t/files/" + hash + "/dropped_files\t200\titems.json\tas-is\n"
	writeFile(t, dir, "INDEX.tsv", []byte(index))
	return dir
}

// TestInvestigatePartialEveryFormat checks that a partial result is marked
// in JSON and CSV, not only on the console, and that a section whose items
// do not decode is an error, not an empty list.
func TestInvestigatePartialEveryFormat(t *testing.T) {
	hash := "1097c4f7000000000000000000000000000000000000000000000000000f2873"
	e := newInvEnvAt(t, partialFixtures(t, hash))

	res, r := e.investigateJSON(t, hash)
	var doc struct{ Results []map[string]any }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if partial := doc.Results[0]["partial"]; partial != true {
		t.Errorf("JSON result has partial = %v, want true", partial)
	}
	sections := map[string]enrich.Section{}
	for _, sec := range res.Investigation.Sections {
		sections[sec.Name] = sec
	}
	if got := sections["dropped_files"].Status; got != enrich.SectionError {
		t.Errorf("dropped_files with undecodable items has status %q, want %q", got, enrich.SectionError)
	}
	for _, name := range []string{"behaviour_summary", "dropped_files"} {
		if !slices.Contains(res.Investigation.Missing, name) {
			t.Errorf("missing %v lacks %s", res.Investigation.Missing, name)
		}
	}

	r = e.run(t, "investigate", hash, "-o", "csv")
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv output (%v):\n%s", err, r.stdout)
	}
	col := slices.Index(rows[0], "partial")
	if col < 0 {
		t.Fatalf("csv header lacks a partial column: %v", rows[0])
	}
	if got := rows[1][col]; !strings.Contains(got, "behaviour_summary") || !strings.Contains(got, "dropped_files") {
		t.Errorf("csv partial cell %q, want the missing sections", got)
	}
}

// TestSTIXCreatedStableAcrossExports checks that exporting an IOC again,
// after a fresh lookup days later, keeps the ids and the created times of
// the first export, as STIX 2.1 requires of versions of one object.
func TestSTIXCreatedStableAcrossExports(t *testing.T) {
	e := newInvEnv(t)
	created := func(stdout string) map[string]string {
		var b struct {
			Objects []struct {
				ID, Created, Modified string
			} `json:"objects"`
		}
		if err := json.Unmarshal([]byte(stdout), &b); err != nil {
			t.Fatalf("bundle: %v", err)
		}
		m := map[string]string{}
		for _, o := range b.Objects {
			if o.Modified != "" && o.Modified < o.Created {
				t.Errorf("%s: modified %s before created %s", o.ID, o.Modified, o.Created)
			}
			m[o.ID] = o.Created
		}
		return m
	}
	e.now = time.Now()
	first := e.run(t, "triage", "8.8.8.8", "--stix", "-")
	time.Sleep(5 * time.Millisecond)
	e.now = e.now.Add(48 * time.Hour)
	second := e.run(t, "triage", "--no-cache", "8.8.8.8", "--stix", "-")
	if first.code != ExitOK || second.code != ExitOK {
		t.Fatalf("exit %d and %d; stderr %q %q", first.code, second.code, first.stderr, second.stderr)
	}
	validateSTIX(t, []byte(second.stdout))
	a, b := created(first.stdout), created(second.stdout)
	for id, c := range a {
		if strings.HasPrefix(id, "marking-definition--") {
			continue
		}
		if b[id] != c {
			t.Errorf("%s: created %q in the first export, %q in the second", id, c, b[id])
		}
	}
}
