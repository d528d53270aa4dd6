package vt

import (
	"errors"
	"testing"
)

// Counts that no analysis can produce make the whole response invalid, in
// both decoders, so the lookup fails and nothing is cached.
func TestImpossibleStatsRejected(t *testing.T) {
	bodies := map[string]string{
		"negative":      `{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":{"malicious":-5,"undetected":60}}}}`,
		"huge":          `{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":{"suspicious":99999999999}}}}`,
		"negative_text": `{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":{"harmless":"-1"}}}}`,
		"huge_float":    `{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":{"harmless":1e300}}}}`,
	}
	sel := &Selection{Members: map[string]*Selection{"last_analysis_stats": nil}}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeObject([]byte(body)); !errors.Is(err, ErrDecode) {
				t.Errorf("DecodeObject error = %v, want ErrDecode", err)
			}
			if _, ok := DecodeSelected([]byte(body), sel); ok {
				t.Error("DecodeSelected accepted the body")
			}
		})
	}
}

// Ordinary counts, a missing stats object and non-numeric values (dropped
// as 0, like any field of an unexpected type) still decode.
func TestPlausibleStatsAccepted(t *testing.T) {
	bodies := map[string]string{
		"ordinary":    `{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":{"malicious":40,"undetected":30,"harmless":0}}}}`,
		"no_stats":    `{"data":{"id":"x","type":"file","attributes":{}}}`,
		"non_numeric": `{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":{"malicious":"n/a","undetected":null}}}}`,
	}
	sel := &Selection{Members: map[string]*Selection{"last_analysis_stats": nil}}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeObject([]byte(body)); err != nil {
				t.Errorf("DecodeObject error = %v, want nil", err)
			}
			if _, ok := DecodeSelected([]byte(body), sel); !ok {
				t.Error("DecodeSelected rejected the body")
			}
		})
	}
}
