package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/timeline"
)

// liveInvestigation returns a URL result whose every IOC-valued field
// holds a live value.
func liveInvestigation(input string) enrich.Result {
	return enrich.Result{
		Input: input, Type: ioc.URL, Normalized: "http://files.example.org/download/setup.exe",
		Mode: enrich.Investigate, Status: enrich.StatusOK,
		Summary: enrich.Summary{FinalURL: "http://cdn.example.org/setup.exe"},
		Timeline: []timeline.Event{
			{Kind: "first_submission", Description: "first submitted", IOC: "http://files.example.org/download/setup.exe"},
			{Kind: "resolution", Description: "resolved", IOC: "files.example.org"},
		},
		Investigation: &enrich.Investigation{
			Sections: []enrich.Section{
				{Name: "contacted_domains", Status: enrich.SectionOK, Items: []enrich.Related{{Type: "domain", ID: "c2.example.org"}}},
				{Name: "contacted_urls", Status: enrich.SectionOK, Items: []enrich.Related{{Type: "url", ID: "0a1b", Name: "http://c2.example.org/gate.php"}}},
				{Name: "resolutions", Status: enrich.SectionOK, Items: []enrich.Related{{Type: "resolution", ID: "198.51.100.7files.example.org", Name: "198.51.100.7"}}},
			},
			Details: enrich.Details{
				DNSRecords: []enrich.DNSRecord{{Type: "A", Value: "198.51.100.8"}},
				Behaviour:  &enrich.Behaviour{DNSLookups: []string{"dns.example.org"}, IPTraffic: []string{"203.0.113.9"}},
			},
		},
	}
}

func TestDefangEveryIOCField(t *testing.T) {
	r := liveInvestigation("http://files.example.org/download/setup.exe")
	out := string(render(t, FormatJSON, Options{Defang: true}, []enrich.Result{r}))
	live := []string{
		"http://files.example.org", `"files.example.org"`, "cdn.example.org", `"c2.example.org"`,
		"http://c2.example.org", `"198.51.100.7"`, "198.51.100.8", "dns.example.org", "203.0.113.9",
	}
	for _, v := range live {
		if strings.Contains(out, v) {
			t.Errorf("defanged JSON still holds the live value %s", v)
		}
	}
	if !strings.Contains(out, `"input": "hxxp://files.example[.]org/download/setup.exe"`) {
		t.Errorf("a live input was not defanged:\n%s", out)
	}

	// The caller's result keeps its real values.
	if r.Timeline[0].IOC != "http://files.example.org/download/setup.exe" {
		t.Errorf("defanging changed the caller's timeline to %q", r.Timeline[0].IOC)
	}
	if r.Investigation.Sections[0].Items[0].ID != "c2.example.org" {
		t.Errorf("defanging changed the caller's section item to %q", r.Investigation.Sections[0].Items[0].ID)
	}
	if r.Investigation.Details.Behaviour.IPTraffic[0] != "203.0.113.9" {
		t.Errorf("defanging changed the caller's behaviour to %q", r.Investigation.Details.Behaviour.IPTraffic[0])
	}
}

// TestDefangKeepsDefangedInput checks that an input the analyst defanged
// is printed as typed, not rewritten in vex's own defang style.
func TestDefangKeepsDefangedInput(t *testing.T) {
	typed := "hxxp://files[.]example[.]org/download/setup.exe"
	r := liveInvestigation(typed)
	for _, format := range []string{FormatJSON, FormatCSV} {
		out := string(render(t, format, Options{Defang: true}, []enrich.Result{r}))
		if !strings.Contains(out, typed) {
			t.Errorf("%s output lacks the input as typed, %s:\n%s", format, typed, out)
		}
	}

	var doc struct{ Results []enrich.Result }
	out := render(t, FormatJSON, Options{}, []enrich.Result{r})
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Results[0].Input != typed {
		t.Errorf("without --defang the input is %q, want it as typed", doc.Results[0].Input)
	}
}
