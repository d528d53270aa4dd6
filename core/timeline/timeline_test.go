package timeline

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/internal/fixtures"
)

func TestParseTime(t *testing.T) {
	ref := time.Date(2021, 10, 2, 12, 40, 39, 0, time.UTC)
	cases := []struct {
		name string
		in   any
		want time.Time // zero means "skipped"
	}{
		{"json number", float64(ref.Unix()), ref},
		{"json.Number", json.Number("1633178439"), ref},
		{"int64", ref.Unix(), ref},
		{"digit string", " 1633178439 ", ref},
		{"float string with fraction", "1633178439.5", ref.Add(500 * time.Millisecond)},
		{"milliseconds", float64(ref.UnixMilli()), ref},
		{"rfc3339", "2021-10-02T14:40:39+02:00", ref},
		{"date and time", "2021-10-02 12:40:39", ref},
		{"date only", "2021-10-02", time.Date(2021, 10, 2, 0, 0, 0, 0, time.UTC)},
		{"far future kept", float64(4102444800), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"zero", 0.0, time.Time{}},
		{"zero string", "0", time.Time{}},
		{"negative", -86400.0, time.Time{}},
		{"NaN", math.NaN(), time.Time{}},
		{"infinity", math.Inf(1), time.Time{}},
		{"beyond year 9999", 1e15, time.Time{}},
		{"beyond year 9999 in seconds", 3e14, time.Time{}},
		{"garbage string", "yesterday", time.Time{}},
		{"empty string", "", time.Time{}},
		{"nil", nil, time.Time{}},
		{"bool", true, time.Time{}},
		{"map", map[string]any{"x": 1.0}, time.Time{}},
		{"pre-1970 string", "1969-12-31", time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseTime(c.in)
			if c.want.IsZero() {
				if ok {
					t.Errorf("ParseTime(%#v) = %v, want skipped", c.in, got)
				}
				return
			}
			if !ok || !got.Equal(c.want) || got.Location() != time.UTC {
				t.Errorf("ParseTime(%#v) = %v, %v; want %v UTC", c.in, got, ok, c.want)
			}
		})
	}
}

func TestFromAttributesOddTypes(t *testing.T) {
	attrs := map[string]any{
		"first_submission_date": "1633178439", // string
		"last_submission_date":  json.Number("1633178439"),
		"last_analysis_date":    0.0,                                       // zero: skipped
		"first_seen_itw_date":   -5.0,                                      // negative: skipped
		"pe_info":               map[string]any{"timestamp": 4102444800.0}, // far future: kept
		"signature_info":        map[string]any{"signing date": "11:32 AM 7/4/2016", "signers": "Evil Corp; DigiCert"},
		"creation_date":         1.0e9, // a file: creation_date is not WHOIS
		"last_analysis_stats":   "not a map",
	}
	got := FromAttributes("ioc", "file", attrs)
	want := []struct {
		kind string
		at   time.Time
	}{
		{KindSigned, time.Date(2016, 7, 4, 11, 32, 0, 0, time.UTC)},
		{KindFirstSubmission, time.Unix(1633178439, 0).UTC()},
		{KindLastSubmission, time.Unix(1633178439, 0).UTC()},
		{KindPECompiled, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Kind != w.kind || !got[i].Time.Equal(w.at) {
			t.Errorf("event %d = %s at %v, want %s at %v", i, got[i].Kind, got[i].Time, w.kind, w.at)
		}
		if got[i].IOC != "ioc" || !strings.HasPrefix(got[i].Source, "virustotal:") || got[i].Description == "" {
			t.Errorf("event %d lacks ioc, source or description: %+v", i, got[i])
		}
	}
	if !strings.Contains(got[0].Description, "Evil Corp") {
		t.Errorf("signing event %q does not name the signer", got[0].Description)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("events do not encode as JSON: %v", err)
	}
}

func TestFromAttributesNothing(t *testing.T) {
	if got := FromAttributes("x", "domain", nil); len(got) != 0 {
		t.Errorf("nil attributes gave %+v", got)
	}
	odd := map[string]any{"pe_info": "x", "signature_info": []any{}, "whois": 5.0, "creation_date": map[string]any{}}
	if got := FromAttributes("x", "domain", odd); len(got) != 0 {
		t.Errorf("odd types gave %+v", got)
	}
}

func TestSortStable(t *testing.T) {
	t1 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	events := []Event{
		{Time: t2, Kind: "b", Description: "1"},
		{Time: t1, Kind: "z", Description: "2"},
		{Time: t2, Kind: "a", Description: "3"},
		{Time: t1, Kind: "z", Description: "4"},
		{Time: t1.In(time.FixedZone("X", 3600)), Kind: "y", Description: "5"}, // same instant as t1
	}
	Sort(events)
	var order []string
	for _, e := range events {
		order = append(order, e.Description)
	}
	if got := strings.Join(order, ""); got != "52431" {
		t.Errorf("order %s, want 52431 (time, then kind, then input order)", got)
	}
}

func TestWhoisText(t *testing.T) {
	attrs := map[string]any{
		"creation_date": 1191928850.0, // 2007-10-09T11:20:50Z
		"whois": "Creation Date: 2007-10-09T11:20:50-0700\nCreation Date: 2007-10-09T18:20:50Z\n" +
			"Expiration Date: not a date\n" +
			"Updated Date: 2017-03-06T21:52:39.0Z\nUpdated Date: 2017-03-07T00:00:00Z\n" +
			"Registry Expiry Date: 2018-01-21T23:59:59.0Z\r\n",
	}
	got := FromAttributes("github.com", "domain", attrs)
	want := []struct {
		kind, source string
		at           time.Time
	}{
		{KindWhoisCreated, "virustotal:creation_date", time.Unix(1191928850, 0)},
		{KindWhoisUpdated, "virustotal:whois", time.Date(2017, 3, 6, 21, 52, 39, 0, time.UTC)},
		{KindWhoisExpires, "virustotal:whois", time.Date(2018, 1, 21, 23, 59, 59, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Source != w.source || !got[i].Time.Equal(w.at) {
			t.Errorf("event %d = %+v, want %s from %s at %v", i, got[i], w.kind, w.source, w.at)
		}
	}
}

func TestWhoisTextIPRegistry(t *testing.T) {
	// An empty RegDate must not swallow the next line as its value.
	whois := "NetRange:       8.0.0.0 - 8.255.255.255\nRegDate:        \nUpdated:        2014-03-14\nRef: x\n"
	got := FromAttributes("8.8.8.8", "ip_address", map[string]any{"whois": whois})
	if len(got) != 1 || got[0].Kind != KindWhoisUpdated || !got[0].Time.Equal(time.Date(2014, 3, 14, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v", got)
	}
}

func kindsOf(events []Event) map[string]int {
	m := map[string]int{}
	for _, e := range events {
		m[e.Kind]++
	}
	return m
}

func TestFixtures(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	cases := []struct {
		file, typ string
		want      []string
	}{
		{"msticpy/vt3_file_1.json", "file", []string{KindFirstSubmission, KindLastSubmission, KindLastAnalysis, KindPECompiled}},
		{"demisto-content/VirusTotalV3/TestData/file.json", "file", []string{KindFirstSubmission, KindFirstSeenITW, KindLastAnalysis}},
		{"virustotalx/Domain/_get/1_1_1.body.json", "domain", []string{KindWhoisCreated, KindWhoisUpdated, KindWhoisExpires}},
		{"demisto-content/VirusTotalV3/test_data/domain.json", "domain", []string{KindWhoisCreated, KindWhoisUpdated, KindWhoisExpires}},
		{"deploymenttheory-go-api-sdk-virustotal/ip_addresses/mocks/validate_get_ip_address_report.json", "ip_address", []string{KindLastAnalysis, KindWhoisUpdated}},
		{"msticpy/vt3_url_1.json", "url", []string{KindFirstSubmission, KindLastAnalysis}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := FromAttributes("x", c.typ, fixtures.Attributes(fixtures.LoadJSON(t, filepath.Join(dir, c.file))))
			k := kindsOf(got)
			for _, w := range c.want {
				if k[w] == 0 {
					t.Errorf("no %s event in %+v", w, got)
				}
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Errorf("events out of order at %d: %v before %v", i, got[i-1].Time, got[i].Time)
				}
			}
		})
	}

	res := fixtures.LoadJSON(t, filepath.Join(dir, "virustotalx/Domain/with_relationships/resolutions/1_3_7_1.body.json"))
	dns := FromResolutions("github.com", []any{res})
	items, _ := res["data"].([]any)
	if len(dns) != len(items) || len(dns) == 0 {
		t.Fatalf("%d passive DNS events from %d resolutions", len(dns), len(items))
	}
	last := dns[len(dns)-1]
	if last.Kind != KindPassiveDNS || last.Description != "github.com resolved to 140.82.114.3 (resolver VirusTotal)" ||
		!last.Time.Equal(time.Unix(1571457094, 0)) {
		t.Errorf("latest resolution event %+v", last)
	}
}

func TestFromSandboxRuns(t *testing.T) {
	runs := []any{
		map[string]any{"attributes": map[string]any{"sandbox_name": "Zenbox", "analysis_date": 1700000000.0, "verdicts": []any{"MALWARE"}}},
		map[string]any{"sandbox_name": "CAPE", "analysis_date": "1600000000"},
		map[string]any{"sandbox_name": "no date"},
		"not an object",
	}
	got := FromSandboxRuns("h", runs)
	if len(got) != 2 || got[0].Description != "sandbox run in CAPE" || got[1].Description != "sandbox run in Zenbox (verdict MALWARE)" {
		t.Errorf("got %+v", got)
	}
	sameSecond := FromResolutions("d", []any{
		map[string]any{"date": 1650000000.0, "host_name": "d", "ip_address": "192.0.2.1"},
		map[string]any{"date": 1650000000.0, "host_name": "d", "ip_address": "192.0.2.2"},
		map[string]any{"date": 1650000000.0, "host_name": "d", "ip_address": "192.0.2.2"},
	})
	if len(sameSecond) != 2 {
		t.Errorf("resolutions at one second: got %+v, want two distinct events", sameSecond)
	}
	merged := Merge(got, FromResolutions("h", []any{map[string]any{"date": 1650000000.0}}))
	if len(merged) != 3 || merged[1].Kind != KindPassiveDNS || merged[1].Description != "(unknown) resolved to (unknown)" {
		t.Errorf("merged %+v", merged)
	}
}
