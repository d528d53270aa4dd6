package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/mitre"
	"github.com/vex-ioc/vex/core/timeline"
	"github.com/vex-ioc/vex/core/verdict"
)

const sampleHash = "03bd9a94482f180bb047626cb2f27ccf8daa0e201345480b43585580e09c311b"

// sampleInvestigation is a malicious file investigated in depth, with one
// section that needs a premium key and one that failed.
func sampleInvestigation() enrich.Result {
	related := func(v verdict.Verdict, m, n int, id, name string) enrich.Related {
		return enrich.Related{Type: "file", ID: id, Name: name, Verdict: v, Malicious: m, Engines: n}
	}
	return enrich.Result{
		Input: sampleHash, Type: ioc.SHA256, Normalized: sampleHash,
		Mode: enrich.Investigate, Status: enrich.StatusOK, Verdict: verdict.Malicious,
		Stats: verdict.Stats{Malicious: 40, Undetected: 28}, Engines: 68, Source: enrich.SourceAPI, FetchedAt: testNow,
		Summary: enrich.Summary{
			ThreatLabel: "trojan.msil/tasker", Name: "itami.exe", FileType: "Win32 EXE", Size: 44032,
			Tags:            []string{"obfuscated", "peexe", "long-sleeps"},
			FirstSubmission: time.Date(2021, 10, 2, 12, 40, 39, 0, time.UTC),
		},
		Timeline: []timeline.Event{
			{Time: time.Date(2021, 9, 29, 0, 53, 56, 0, time.UTC), Kind: timeline.KindPECompiled, Description: "PE header compile time", IOC: sampleHash},
			{Time: time.Date(2021, 10, 2, 12, 40, 39, 0, time.UTC), Kind: timeline.KindFirstSubmission, Description: "first submitted to VirusTotal", IOC: sampleHash},
		},
		Investigation: &enrich.Investigation{
			Sections: []enrich.Section{
				{Name: "behaviour_summary", Status: enrich.SectionOK},
				{Name: "contacted_ips", Status: enrich.SectionOK, Items: []enrich.Related{
					{Type: "ip_address", ID: "185.65.135.234", Verdict: verdict.Clean, Engines: 90},
					{Type: "ip_address", ID: "51.255.34.118", Verdict: verdict.Malicious, Malicious: 7, Engines: 90},
				}},
				{Name: "contacted_domains", Status: enrich.SectionOK},
				{Name: "dropped_files", Status: enrich.SectionOK, Truncated: true, Items: []enrich.Related{
					related(verdict.Suspicious, 1, 70, strings.Repeat("a", 64), "sihost64.exe"),
					related(verdict.Malicious, 30, 70, strings.Repeat("b", 64), "svchost64.exe"),
					related(verdict.Malicious, 44, 70, strings.Repeat("c", 64), ""),
					related(verdict.Clean, 0, 70, strings.Repeat("d", 64), "readme.txt"),
					related(verdict.Clean, 0, 70, strings.Repeat("e", 64), ""),
					related(verdict.Unknown, 0, 0, strings.Repeat("f", 64), "never analysed"),
				}},
				{Name: "execution_parents", Status: enrich.SectionRequiresPremium, Error: "requires a premium API key"},
				{Name: "contacted_urls", Status: enrich.SectionError, Error: "virustotal answered 500"},
			},
			Missing: []string{"contacted_urls"},
			Details: enrich.Details{
				Names: []string{"itami.exe", `C:\Windows\System32\services64.exe`},
				Magic: "PE32+ executable for MS Windows (GUI)", SSDeep: "768:wqWh3jyYwn3G08QV23J1vZ4qmN9nkmYc",
				MD5: "b61a4b8883ba9b9d4d85bdaecab71722", SHA256: sampleHash,
				PE:        &enrich.PEInfo{CompileTime: time.Date(2021, 9, 29, 0, 53, 56, 0, time.UTC), Sections: 2, Imports: 1, Imphash: "f34d5f2d4577ed6d9ceec516c1f5a744"},
				Signature: &enrich.Signature{Verified: "Unsigned"},
				YARA:      []enrich.RuleHit{{Rule: "MAL_Miner_Loader", Source: "signature-base"}},
				Sigma:     []enrich.RuleHit{{Rule: "Scheduled Task Creation", Level: "high", Source: "Sigma Integrated Rule Set"}},
				Sandboxes: []enrich.Sandbox{{Name: "C2AE", Category: "malicious", Malware: []string{"NetMiner"}}},
				Behaviour: &enrich.Behaviour{
					Verdicts:         []string{"MALWARE"},
					ProcessesCreated: []string{`C:\Windows\System32\schtasks.exe`},
					CommandLines:     []string{`schtasks /create /f /sc onlogon /rl highest /tn services64`},
					DNSLookups:       []string{"sanctam.net", "xmr-eu1.nanopool.org", "sanctam.net"},
					IPTraffic:        []string{"51.255.34.118:14433"},
					MutexesCreated:   []string{`\Sessions\1\BaseNamedObjects\Local\ZonesCacheCounterMutex`},
				},
			},
			Techniques: []mitre.Mapping{
				{ID: "T1053", Name: "Scheduled Task/Job", Tactics: []string{"execution", "persistence", "privilege-escalation"},
					Source: mitre.SourceVirusTotal, Evidence: `attack_techniques: T1053 "Uses schtasks.exe to add and modify task schedules"`},
				{ID: "T1027", Name: "Obfuscated Files or Information", Tactics: []string{"defense-evasion"},
					Source: mitre.SourceKeyword, Evidence: `tags="obfuscated" (keyword "obfuscated")`},
			},
		},
	}
}

// sampleDomainInvestigation has DNS records and resolutions.
func sampleDomainInvestigation() enrich.Result {
	return enrich.Result{
		Input: "evil.example", Type: ioc.Domain, Normalized: "evil.example",
		Mode: enrich.Investigate, Status: enrich.StatusOK, Verdict: verdict.Clean,
		Stats: verdict.Stats{Harmless: 60, Undetected: 30}, Engines: 90, Source: enrich.SourceAPI, FetchedAt: testNow,
		Summary: enrich.Summary{Registrar: "Example Registrar"},
		Investigation: &enrich.Investigation{
			Sections: []enrich.Section{
				{Name: "resolutions", Status: enrich.SectionOK, Items: []enrich.Related{
					{Type: "resolution", ID: "192.0.2.7evil.example", Name: "192.0.2.7", Date: day(3)},
				}},
				{Name: "subdomains", Status: enrich.SectionOK},
				{Name: "communicating_files", Status: enrich.SectionOK},
				{Name: "historical_whois", Status: enrich.SectionRequiresPremium, Error: "requires a premium API key"},
			},
			Details: enrich.Details{
				DNSRecords: []enrich.DNSRecord{{Type: "A", Value: "192.0.2.7", TTL: 300}, {Type: "MX", Value: "mail.evil.example"}},
				WhoisDate:  day(40),
			},
		},
	}
}

func investigateOptions() Options {
	return Options{Width: 100, Timeline: true, Now: func() time.Time { return testNow }}
}

func TestInvestigateGolden(t *testing.T) {
	results := []enrich.Result{sampleInvestigation(), sampleDomainInvestigation()}
	defanged := investigateOptions()
	defanged.Defang = true
	checkGolden(t, "rich_investigate.golden", render(t, FormatRich, investigateOptions(), results))
	checkGolden(t, "console_investigate.golden", render(t, FormatConsole, investigateOptions(), results))
	checkGolden(t, "console_investigate_defang.golden", render(t, FormatConsole, defanged, results))
}

func TestInvestigateShowsEverySection(t *testing.T) {
	out := string(render(t, FormatRich, investigateOptions(), []enrich.Result{sampleInvestigation(), sampleDomainInvestigation()}))
	for _, want := range []string{
		"PARTIAL", "missing contacted URLs",
		"execution parents: requires a premium API key",
		"contacted URLs: MISSING, virustotal answered 500",
		"historical WHOIS: requires a premium API key",
		"dropped files: 6+ (2 malicious, 1 suspicious)",
		"contacted IPs: 2 (1 malicious)",
		"none in contacted domains",
		"none in subdomains, communicating files",
		"T1053 Scheduled Task/Job [execution, persistence, privilege-escalation]",
		"imphash       f34d5f2d4577ed6d9ceec516c1f5a744",
		"MAL_Miner_Loader (signature-base)",
		"Scheduled Task Creation (high, Sigma Integrated Rule Set)",
		"C2AE: malicious (NetMiner)",
		"sanctam.net, xmr-eu1.nanopool.org",
		"A 192.0.2.7 (ttl 300); MX mail.evil.example",
		"192.0.2.7 " + day(3).Format(time.DateOnly),
		"PE header compile time",
		"(+1 more; -o json lists all)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rich output lacks %q", want)
		}
	}
	if strings.Contains(out, "behaviour summary") {
		t.Error("the behaviour document shows up as a relationship section")
	}
}

// TestRelatedMostSevereFirst checks that the top of a relationship list
// is what an analyst pivots to first: malicious by detections, then the
// rest, objects never analysed last.
func TestRelatedMostSevereFirst(t *testing.T) {
	out := string(render(t, FormatConsole, investigateOptions(), []enrich.Result{sampleInvestigation()}))
	order := []string{strings.Repeat("c", 64), strings.Repeat("b", 64), strings.Repeat("a", 64), strings.Repeat("d", 64), strings.Repeat("e", 64)}
	last := -1
	for _, id := range order {
		i := strings.Index(out, id)
		if i < 0 {
			t.Fatalf("related %s… missing from output", id[:8])
		}
		if i < last {
			t.Errorf("related %s… is out of severity order", id[:8])
		}
		last = i
	}
	if strings.Contains(out, strings.Repeat("f", 64)) {
		t.Error("the sixth related object is shown, want it counted in the more line")
	}
}

func TestTimelineOnlyWhenAsked(t *testing.T) {
	r := sampleInvestigation()
	r.Mode, r.Investigation = enrich.Triage, nil
	r.Verdict = verdict.Clean // a clean triage result has no detail block by default
	plain := investigateOptions()
	plain.Timeline = false

	for _, format := range []string{FormatConsole, FormatRich} {
		if out := string(render(t, format, plain, []enrich.Result{r})); strings.Contains(out, "PE header compile time") {
			t.Errorf("%s shows the timeline without Options.Timeline", format)
		}
		out := string(render(t, format, investigateOptions(), []enrich.Result{r}))
		if !strings.Contains(out, "timeline") || !strings.Contains(out, "2021-09-29 00:53  PE header compile time") &&
			!strings.Contains(out, "2021-09-29 00:53 PE header compile time") {
			t.Errorf("%s with Options.Timeline lacks the triage timeline:\n%s", format, out)
		}
	}
}

func TestInvestigateRichFitsWidth(t *testing.T) {
	results := []enrich.Result{sampleInvestigation(), sampleDomainInvestigation()}
	for _, width := range []int{80, 100} {
		opt := investigateOptions()
		opt.Width = width
		for i, line := range strings.Split(string(render(t, FormatRich, opt, results)), "\n") {
			if w := twwidth.Width(line); w > width && !strings.Contains(line, "  (sha256)") {
				t.Errorf("width %d: line %d is %d columns: %q", width, i+1, w, line)
			}
		}
	}
}

// hostileInvestigation puts s into every string of an investigation that
// comes from VirusTotal.
func hostileInvestigation(s string) enrich.Result {
	r := hostileResult(s)
	r.Mode = enrich.Investigate
	r.Timeline = []timeline.Event{{Time: testNow, Kind: timeline.KindPassiveDNS, Description: s, IOC: s, Source: s}}
	r.Investigation = &enrich.Investigation{
		Sections: []enrich.Section{
			{Name: "resolutions", Status: enrich.SectionOK, Items: []enrich.Related{
				{Type: s, ID: s, Name: s, Verdict: verdict.Malicious, Malicious: 3, Engines: 60},
				{Type: "resolution", ID: s, Name: s},
				{Type: "url", ID: s, Name: s},
			}},
			{Name: s, Status: enrich.SectionError, Error: s},
			{Name: "subdomains", Status: enrich.SectionSkipped, Error: s},
		},
		Missing: []string{s},
		Details: enrich.Details{
			Names: []string{s, s}, Magic: s, SSDeep: s, TLSH: s, MD5: s, SHA1: s, SHA256: s,
			PE:        &enrich.PEInfo{Imphash: s},
			Signature: &enrich.Signature{Verified: s, Signers: s, Product: s, SigningDate: s},
			YARA:      []enrich.RuleHit{{Rule: s, Source: s, Level: s}},
			Sigma:     []enrich.RuleHit{{Rule: s, Source: s, Level: s}},
			Sandboxes: []enrich.Sandbox{{Name: s, Category: s, Malware: []string{s}}},
			Behaviour: &enrich.Behaviour{
				ProcessesCreated: []string{s}, CommandLines: []string{s}, FilesDropped: []string{s}, DNSLookups: []string{s},
				IPTraffic: []string{s}, MutexesCreated: []string{s}, RegistryKeysSet: []string{s}, Verdicts: []string{s},
			},
			DNSRecords: []enrich.DNSRecord{{Type: s, Value: s}},
			JARM:       s,
		},
		Techniques: []mitre.Mapping{{ID: s, Name: s, Tactics: []string{s}, Source: s, Evidence: s}},
	}
	return r
}

func TestHostileStringsInvestigation(t *testing.T) {
	for name, s := range hostileStrings {
		r := hostileInvestigation(s)
		for _, opt := range []Options{
			{Width: 100, Timeline: true, Now: func() time.Time { return testNow }},
			{Width: 100, Timeline: true, Color: true, Now: func() time.Time { return testNow }},
		} {
			for _, format := range []string{FormatConsole, FormatRich} {
				t.Run(name+"/"+format, func(t *testing.T) {
					out := render(t, format, opt, []enrich.Result{r})
					checkNoRawControls(t, out, opt.Color)
					checkHuman(t, format, out, 1)
				})
			}
		}
		t.Run(name+"/json", func(t *testing.T) {
			out := render(t, FormatJSON, Options{}, []enrich.Result{r})
			checkNoRawControls(t, out, false)
			var doc struct{ Results []enrich.Result }
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("json output is invalid: %v", err)
			}
			want := replaceInvalidBytes(s)
			inv := doc.Results[0].Investigation
			if inv == nil || inv.Details.Behaviour == nil || inv.Details.Behaviour.CommandLines[0] != want ||
				inv.Sections[0].Items[0].Name != want || inv.Techniques[0].Evidence != want {
				t.Error("json does not carry the real investigation values")
			}
			if tl := doc.Results[0].Timeline; len(tl) != 1 || tl[0].Description != want {
				t.Error("json does not carry the real timeline value")
			}
		})
	}
}
