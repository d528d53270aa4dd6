package enrich_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// indicatorOfPath returns the indicator a triage of an object path looks
// up, or "" for paths triage never requests: relationships, and URL ids
// that are a SHA-256 rather than the base64url form vex sends.
func indicatorOfPath(path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) != 2 {
		return ""
	}
	switch segs[0] {
	case "files", "ip_addresses", "domains":
		return segs[1]
	case "urls":
		if hex64.MatchString(segs[1]) {
			return ""
		}
		u, err := base64.RawURLEncoding.DecodeString(segs[1])
		if err != nil {
			return ""
		}
		return string(u)
	}
	return ""
}

// expectedVerdict applies the verdict rule to the raw last_analysis_stats
// of a response body, without vex's decoder: MALICIOUS at 3 or more
// malicious engines, SUSPICIOUS at 1 malicious or suspicious, UNKNOWN below
// 10 engines counted (malicious, suspicious, undetected, harmless) or
// without stats, else CLEAN.
func expectedVerdict(t *testing.T, body []byte) verdict.Verdict {
	t.Helper()
	var doc struct {
		Data struct {
			Attributes struct {
				Stats map[string]json.RawMessage `json:"last_analysis_stats"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("fixture body is not JSON: %v", err)
	}
	count := func(k string) int {
		var n int
		_ = json.Unmarshal(doc.Data.Attributes.Stats[k], &n)
		return n
	}
	mal, sus := count("malicious"), count("suspicious")
	engines := mal + sus + count("undetected") + count("harmless")
	switch {
	case doc.Data.Attributes.Stats == nil:
		return verdict.Unknown
	case mal >= 3:
		return verdict.Malicious
	case mal >= 1 || sus >= 1:
		return verdict.Suspicious
	case engines < 10:
		return verdict.Unknown
	}
	return verdict.Clean
}

func TestConformanceFixtureVerdicts(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	rows, err := vttest.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	fake := vttest.New(vttest.Options{FixturesDir: dir, APIKey: testKey})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	client, err := vt.New(vt.Config{BaseURL: fake.URL(), APIKey: secret.New(testKey), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	engine := enrich.New(enrich.Options{Enrichers: []enrich.Enricher{&enrich.VirusTotal{Client: client}}})

	checked := 0
	for _, row := range rows {
		value := indicatorOfPath(row.Path)
		if row.Method != "GET" || row.Status != 200 || value == "" {
			continue
		}
		t.Run(row.Path, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(row.File)))
			if err != nil {
				t.Fatal(err)
			}
			body, err := vttest.ApplyEnvelope(raw, row.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			want := expectedVerdict(t, body)

			fake.ResetRequests()
			got := engine.Lookup(context.Background(), value, enrich.Request{})

			if got.Status != enrich.StatusOK || got.Verdict != want {
				t.Errorf("%s (%s): status %s verdict %s (%s), want ok %s", value, row.File, got.Status, got.Verdict, got.Error, want)
			}
			if reqs := fake.Requests(); len(reqs) != 1 || reqs[0].Path != row.Path {
				t.Errorf("requests %+v, want one GET %s", reqs, row.Path)
			}
		})
		checked++
	}
	if checked < 15 {
		t.Errorf("checked %d indexed objects, want every object row (at least 15)", checked)
	}
}
