package enrich

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

// objectBodies returns the {"data": {...}} bodies of every object the
// fixture index in dir serves, members of relationship lists included,
// keyed by request path.
func objectBodies(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	rows, err := vttest.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	for _, row := range rows {
		if row.Method != "GET" || row.Status != 200 {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(row.File)))
		if err != nil {
			t.Fatal(err)
		}
		body, err := vttest.ApplyEnvelope(raw, row.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s: %v", row.Path, err)
		}
		if strings.HasPrefix(strings.TrimSpace(string(env.Data)), "[") {
			var items []json.RawMessage
			if err := json.Unmarshal(env.Data, &items); err != nil {
				t.Fatalf("%s: %v", row.Path, err)
			}
			for i, item := range items {
				bodies[fmt.Sprintf("%s#%d", row.Path, i)] = envelope(item)
			}
			continue
		}
		bodies[row.Path] = body
	}
	return bodies
}

// decodeWhole is the decoding the fast path replaces: the whole object
// into generic maps.
func decodeWhole(v *VirusTotal, i ioc.IOC, body []byte) (Result, error) {
	var r Result
	obj, err := vt.DecodeObject(body)
	if err != nil {
		return r, err
	}
	v.fillObject(i, obj, &r)
	return r, nil
}

// checkSameResult fails the test when Decode and decodeWhole give
// different results or errors for body.
func checkSameResult(t *testing.T, name string, body []byte) {
	t.Helper()
	v := &VirusTotal{}
	i := ioc.IOC{Type: ioc.Domain, Value: "example.com"}
	want, wantErr := decodeWhole(v, i, body)
	var got Result
	gotErr := v.Decode(i, Record{Status: RecordOK, Data: body}, &got)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Errorf("%s: error %v, want %v", name, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Errorf("%s: fast decode differs\n got %s\nwant %s", name, gj, wj)
	}
}

func TestTriageDecodeMatchesWhole(t *testing.T) {
	sets := map[string]map[string][]byte{
		"fixtures": objectBodies(t, fixtures.Dir(t, "vt")),
		"demo":     objectBodies(t, filepath.Join(fixtures.RepoRoot(), "testdata", "demo")),
	}
	for set, bodies := range sets {
		if len(bodies) < 8 {
			t.Fatalf("%s: %d objects, want the full set", set, len(bodies))
		}
		for path, body := range bodies {
			// Without this check, a fast decoder that always gave up
			// would pass.
			if _, ok := vt.DecodeSelected(body, triageAttributes); !ok {
				t.Errorf("%s %s: DecodeSelected gave up on a valid object", set, path)
			}
			checkSameResult(t, set+" "+path, body)
		}
	}
}

// Shapes real payloads rarely have, where a decoder that reads only some
// fields could part from encoding/json.
func TestTriageDecodeEdgeShapes(t *testing.T) {
	cases := map[string]string{
		"escaped key":          `{"data":{"type":"file","attributes":{"\u0074ags":["a"],"reputation":-5}}}`,
		"key case differs":     `{"data":{"type":"file","attributes":{"Reputation":7,"TAGS":["x"]}}}`,
		"duplicate attributes": `{"data":{"attributes":{"reputation":1},"attributes":{"size":2}}}`,
		"duplicate stats":      `{"data":{"attributes":{"last_analysis_stats":{"malicious":5},"last_analysis_stats":{"harmless":3}}}}`,
		"duplicate engine": `{"data":{"attributes":{"last_analysis_results":{` +
			`"A":{"category":"malicious","result":"x"},"B":{"category":"suspicious"},"A":{"category":"undetected"}}}}}`,
		"engine not object":     `{"data":{"attributes":{"last_analysis_results":{"A":"malicious","B":null,"C":[1],"D":{"category":"malicious"}}}}}`,
		"escaped engine":        `{"data":{"attributes":{"last_analysis_results":{"\u0041v":{"category":"mal\u0069cious","result":"\ud800"}}}}}`,
		"invalid utf-8":         "{\"data\":{\"attributes\":{\"tags\":[\"a\xffb\"],\"title\":\"\xc3\x28\",\"last_analysis_results\":{\"\xfe\":{\"category\":\"malicious\"}}}}}",
		"numbers as strings":    `{"data":{"attributes":{"reputation":"12","size":"1e3","last_analysis_date":"1700000000","asn":15169.0}}}`,
		"large numbers":         `{"data":{"attributes":{"size":9007199254740993,"reputation":1e400,"times_submitted":-0.0}}}`,
		"stats not object":      `{"data":{"attributes":{"last_analysis_stats":[1,2],"pe_info":"x","signature_info":7}}}`,
		"nested selected":       `{"data":{"attributes":{"pe_info":{"timestamp":1,"sections":[{"a":1}]},"signature_info":{"signing date":"11:32 AM 7/4/2016","signers":"A; B"}}}}`,
		"whois text":            `{"data":{"type":"domain","attributes":{"whois":"Creation Date: 2020-01-02T03:04:05Z\nRegistry Expiry Date: 2030-01-02\n"}}}`,
		"names only":            `{"data":{"type":"file","attributes":{"names":[1,"first.exe","second.exe"]}}}`,
		"categories":            `{"data":{"attributes":{"categories":{"a":" news ","b":"news","c":3,"a":"blogs"}}}}`,
		"attributes not object": `{"data":{"type":"url","id":"x","attributes":[1]}}`,
		"type not string":       `{"data":{"type":5,"attributes":{}}}`,
		"empty attributes":      `{"data":{"attributes":{},"links":{"self":"x"}}}`,
		"meta around data":      "{\"meta\":{\"data\":{\"x\":1}},\n \"data\" : {\"type\":\"ip_address\"} , \"links\":[] }\n",
		"data last wins":        `{"data":{"type":"file"},"data":{"type":"url"}}`,
		"deep value":            `{"data":{"attributes":{"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `,"reputation":3}}}`,
		"whitespace everywhere": " \t\r\n{ \"data\" : { \"attributes\" : { \"tags\" : [ \"a\" , \"b\" ] } } } \n",
		// Bodies DecodeObject rejects: the error must be the same.
		"empty":              ``,
		"null":               `null`,
		"no data":            `{}`,
		"data null":          `{"data":null}`,
		"data list":          `{"data":[1]}`,
		"data string":        `{"data":"x"}`,
		"data after object":  `{"data":{"type":"file"},"data":null}`,
		"trailing text":      `{"data":{"id":"a"}} trailing`,
		"second object":      `{"data":{"id":"a"}}{}`,
		"unclosed":           `{"data":{"id":"a"}`,
		"missing value":      `{"data":{"id":}}`,
		"trailing comma":     `{"data":{"id":"a",}}`,
		"leading zero":       `{"data":{"attributes":{"x":01}}}`,
		"bad escape":         `{"data":{"attributes":{"x":"\q"}}}`,
		"control character":  "{\"data\":{\"attributes\":{\"x\":\"a\tb\"}}}",
		"bare word":          `{"data":{"attributes":{"x":nul}}}`,
		"bad number":         `{"data":{"attributes":{"reputation":-}}}`,
		"fraction no digits": `{"data":{"attributes":{"reputation":1.}}}`,
		"byte order mark":    "\xef\xbb\xbf{\"data\":{}}",
	}
	for name, body := range cases {
		checkSameResult(t, name, []byte(body))
	}
}

// FuzzTriageDecode checks that the fast decoder gives the result of the
// whole-object decoder for any body: the same result when both accept it,
// and never a result for a body DecodeObject rejects.
func FuzzTriageDecode(f *testing.F) {
	f.Add([]byte(`{"data":{"type":"file","attributes":{"reputation":-3,"tags":["a"],"last_analysis_results":{"E":{"category":"malicious","result":"r"}}}}}`))
	f.Add([]byte(`{"data":{"attributes":{"last_analysis_stats":{"malicious":"2"},"whois":"Created: 2001-02-03"}}}`))
	demo := filepath.Join(fixtures.RepoRoot(), "testdata", "demo")
	if rows, err := vttest.ReadIndex(demo); err == nil {
		for _, row := range rows {
			if raw, err := os.ReadFile(filepath.Join(demo, row.File)); err == nil {
				f.Add(raw)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, fast := vt.DecodeSelected(body, triageAttributes)
		_, err := vt.DecodeObject(body)
		if fast && err != nil {
			t.Fatalf("DecodeSelected accepted a body DecodeObject rejects (%v): %q", err, body)
		}
		checkSameResult(t, "fuzz input", body)
	})
}
