package report

import (
	"testing"

	"github.com/vex-ioc/vex/core/enrich"
)

// TestDefangInvalidInput checks that --defang also defangs an input that is
// no valid indicator but would become a link, and keeps an input typed
// defanged as it is.
func TestDefangInvalidInput(t *testing.T) {
	for in, want := range map[string]string{
		"http://evil.example.com:99999/x": "hxxp[://]evil[.]example[.]com:99999/x",
		"HTTPS://bad..example.com/":       "hxxpS[://]bad[.][.]example[.]com/",
		"www.bad..example.com":            "www[.]bad[.][.]example[.]com",
		"10.0.0.256":                      "10.0.0.256",
		"invoice.pdf":                     "invoice.pdf",
		"hxxp://evil[.]com:0/":            "hxxp://evil[.]com:0/",
		"not-an-ioc!":                     "not-an-ioc!",
	} {
		got := defangResult(enrich.Result{Input: in, Status: enrich.StatusInvalid}).Input
		if got != want {
			t.Errorf("defang of invalid %q = %q, want %q", in, got, want)
		}
	}
}
