package vt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeObjectKeepsRawData(t *testing.T) {
	data := `{"type":"ip_address","id":"8.8.8.8","attributes":{"reputation":12,"size":9007199254740993},"links":{"self":"x"}}`
	body := "{\"meta\": {\"a\": [1, {\"data\": 2}]},\n \"data\" :\t" + data + " }\n"
	o, err := DecodeObject([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if string(o.Raw) != data {
		t.Errorf("Raw = %s, want %s", o.Raw, data)
	}
	if o.Type != "ip_address" || o.ID != "8.8.8.8" || o.Links["self"] != "x" {
		t.Errorf("object = %+v", o)
	}
	if got := fmt.Sprint(o.Attributes["size"]); got != "9007199254740993" {
		t.Errorf("size = %s, want the exact integer", got)
	}
}

func TestDecodeObjectLastDataWins(t *testing.T) {
	o, err := DecodeObject([]byte(`{"data":{"id":"first"},"data":{"id":"second"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "second" || string(o.Raw) != `{"id":"second"}` {
		t.Errorf("object = %q raw %s, want the last data member", o.ID, o.Raw)
	}
}

func TestDecodeObjectRejectsBadShapes(t *testing.T) {
	for _, body := range []string{
		``, `null`, `[]`, `{}`, `{"data":null}`, `{"data":[1]}`, `{"data":"x"}`,
		`{"data":{"id":"a"}} trailing`, `{"data":{"id":"a"}`, `{"data":{"id":}}`, `{"data":{"id":"a"}}{}`,
	} {
		if _, err := DecodeObject([]byte(body)); !errors.Is(err, ErrDecode) {
			t.Errorf("DecodeObject(%q) error = %v, want ErrDecode", body, err)
		}
	}
}

// benchObject returns a file object of about 6 KB with 70 engine results,
// the shape a cached triage lookup decodes every time.
func benchObject() []byte {
	var results []string
	for i := range 70 {
		results = append(results, fmt.Sprintf(`"Engine%d":{"category":"undetected","engine_name":"Engine%d","engine_version":"1.%d","result":null,"method":"blacklist","engine_update":"20240101"}`, i, i, i))
	}
	return []byte(`{"data":{"type":"file","id":"` + strings.Repeat("a", 64) + `","links":{"self":"https://www.virustotal.com/api/v3/files/x"},` +
		`"attributes":{"reputation":-3,"tags":["peexe","signed"],"last_analysis_stats":{"malicious":5,"suspicious":0,"undetected":60,"harmless":0},` +
		`"last_analysis_results":{` + strings.Join(results, ",") + `}}}}`)
}

// BenchmarkDecodeObject decodes benchObject whole, as investigate does.
func BenchmarkDecodeObject(b *testing.B) {
	body := benchObject()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeObject(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSelected decodes the attributes a triage result reads
// from benchObject, the engine results of two engines among them.
func BenchmarkDecodeSelected(b *testing.B) {
	body := benchObject()
	sel := &Selection{Members: map[string]*Selection{
		"reputation": nil, "tags": nil, "last_analysis_stats": nil,
		"last_analysis_results": {
			Others: &Selection{Members: map[string]*Selection{"category": nil, "result": nil}},
			Keep: func(v any) bool {
				m, _ := v.(map[string]any)
				return m["category"] == "malicious"
			},
		},
	}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := DecodeSelected(body, sel); !ok {
			b.Fatal("DecodeSelected gave up")
		}
	}
}
