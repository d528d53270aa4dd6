package enrich

import (
	"encoding/json"
	"testing"

	"github.com/vex-ioc/vex/core/ioc"
)

// decodeTestInvestigation decodes an investigation record holding one
// relationship section with the given items.
func decodeTestInvestigation(t *testing.T, i ioc.IOC, objType, section string, items ...string) Result {
	t.Helper()
	raw := make([]json.RawMessage, len(items))
	for n, it := range items {
		raw[n] = json.RawMessage(it)
	}
	inv := investigation{
		Version:  1,
		Object:   json.RawMessage(`{"data":{"type":"` + objType + `","id":"` + i.Value + `","attributes":{}}}`),
		Sections: map[string]rawSection{section: {Status: SectionOK, Items: raw}},
	}
	data, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	v := &VirusTotal{}
	if err := v.Decode(i, Record{Status: RecordOK, Data: data}, &r); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if r.Investigation == nil {
		t.Fatal("no investigation decoded")
	}
	return r
}

func relatedNames(r Result, section string) []string {
	var names []string
	for _, s := range r.Investigation.Sections {
		if s.Name == section {
			for _, it := range s.Items {
				names = append(names, it.Name)
			}
		}
	}
	return names
}

const testResolution = `{"type":"resolution","id":"140.82.114.3github.com",
	"attributes":{"date":1571457094,"host_name":"github.com","ip_address":"140.82.114.3"}}`

func TestResolutionNameIsOtherSide(t *testing.T) {
	domain := decodeTestInvestigation(t, ioc.IOC{Type: ioc.Domain, Value: "github.com"}, "domain", "resolutions", testResolution)
	if got := relatedNames(domain, "resolutions"); len(got) != 1 || got[0] != "140.82.114.3" {
		t.Errorf("domain resolution names = %q, want the address", got)
	}
	ip := decodeTestInvestigation(t, ioc.IOC{Type: ioc.IPv4, Value: "140.82.114.3"}, "ip_address", "resolutions", testResolution)
	if got := relatedNames(ip, "resolutions"); len(got) != 1 || got[0] != "github.com" {
		t.Errorf("IP resolution names = %q, want the host name", got)
	}
}

func TestRelatedFileNameFromNames(t *testing.T) {
	file := `{"type":"file","id":"596a9cb7c0c465730b79e8881cf6d4a6c5ba0b0f0f7a9a6a1b0e2b5a1d8a8c1f",
		"attributes":{"names":["dropper.exe","x.bin"],"last_analysis_stats":{"malicious":5,"undetected":20}}}`
	r := decodeTestInvestigation(t, ioc.IOC{Type: ioc.Domain, Value: "github.com"}, "domain", "communicating_files", file)
	if got := relatedNames(r, "communicating_files"); len(got) != 1 || got[0] != "dropper.exe" {
		t.Errorf("file names = %q, want the first of names when meaningful_name is missing", got)
	}
}

func TestRelatedURLName(t *testing.T) {
	const id = "3a9f0dd1d2c0a9dc1b0d8e4e2d2f6a4f2b0a7e6b1d5c9e8f7a6b5c4d3e2f1a0b"
	cases := []struct {
		name string
		item string
		want string
	}{
		{"url attribute", `{"type":"url","id":"` + id + `","attributes":{"url":"http://a.example/x",
			"last_final_url":"http://b.example/y"},"context_attributes":{"url":"http://c.example/z"}}`, "http://a.example/x"},
		{"last final url", `{"type":"url","id":"` + id + `","attributes":{"last_final_url":"http://b.example/y"},
			"context_attributes":{"url":"http://c.example/z"}}`, "http://b.example/y"},
		{"context attributes", `{"type":"url","id":"` + id + `","context_attributes":{"url":"http://c.example/z"}}`,
			"http://c.example/z"},
		{"context url not a string", `{"type":"url","id":"` + id + `","context_attributes":{"url":7}}`, ""},
		{"context attributes not an object", `{"type":"url","id":"` + id + `","context_attributes":"x"}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := decodeTestInvestigation(t, ioc.IOC{Type: ioc.SHA256, Value: id}, "file", "contacted_urls", c.item)
			got := relatedNames(r, "contacted_urls")
			if len(got) != 1 {
				t.Fatalf("contacted_urls has %d items, want 1", len(got))
			}
			if got[0] != c.want {
				t.Errorf("url name = %q, want %q", got[0], c.want)
			}
		})
	}
}
