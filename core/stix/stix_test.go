package stix

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/mitre"
	"github.com/vex-ioc/vex/core/verdict"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

var clock = func() time.Time { return time.Date(2026, 12, 4, 20, 0, 0, 123456789, time.UTC) }

func fetched() time.Time { return time.Date(2026, 12, 4, 19, 30, 0, 0, time.UTC) }

// sampleResults covers every indicator type, a URL with quotes and
// backslashes, notes, tags, families from both sources and a not-found IOC.
func sampleResults() []enrich.Result {
	return []enrich.Result{
		{
			Input: "03BD9A94482F180BB047626CB2F27CCF8DAA0E201345480B43585580E09C311B", Type: ioc.SHA256,
			Normalized: "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b",
			Mode:       enrich.Investigate, Status: enrich.StatusOK, Verdict: verdict.Malicious,
			Stats: verdict.Stats{Malicious: 40, Suspicious: 1, Undetected: 25, Harmless: 0}, Engines: 66,
			Source: enrich.SourceAPI, FetchedAt: fetched(),
			Permalink: "https://www.virustotal.com/gui/file/03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b",
			Summary: enrich.Summary{
				ThreatLabel: "trojan.msil/tasker", Size: 1234,
				FirstSubmission: time.Date(2021, 10, 2, 12, 40, 39, 0, time.UTC),
				LastSubmission:  time.Date(2021, 10, 2, 12, 40, 39, 0, time.UTC),
				LastAnalysis:    time.Date(2021, 10, 9, 14, 20, 26, 0, time.UTC),
				TimesSubmitted:  3,
			},
			Local: enrich.Local{
				Tags:  []string{"incident-42", " ", "incident-42", "phishing"},
				Notes: []enrich.Note{{ID: 7, Text: "Seen on host \"WS-12\" in C:\\Users\\bob", Created: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}},
			},
		},
		{Input: "d41d8cd98f00b204e9800998ecf8427e", Type: ioc.MD5, Normalized: "d41d8cd98f00b204e9800998ecf8427e", Status: enrich.StatusNotFound, Source: enrich.SourceAPI},
		{Input: "da39a3ee5e6b4b0d3255bfef95601890afd80709", Type: ioc.SHA1, Normalized: "da39a3ee5e6b4b0d3255bfef95601890afd80709", Status: enrich.StatusQuota, Source: enrich.SourceNone},
		{
			Input: "45.83.140[.]140", Type: ioc.IPv4, Normalized: "45.83.140.140", Status: enrich.StatusOK,
			Verdict: verdict.Suspicious, Stats: verdict.Stats{Malicious: 1, Harmless: 60, Undetected: 20}, Engines: 81,
			Local: enrich.Local{Watchlists: []string{"c2"}},
		},
		{Input: "2001:db8::1", Type: ioc.IPv6, Normalized: "2001:db8::1", Status: enrich.StatusNonRoutable, Flags: []ioc.Flag{ioc.FlagNonRoutable}},
		{Input: "jppost-ge[.]top", Type: ioc.Domain, Normalized: "jppost-ge.top", Status: enrich.StatusOK, Verdict: verdict.Malicious, Stats: verdict.Stats{Malicious: 9, Harmless: 70}, Engines: 79},
		{Input: `hxxp://evil[.]example/a'b\c?q="x"`, Type: ioc.URL, Normalized: `http://evil.example/a'b\c?q="x"`, Status: enrich.StatusOK, Verdict: verdict.Clean, Engines: 90, Stats: verdict.Stats{Harmless: 70, Undetected: 20}},
		{Input: "not an ioc", Status: enrich.StatusInvalid, Error: "invalid"},
	}
}

func sampleOptions(tlp string) Options {
	return Options{
		IdentityName: "ACME SOC",
		TLP:          tlp,
		Now:          clock,
		Techniques: map[string][]mitre.Mapping{
			"03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b": {
				{ID: "T1055", Name: "Process Injection", Tactics: []string{"defense-evasion", "privilege-escalation"}, Source: mitre.SourceVirusTotal},
				{ID: "T1059.001", Source: mitre.SourceKeyword},
				{ID: "T9999", Name: "", Tactics: nil, Source: mitre.SourceVirusTotal}, // not in the table
			},
			"jppost-ge.top": {{ID: "T1566", Source: mitre.SourceKeyword}},
		},
		Families: map[string][]string{"jppost-ge.top": {"Phishing Kit", "  "}},
	}
}

func build(t *testing.T, results []enrich.Result, opt Options) []byte {
	t.Helper()
	b, err := Build(results, opt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	validate(t, buf.Bytes())
	return buf.Bytes()
}

// validate runs the OASIS stix2-validator when VEX_STIX_VALIDATOR names it.
// Warnings are errors too (--strict), except for rules listed below with
// their reasons.
func validate(t *testing.T, bundle []byte) {
	t.Helper()
	validator := os.Getenv("VEX_STIX_VALIDATOR")
	if validator == "" {
		t.Log("VEX_STIX_VALIDATOR not set; skipping the OASIS stix2-validator check")
		return
	}
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	// Disabled best-practice checks, each a deliberate choice:
	//   103: ids of domain and relationship objects are UUIDv5 derived from
	//        content, where STIX recommends UUIDv4, so a re-export updates
	//        the same objects instead of duplicating them.
	//   302: external references to attack.mitre.org and VirusTotal pages
	//        carry no hashes, because those pages change.
	cmd := exec.Command(validator, "--strict", "--disable", "103,302", "--no-cache", "-v", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stix2-validator rejected the bundle: %v\n%s\nbundle:\n%s", err, out, bundle)
	}
}

func TestBuildValidates(t *testing.T) {
	for _, tlp := range []string{"", "clear", "green", "TLP:AMBER", "amber+strict", "red", "white"} {
		t.Run("tlp "+tlp, func(t *testing.T) {
			out := build(t, sampleResults(), sampleOptions(tlp))
			if tlp != "" && !bytes.Contains(out, []byte(`"object_marking_refs"`)) {
				t.Error("TLP set but no object carries a marking")
			}
		})
	}
	t.Run("no results", func(t *testing.T) { build(t, nil, Options{Now: clock}) })
	t.Run("default options", func(t *testing.T) { build(t, sampleResults()[:1], Options{Now: clock}) })
}

func TestUnknownTLP(t *testing.T) {
	if _, err := Build(nil, Options{TLP: "purple", Now: clock}); err == nil || !strings.Contains(err.Error(), "purple") {
		t.Errorf("err = %v, want an error naming the level", err)
	}
}

func TestDeterministic(t *testing.T) {
	a := build(t, sampleResults(), sampleOptions("amber"))
	b := build(t, sampleResults(), sampleOptions("amber"))
	if !bytes.Equal(a, b) {
		t.Error("the same input gave different bundles")
	}
	// A later export updates the same objects: same ids, later modified.
	later := sampleOptions("amber")
	later.Now = func() time.Time { return clock().Add(time.Hour) }
	c := build(t, sampleResults(), later)
	if idsOf(t, a) != idsOf(t, c) {
		t.Error("ids changed with the clock")
	}
}

func idsOf(t *testing.T, bundle []byte) string {
	var b struct {
		ID      string `json:"id"`
		Objects []struct {
			ID string `json:"id"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	ids := []string{b.ID}
	for _, o := range b.Objects {
		ids = append(ids, o.ID)
	}
	return strings.Join(ids, ",")
}

// TestObservableIDs checks the deterministic SCO ids against values
// computed independently with Python's uuid.uuid5 over the canonical JSON.
func TestObservableIDs(t *testing.T) {
	cases := []struct {
		typ   ioc.Type
		value string
		want  string
	}{
		{ioc.IPv4, "198.51.100.3", "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"},
		{ioc.SHA256, "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b", "file--815e9ef0-4def-5205-9712-ac076db24f23"},
		{ioc.URL, `http://example.com/a'b\c`, "url--5a0de5df-1a2e-50fd-8ff4-5dc7b5933a13"},
	}
	b := &builder{}
	for _, c := range cases {
		o, _, err := b.observable(enrich.Result{Type: c.typ, Normalized: c.value})
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != c.want {
			t.Errorf("%s %q: id %s, want %s", c.typ, c.value, o.ID, c.want)
		}
	}
}

func TestURIForm(t *testing.T) {
	cases := map[string]string{
		"http://example.com/a/b?c=d&e=f#g": "http://example.com/a/b?c=d&e=f#g",
		"http://[2001:db8::1]:8080/x%20y":  "http://[2001:db8::1]:8080/x%20y",
		`http://x.example/a'b\c?q="x"`:     `http://x.example/a'b%5Cc?q=%22x%22`,
		"http://x.example/100%/ü{}|^`<>":   "http://x.example/100%25/%C3%BC%7B%7D%7C%5E%60%3C%3E",
		"http://x.example/%zz%4":           "http://x.example/%25zz%254",
	}
	for in, want := range cases {
		if got := uriSafe(in); got != want {
			t.Errorf("uriSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	cases := []struct {
		typ   ioc.Type
		value string
		want  string
	}{
		{ioc.MD5, "d41d8cd98f00b204e9800998ecf8427e", "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"},
		{ioc.SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"},
		{ioc.SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']"},
		{ioc.IPv4, "192.0.2.1", "[ipv4-addr:value = '192.0.2.1']"},
		{ioc.IPv6, "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"},
		{ioc.Domain, "xn--bcher-kva.example", "[domain-name:value = 'xn--bcher-kva.example']"},
		{ioc.URL, `http://x.example/it's\path\'`, `[url:value = 'http://x.example/it\'s\\path\\\'']`},
	}
	b := &builder{}
	for _, c := range cases {
		_, got, err := b.observable(enrich.Result{Type: c.typ, Normalized: c.value})
		if err != nil || got != c.want {
			t.Errorf("%s %q: pattern %s, %v; want %s", c.typ, c.value, got, err, c.want)
		}
	}
	if _, _, err := b.observable(enrich.Result{Type: "email", Normalized: "a@b"}); err == nil {
		t.Error("an unsupported type was accepted")
	}
}

// TestBundleContent checks the objects and relationships the sample gives.
func TestBundleContent(t *testing.T) {
	out := build(t, sampleResults(), sampleOptions("green"))
	var b struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	rels := map[string]int{}
	for _, o := range b.Objects {
		typ := o["type"].(string)
		count[typ]++
		if typ == "relationship" {
			rels[o["relationship_type"].(string)]++
		}
		for _, k := range []string{"created", "modified", "valid_from", "first_observed", "last_observed"} {
			if s, ok := o[k].(string); ok && !strings.HasSuffix(s, "Z") || ok && len(s) != len("2006-01-02T15:04:05.000Z") {
				t.Errorf("%s %s = %q is not a millisecond UTC timestamp", o["id"], k, s)
			}
		}
		if typ == "indicator" && o["name"] == `http://evil.example/a'b\c?q="x"` {
			if o["pattern"] != `[url:value = 'http://evil.example/a\'b\\c?q="x"']` {
				t.Errorf("url pattern %s", o["pattern"])
			}
		}
	}
	want := map[string]int{
		"marking-definition": 1, "identity": 1, "indicator": 5, "observed-data": 5,
		"file": 2, "ipv4-addr": 1, "ipv6-addr": 0, "domain-name": 1, "url": 1,
		"malware": 2, "attack-pattern": 4, "note": 1,
	}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%d %s objects, want %d", count[k], k, v)
		}
	}
	// based-on: 5 indicators, without the quota and non-routable results;
	// indicates: 2 malware + 4 techniques;
	// uses: tasker x 3 techniques + Phishing Kit x T1566;
	// communicates-with: Phishing Kit with the domain.
	wantRels := map[string]int{"based-on": 5, "indicates": 6, "uses": 4, "communicates-with": 1}
	for k, v := range wantRels {
		if rels[k] != v {
			t.Errorf("%d %s relationships, want %d", rels[k], k, v)
		}
	}
	if !bytes.Contains(out, []byte(`"sample_refs": [`)) {
		t.Error("the file is not a sample of its family")
	}
}

func TestGolden(t *testing.T) {
	out := build(t, sampleResults(), sampleOptions("amber+strict"))
	path := filepath.Join("testdata", "golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("bundle differs from %s; rerun with -update after checking the change\n%s", path, out)
	}
}

func TestLabelFamilies(t *testing.T) {
	cases := map[string]string{
		"trojan.orcusrat/msil": "orcusrat", "trojan.msil/tasker": "tasker", "hacktool.powershell": "",
		"trojan": "", "": "", "ransomware.lockbit/win32": "lockbit", "trojan./": "",
	}
	for label, want := range cases {
		got := strings.Join(labelFamilies(label), ",")
		if got != want {
			t.Errorf("labelFamilies(%q) = %q, want %q", label, got, want)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	got := canonicalJSON(map[string]any{"b": "\u2028<&>\x01\"\\", "a": map[string]string{"é": "1", "z": "2"}, "A": 3})
	want := `{"A":3,"a":{"z":"2","é":"1"},"b":"` + "\u2028" + `<&>\u0001\"\\"}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// objectsByID returns the objects of bundle by id.
func objectsByID(t *testing.T, bundle []byte) map[string]map[string]any {
	t.Helper()
	var b struct{ Objects []map[string]any }
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, o := range b.Objects {
		out[o["id"].(string)] = o
	}
	return out
}

// TestIDsDependOnProducer checks that two producers exporting the same
// IOCs share the observables, whose ids STIX fixes, but no domain or
// relationship object, which only its creator may version.
func TestIDsDependOnProducer(t *testing.T) {
	ours := objectsByID(t, build(t, sampleResults(), sampleOptions("amber")))
	otherOptions := sampleOptions("amber")
	otherOptions.IdentityName = "Other CERT"
	theirs := objectsByID(t, build(t, sampleResults(), otherOptions))

	observables := map[string]bool{"file": true, "ipv4-addr": true, "ipv6-addr": true, "domain-name": true, "url": true}
	for id, o := range ours {
		typ := o["type"].(string)
		_, shared := theirs[id]
		switch {
		case typ == "marking-definition":
		case observables[typ] && !shared:
			t.Errorf("observable %s differs between producers", id)
		case !observables[typ] && shared:
			t.Errorf("%s has the same id for both producers", id)
		}
	}
}

// TestCreatedIsFetchTime checks that created is when the data was fetched,
// falling back to the export time, and that a clock before any fixed date
// still exports.
func TestCreatedIsFetchTime(t *testing.T) {
	opt := sampleOptions("")
	objects := objectsByID(t, build(t, sampleResults(), opt))
	wantFetched := ts(fetched())
	wantNow := ts(clock())
	for id, o := range objects {
		created, _ := o["created"].(string)
		modified, _ := o["modified"].(string)
		if created > modified {
			t.Errorf("%s: created %s after modified %s", id, created, modified)
		}
		if o["type"] == "indicator" && o["name"] == sampleResults()[0].Normalized {
			if created != timeString(wantFetched) {
				t.Errorf("indicator of a fetched IOC: created %s, want the fetch time %s", created, timeString(wantFetched))
			}
			if modified != timeString(wantNow) {
				t.Errorf("indicator: modified %s, want the export time %s", modified, timeString(wantNow))
			}
		}
		if o["type"] == "indicator" && o["name"] == "jppost-ge.top" && created != timeString(wantNow) {
			t.Errorf("indicator without a fetch time: created %s, want the export time %s", created, timeString(wantNow))
		}
		if strings.HasPrefix(created, "2026-01-01") {
			t.Errorf("%s: created %s is the old fixed date", id, created)
		}
	}

	opt.Now = func() time.Time { return time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC) }
	results := sampleResults()
	for i := range results {
		results[i].FetchedAt = time.Time{}
	}
	if _, err := Build(results, opt); err != nil {
		t.Errorf("export with the clock in 2024: %v", err)
	}
}

func timeString(t Timestamp) string {
	b, _ := t.MarshalJSON()
	return strings.Trim(string(b), `"`)
}

// TestOnlyLookedUpResultsExported checks that a result with no VirusTotal
// data, such as a private address or a failed lookup, gets no indicator
// and no observable: a shared bundle must not leak internal addresses.
func TestOnlyLookedUpResultsExported(t *testing.T) {
	statuses := []enrich.Status{
		enrich.StatusOK, enrich.StatusNotFound, enrich.StatusNonRoutable, enrich.StatusOfflineMiss,
		enrich.StatusQuota, enrich.StatusAuth, enrich.StatusFailed, enrich.StatusCancelled,
	}
	var results []enrich.Result
	for i, st := range statuses {
		results = append(results, enrich.Result{
			Input: fmt.Sprintf("10.0.0.%d", i+1), Type: ioc.IPv4, Normalized: fmt.Sprintf("10.0.0.%d", i+1), Status: st,
		})
	}
	bundle := string(build(t, results, Options{Now: clock}))
	for i, st := range statuses {
		value := fmt.Sprintf("10.0.0.%d", i+1) // in a pattern or an observable
		exported := st == enrich.StatusOK || st == enrich.StatusNotFound
		if got := strings.Contains(bundle, value); got != exported {
			t.Errorf("status %s: in the bundle %v, want %v", st, got, exported)
		}
	}
}

// TestKeywordTechniquesLowConfidence checks that a technique inferred from
// a keyword in a tag is marked as weak evidence on its relationships, so a
// TIP can tell it from a technique VirusTotal's sandboxes reported.
func TestKeywordTechniquesLowConfidence(t *testing.T) {
	hash := sampleResults()[0].Normalized
	opt := sampleOptions("")
	opt.Techniques = map[string][]mitre.Mapping{hash: {
		{ID: "T1055", Source: mitre.SourceVirusTotal, Evidence: "sandbox"},
		{ID: "T1059.003", Source: mitre.SourceKeyword, Evidence: `tags="-cmd" (keyword "cmd")`},
	}}
	objects := objectsByID(t, build(t, sampleResults()[:1], opt))

	techniqueOf := map[string]string{} // attack-pattern id -> technique id
	for id, o := range objects {
		if o["type"] == "attack-pattern" {
			refs := o["external_references"].([]any)
			techniqueOf[id] = refs[0].(map[string]any)["external_id"].(string)
		}
	}
	checked := 0
	for id, o := range objects {
		technique := techniqueOf[fmt.Sprint(o["target_ref"])]
		if o["type"] != "relationship" || technique == "" {
			continue
		}
		checked++
		confidence, hasConfidence := o["confidence"].(float64)
		description, _ := o["description"].(string)
		switch technique {
		case "T1059.003":
			if !hasConfidence || confidence > 30 {
				t.Errorf("%s %s to the keyword technique: confidence %v, want a low value", id, o["relationship_type"], o["confidence"])
			}
			if !strings.Contains(description, `tags="-cmd"`) {
				t.Errorf("%s: description %q lacks the keyword evidence", id, description)
			}
		case "T1055":
			if hasConfidence {
				t.Errorf("%s to the VirusTotal technique: confidence %v, want none", id, confidence)
			}
		}
	}
	if checked < 4 { // indicates and uses, for each technique
		t.Errorf("checked %d relationships to attack patterns, want 4", checked)
	}
}
