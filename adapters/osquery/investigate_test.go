package osquery_test

import (
	"context"
	"strings"
	"testing"

	vexosq "github.com/vex-ioc/vex/adapters/osquery"
	"github.com/vex-ioc/vex/adapters/osquery/osquerytest"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// investigatedResult is a domain with related files, one section that
// needs a premium key and one that failed.
func investigatedResult(input string) enrich.Result {
	r := cleanResult(input)
	r.Mode = enrich.Investigate
	r.Investigation = &enrich.Investigation{
		Sections: []enrich.Section{
			{Name: "resolutions", Status: enrich.SectionOK, Items: []enrich.Related{
				{Type: "resolution", ID: "192.0.2.7" + r.Normalized, Name: "192.0.2.7"},
			}},
			{Name: "communicating_files", Status: enrich.SectionOK, Items: []enrich.Related{
				{Type: "file", ID: strings.Repeat("a", 64), Name: "dropper.exe", Verdict: verdict.Malicious, Malicious: 41, Engines: 70},
				{Type: "file", ID: strings.Repeat("b", 64), Verdict: verdict.Clean, Engines: 68},
			}},
			{Name: "subdomains", Status: enrich.SectionOK},
			{Name: "historical_whois", Status: enrich.SectionRequiresPremium, Error: "requires a premium API key"},
			{Name: "downloaded_files", Status: enrich.SectionError, Error: "virustotal answered 500"},
		},
		Missing: []string{"downloaded_files"},
	}
	return r
}

func TestInvestigateRows(t *testing.T) {
	eng := &fakeEngine{lookup: func(_ context.Context, input string, req enrich.Request) enrich.Result {
		if req.Mode != enrich.Investigate {
			t.Errorf("vex_investigate looked up %q in mode %q", input, req.Mode)
		}
		return investigatedResult(input)
	}}
	h := start(t, vexosq.Options{Engine: eng})

	rows, st := query(t, h, osquerytest.Query{Table: "vex_investigate", Where: []osquerytest.Cond{osquerytest.Eq("ioc", "evil[.]example.com")}}, osquerytest.Options{})
	if st.Calls != 1 {
		t.Fatalf("calls = %d, want 1", st.Calls)
	}
	if len(rows) != 6 {
		t.Fatalf("got %d rows, want 6 (3 related objects + 3 sections without objects):\n%v", len(rows), rows)
	}
	bySection := map[string][]map[string]string{}
	for _, r := range rows {
		if r["ioc"] != "evil[.]example.com" {
			t.Errorf("ioc = %q, want the input echoed", r["ioc"])
		}
		bySection[r["section"]] = append(bySection[r["section"]], r)
	}

	files := bySection["communicating_files"]
	if len(files) != 2 {
		t.Fatalf("communicating_files rows = %d, want 2", len(files))
	}
	want := map[string]string{
		"related_type": "file", "related_id": strings.Repeat("a", 64), "related_name": "dropper.exe",
		"related_verdict": "MALICIOUS", "related_malicious": "41", "related_engines": "70", "section_status": "ok", "error": "",
	}
	for k, v := range want {
		if files[0][k] != v {
			t.Errorf("first file row[%s] = %q, want %q", k, files[0][k], v)
		}
	}
	if res := bySection["resolutions"]; len(res) != 1 || res[0]["related_name"] != "192.0.2.7" || res[0]["related_verdict"] != "" {
		t.Errorf("resolution rows = %v, want the address and no verdict (the list carries no analysis)", res)
	}
	if p := bySection["historical_whois"]; len(p) != 1 || p[0]["section_status"] != enrich.SectionRequiresPremium || p[0]["related_id"] != "" {
		t.Errorf("historical_whois rows = %v, want one requires_premium row without an object", p)
	}
	if e := bySection["downloaded_files"]; len(e) != 1 || e[0]["section_status"] != enrich.SectionError || e[0]["error"] != "virustotal answered 500" {
		t.Errorf("downloaded_files rows = %v, want one error row with the reason", e)
	}
	if s := bySection["subdomains"]; len(s) != 1 || s[0]["section_status"] != enrich.SectionOK {
		t.Errorf("subdomains rows = %v, want one ok row for the empty list", s)
	}
}

func TestInvestigateFailureIsOneRow(t *testing.T) {
	eng := &fakeEngine{lookup: func(_ context.Context, input string, _ enrich.Request) enrich.Result {
		switch input {
		case "quota.example.com":
			return enrich.Result{Input: input, Status: enrich.StatusQuota, Source: enrich.SourceNone}
		case "unknown.example.com":
			return enrich.Result{Input: input, Status: enrich.StatusNotFound, Source: enrich.SourceAPI}
		}
		return enrich.Result{Input: input, Status: enrich.StatusInvalid, Error: "not an indicator"}
	}}
	h := start(t, vexosq.Options{Engine: eng})

	rows, _ := query(t, h, osquerytest.Query{Table: "vex_investigate", Where: []osquerytest.Cond{
		osquerytest.In("ioc", "quota.example.com", "unknown.example.com", "not an ioc"),
	}}, osquerytest.Options{})
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want one per IOC:\n%v", len(rows), rows)
	}
	errs := map[string]string{}
	for _, r := range rows {
		errs[r["ioc"]] = r["error"]
		if r["section"] != "" || r["related_id"] != "" {
			t.Errorf("failure row for %s has related data: %v", r["ioc"], r)
		}
	}
	for ioc, want := range map[string]string{
		"quota.example.com":   "quota exhausted",
		"unknown.example.com": "not in VirusTotal",
		"not an ioc":          "not an indicator",
	} {
		if !strings.Contains(errs[ioc], want) {
			t.Errorf("error for %s = %q, want it to mention %q", ioc, errs[ioc], want)
		}
	}
}

func TestInvestigateRequiresIOC(t *testing.T) {
	h := start(t, vexosq.Options{Engine: &fakeEngine{}})
	ctx := context.Background()
	if _, _, err := h.m.Query(ctx, osquerytest.Query{Table: "vex_investigate"}, osquerytest.Options{}); err == nil {
		t.Error("a query without an ioc constraint was accepted")
	}
}
