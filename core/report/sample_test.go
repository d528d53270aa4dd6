package report

import (
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// testNow is the fixed clock of every test, so ages in golden files do not
// drift.
var testNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func day(daysAgo int) time.Time { return testNow.AddDate(0, 0, -daysAgo) }

// sampleResults covers every status and verdict, each IOC type, local
// knowledge-base data and a URL with characters that need escaping.
func sampleResults() []enrich.Result {
	return []enrich.Result{
		{
			Input: "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F", Type: ioc.SHA256,
			Normalized: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
			Mode:       enrich.Triage, Status: enrich.StatusOK, Verdict: verdict.Malicious,
			Stats:   verdict.Stats{Malicious: 61, Suspicious: 1, Undetected: 8, TypeUnsupported: 3},
			Engines: 70, Reputation: -120, Source: enrich.SourceCache, FetchedAt: day(2),
			Permalink: "https://www.virustotal.com/gui/file/275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
			Summary: enrich.Summary{
				ThreatLabel: "virus.eicar/test",
				Detections: []enrich.Detection{
					{Engine: "Kaspersky", Category: "malicious", Result: "EICAR-Test-File"},
					{Engine: "ESET-NOD32", Category: "malicious", Result: "Eicar test file"},
					{Engine: "Microsoft", Category: "malicious", Result: "Virus:DOS/EICAR_Test_File"},
					{Engine: "BitDefender", Category: "malicious", Result: "EICAR-Test-File (not a virus)"},
					{Engine: "Avast", Category: "malicious", Result: "EICAR Test-NOT virus!!!"},
					{Engine: "Sophos", Category: "malicious", Result: "EICAR-AV-Test"},
					{Engine: "Cylance", Category: "suspicious", Result: "Unsafe"},
				},
				Tags:            []string{"text", "attachment", "known-distributor"},
				Name:            "eicar.com",
				FileType:        "Text",
				Size:            68,
				FirstSubmission: time.Date(2006, 5, 22, 7, 30, 0, 0, time.UTC),
				LastSubmission:  day(1),
				LastAnalysis:    day(3),
				TimesSubmitted:  812345,
			},
			Local: enrich.Local{
				Tags:       []string{"test-file", "case-42"},
				Notes:      []enrich.Note{{ID: 7, Text: "Seen in the mail gateway quarantine, harmless test string.", Created: day(30)}},
				Watchlists: []string{"av-tests"},
			},
		},
		{
			Input: "hxxp://login-update[.]example[.]net/verify?acct=1&next=%2Fhome", Type: ioc.URL,
			Normalized: "http://login-update.example.net/verify?acct=1&next=%2Fhome",
			Mode:       enrich.Triage, Status: enrich.StatusOK, Verdict: verdict.Suspicious,
			Stats:   verdict.Stats{Malicious: 1, Suspicious: 1, Harmless: 60, Undetected: 25},
			Engines: 87, Source: enrich.SourceAPI, FetchedAt: testNow,
			Summary: enrich.Summary{
				Detections: []enrich.Detection{
					{Engine: "Fortinet", Category: "malicious", Result: "phishing"},
					{Engine: "Sophos", Category: "suspicious", Result: "suspicious"},
				},
				FinalURL:   "https://login-update.example.net/verify/step2",
				Title:      "Verify your account",
				Categories: []string{"phishing and fraud"},
			},
		},
		{
			Input: "example.com", Type: ioc.Domain, Normalized: "example.com",
			Mode: enrich.Triage, Status: enrich.StatusOK, Verdict: verdict.Clean,
			Stats:   verdict.Stats{Harmless: 66, Undetected: 27},
			Engines: 93, Reputation: 12, Source: enrich.SourceAPI, FetchedAt: testNow,
			Summary: enrich.Summary{Registrar: "RESERVED-Internet Assigned Numbers Authority", CreationDate: time.Date(1995, 8, 14, 4, 0, 0, 0, time.UTC)},
		},
		{
			Input: "8.8.8.8", Type: ioc.IPv4, Normalized: "8.8.8.8",
			Mode: enrich.Triage, Status: enrich.StatusOK, Verdict: verdict.Clean,
			Stats:   verdict.Stats{Harmless: 62, Undetected: 30},
			Engines: 92, Source: enrich.SourceAPI, FetchedAt: testNow,
			Summary: enrich.Summary{ASN: 15169, ASOwner: "GOOGLE", Country: "US", Network: "8.8.8.0/24"},
			Local:   enrich.Local{Tags: []string{"resolver"}},
		},
		{
			Input: "d41d8cd98f00b204e9800998ecf8427e", Type: ioc.MD5, Normalized: "d41d8cd98f00b204e9800998ecf8427e",
			Flags: []ioc.Flag{ioc.FlagEmptyFile}, Mode: enrich.Triage, Status: enrich.StatusNotFound,
			Verdict: verdict.Unknown, Source: enrich.SourceAPI,
		},
		{
			Input: "10.1.2.3", Type: ioc.IPv4, Normalized: "10.1.2.3", Flags: []ioc.Flag{ioc.FlagNonRoutable},
			Mode: enrich.Triage, Status: enrich.StatusNonRoutable, Verdict: verdict.Unknown, Source: enrich.SourceNone,
		},
		{
			Input: "2001:4860:4860::8888", Type: ioc.IPv6, Normalized: "2001:4860:4860::8888",
			Mode: enrich.Triage, Status: enrich.StatusQuota, Verdict: verdict.Unknown, Source: enrich.SourceNone,
		},
		{
			Input: "da39a3ee5e6b4b0d3255bfef95601890afd80709", Type: ioc.SHA1, Normalized: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
			Flags: []ioc.Flag{ioc.FlagEmptyFile}, Mode: enrich.Triage, Status: enrich.StatusFailed,
			Error: "virustotal answered 503 three times", Verdict: verdict.Unknown, Source: enrich.SourceNone,
		},
		{
			Input: "invoice.pdf", Mode: enrich.Triage, Status: enrich.StatusInvalid,
			Error: "pdf is not a top-level domain", Verdict: verdict.Unknown, Source: enrich.SourceNone,
		},
	}
}
