package enrich_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

// fixtureObjects decodes every object the shared fixture index serves:
// the objects themselves and the members of relationship lists.
func fixtureObjects(t *testing.T) map[string]*vt.Object {
	dir := fixtures.Dir(t, "vt")
	rows, err := vttest.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]*vt.Object{}
	for _, row := range rows {
		if row.Method != "GET" || row.Status != 200 {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, row.File))
		if err != nil {
			t.Fatal(err)
		}
		body, err := vttest.ApplyEnvelope(raw, row.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if o, err := vt.DecodeObject(body); err == nil {
			objs[row.Path] = o
			continue
		}
		var list struct {
			Data []json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("%s: neither an object nor a list: %v", row.Path, err)
		}
		for i, item := range list.Data {
			o, err := vt.DecodeObject(append(append([]byte(`{"data":`), item...), '}'))
			if err != nil {
				t.Fatalf("%s item %d: %v", row.Path, i, err)
			}
			objs[row.Path+"#"+o.ID] = o
		}
	}
	if len(objs) < 40 {
		t.Fatalf("decoded %d fixture objects, expected the full set", len(objs))
	}
	return objs
}

func TestSummaryOfEveryFixtureObject(t *testing.T) {
	for name, o := range fixtureObjects(t) {
		t.Run(name, func(t *testing.T) {
			s := enrich.SummaryOf(o)
			checkDetections(t, o, s.Detections)
			for _, ts := range []time.Time{s.FirstSubmission, s.LastSubmission, s.LastAnalysis} {
				if !ts.IsZero() && (ts.Year() < 2000 || ts.After(time.Now()) || ts.Location() != time.UTC) {
					t.Errorf("implausible date %v", ts)
				}
			}
			if !slices.IsSorted(s.Categories) || len(slices.Compact(slices.Clone(s.Categories))) != len(s.Categories) {
				t.Errorf("categories not sorted and distinct: %q", s.Categories)
			}

			switch o.Type {
			case "file":
				if s.Size <= 0 || s.FileType == "" {
					t.Errorf("file without size or type: %+v", s)
				}
				if s.Name == "" && len(o.Attributes.Strings("names")) > 0 {
					t.Error("file names present but Name empty")
				}
			case "ip_address":
				if s.ASN == 0 || s.Country == "" || s.ASOwner == "" {
					t.Errorf("ip without asn, country or owner: %+v", s)
				}
			case "domain":
				if s.Registrar == "" && len(s.Categories) == 0 {
					t.Errorf("domain without registrar or categories: %+v", s)
				}
			case "url":
				if s.FinalURL == "" {
					t.Errorf("url without final URL: %+v", s)
				}
			case "resolution":
				if s.Size != 0 || s.ASN != 0 || s.ThreatLabel != "" {
					t.Errorf("resolution has object facts: %+v", s)
				}
			}
		})
	}
}

// checkDetections verifies the order and cap of Detections against the
// object's own last_analysis_results.
func checkDetections(t *testing.T, o *vt.Object, got []enrich.Detection) {
	t.Helper()
	flagged := 0
	results := o.Attributes.Map("last_analysis_results")
	for engine := range results {
		if c := results.String(engine, "category"); c == "malicious" || c == "suspicious" {
			flagged++
		}
	}
	if want := min(flagged, 10); len(got) != want {
		t.Errorf("detections = %d, want %d", len(got), want)
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.Category == "suspicious" && b.Category == "malicious" ||
			a.Category == b.Category && a.Engine >= b.Engine {
			t.Errorf("detections out of order at %d: %+v then %+v", i, a, b)
		}
	}
}

func TestSummaryOfKnownFixtures(t *testing.T) {
	objs := fixtureObjects(t)
	pick := func(path string) enrich.Summary {
		o, ok := objs[path]
		if !ok {
			t.Fatalf("fixture %s missing", path)
		}
		return enrich.SummaryOf(o)
	}

	f := pick("/files/6b60666d6ace3a450d54fe7b915c46632172ca0d4127d87873f0c111560e66cb")
	if f.ThreatLabel != "trojan.orcusrat/msil" || len(f.Detections) != 10 || f.Detections[0].Category != "malicious" {
		t.Errorf("crowdsourced file: label %q, %d detections", f.ThreatLabel, len(f.Detections))
	}
	if f.FileType != "Win32 EXE" || f.FirstSubmission.Unix() != 1722226969 {
		t.Errorf("crowdsourced file: type %q, first submission %v", f.FileType, f.FirstSubmission)
	}

	ip := pick("/ip_addresses/1.1.1.1")
	if ip.ASOwner != "Cloudflare, Inc." || ip.ASN != 13335 || ip.Country != "AU" || ip.Network != "1.1.1.0/24" {
		t.Errorf("1.1.1.1 = %+v", ip)
	}
	g := pick("/ip_addresses/8.8.8.8")
	if g.ASN != 15169 || g.Country != "US" {
		t.Errorf("8.8.8.8 = %+v", g)
	}

	d := pick("/domains/github.com")
	wantCats := []string{"computersandsoftware", "information technology", "social networks"}
	if d.Registrar != "MarkMonitor Inc." || !slices.Equal(d.Categories, wantCats) || d.CreationDate.Unix() != 1191928850 {
		t.Errorf("github.com = registrar %q, categories %q, created %v", d.Registrar, d.Categories, d.CreationDate)
	}

	u := pick("/urls/aHR0cDovL2V4YW1wbGUuY29tLw")
	if u.Title != "Example Domain" || u.FinalURL != "http://example.com/" {
		t.Errorf("example.com URL = %+v", u)
	}

	z := pick("/files/8739c76e681f900923b900c9df0ef75cf421d39cabb54650c4b9ad19b6a76d85")
	for _, tag := range []string{"trusted", "nsrl", "via-tor"} {
		if !slices.Contains(z.Tags, tag) {
			t.Errorf("reshaped docs file lacks tag %q: %q", tag, z.Tags)
		}
	}
	if len(z.Detections) != 0 {
		t.Errorf("clean file has detections: %+v", z.Detections)
	}
}

func TestSummaryOfMistypedAttributes(t *testing.T) {
	o, err := vt.DecodeObject([]byte(`{"data":{"type":"file","id":"x","attributes":{
		"popular_threat_classification": "trojan", "tags": "single", "size": "2048",
		"names": ["first.exe", 3], "asn": "64500", "categories": {"a": "phishing", "b": 5, "c": " phishing ", "d": "malware"},
		"last_analysis_results": {"E2": {"category": "suspicious", "result": 9}, "E1": "bad", "E3": {"category": "malicious"}},
		"total_votes": [1, 2], "first_submission_date": "not a date"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := enrich.SummaryOf(o)
	if s.ThreatLabel != "" || s.Size != 2048 || s.Name != "first.exe" || s.ASN != 64500 || !s.FirstSubmission.IsZero() {
		t.Errorf("summary = %+v", s)
	}
	if !slices.Equal(s.Tags, []string{"single"}) || !slices.Equal(s.Categories, []string{"malware", "phishing"}) {
		t.Errorf("tags %q, categories %q", s.Tags, s.Categories)
	}
	want := []enrich.Detection{{Engine: "E3", Category: "malicious"}, {Engine: "E2", Category: "suspicious", Result: "9"}}
	if !slices.Equal(s.Detections, want) {
		t.Errorf("detections = %+v, want %+v", s.Detections, want)
	}
	if got := enrich.SummaryOf(nil); got.Name != "" || got.Detections != nil {
		t.Errorf("SummaryOf(nil) = %+v", got)
	}
}

func TestPermalinkOf(t *testing.T) {
	cases := []struct {
		typ   ioc.Type
		value string
		want  string
	}{
		{ioc.SHA256, strings.Repeat("a", 64), "https://www.virustotal.com/gui/file/" + strings.Repeat("a", 64)},
		{ioc.MD5, strings.Repeat("b", 32), "https://www.virustotal.com/gui/file/" + strings.Repeat("b", 32)},
		{ioc.IPv4, "8.8.8.8", "https://www.virustotal.com/gui/ip-address/8.8.8.8"},
		{ioc.IPv6, "2001:db8::1", "https://www.virustotal.com/gui/ip-address/2001:db8::1"},
		{ioc.Domain, "example.com", "https://www.virustotal.com/gui/domain/example.com"},
		{ioc.URL, "http://example.com/", "https://www.virustotal.com/gui/url/2a1b402420ef46577471cdc7409b0fa2c6a204db316e59ade2d805435489a067"},
		{ioc.Type("email"), "a@b.c", ""},
		{ioc.Domain, "", ""},
	}
	for _, tc := range cases {
		if got := enrich.PermalinkOf(tc.typ, tc.value); got != tc.want {
			t.Errorf("PermalinkOf(%s, %q) = %q, want %q", tc.typ, tc.value, got, tc.want)
		}
	}
}
