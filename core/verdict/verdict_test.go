package verdict

import (
	"encoding/json"
	"testing"
)

func TestOf(t *testing.T) {
	cases := []struct {
		name  string
		stats Stats
		want  Verdict
	}{
		{"three malicious", Stats{Malicious: 3, Undetected: 60}, Malicious},
		{"malicious with few engines", Stats{Malicious: 3}, Malicious},
		{"one malicious", Stats{Malicious: 1, Undetected: 60}, Suspicious},
		{"two malicious", Stats{Malicious: 2, Undetected: 60}, Suspicious},
		{"one suspicious", Stats{Suspicious: 1, Harmless: 60}, Suspicious},
		{"clean", Stats{Harmless: 10}, Clean},
		{"nine engines", Stats{Harmless: 5, Undetected: 4}, Unknown},
		{"timeouts do not count", Stats{Harmless: 5, Timeout: 50, Failure: 3, TypeUnsupported: 9}, Unknown},
		{"empty", Stats{}, Unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Of(c.stats, DefaultThresholds); got != c.want {
				t.Errorf("Of(%+v) = %v, want %v", c.stats, got, c.want)
			}
		})
	}
}

func TestOfCustomThresholds(t *testing.T) {
	th := Thresholds{Malicious: 5, Suspicious: 2, MinEngines: 1}
	if got := Of(Stats{Malicious: 4, Harmless: 1}, th); got != Suspicious {
		t.Errorf("4 detections with threshold 5 = %v, want SUSPICIOUS", got)
	}
	if got := Of(Stats{Malicious: 1, Harmless: 1}, th); got != Clean {
		t.Errorf("1 detection with suspicious threshold 2 = %v, want CLEAN", got)
	}
}

func TestVerdictJSONRoundTrip(t *testing.T) {
	for _, v := range []Verdict{Unknown, Clean, Suspicious, Malicious} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got Verdict
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("round trip of %v gave %v (json %s)", v, got, b)
		}
	}
}

func TestParse(t *testing.T) {
	if v, ok := Parse("suspicious"); !ok || v != Suspicious {
		t.Errorf("Parse(suspicious) = %v, %v", v, ok)
	}
	if _, ok := Parse("bad"); ok {
		t.Error("Parse(bad) reported ok")
	}
}

func TestStatsDecodeVTNames(t *testing.T) {
	var s Stats
	in := `{"malicious":2,"suspicious":1,"undetected":3,"harmless":4,"timeout":5,"type-unsupported":6,"confirmed-timeout":7,"failure":8}`
	if err := json.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	want := Stats{Malicious: 2, Suspicious: 1, Undetected: 3, Harmless: 4, Timeout: 5, TypeUnsupported: 6, ConfirmedTimeout: 7, Failure: 8}
	if s != want {
		t.Errorf("decoded %+v, want %+v", s, want)
	}
	if s.Engines() != 10 {
		t.Errorf("Engines() = %d, want 10", s.Engines())
	}
}
