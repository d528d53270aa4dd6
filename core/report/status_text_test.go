package report

import (
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/enrich"
)

func TestStatusTextNoRepeat(t *testing.T) {
	cases := []struct {
		r    enrich.Result
		want string
	}{
		{enrich.Result{Status: enrich.StatusQuota, Error: "not looked up: quota exhausted"}, "not looked up: quota exhausted"},
		{enrich.Result{Status: enrich.StatusQuota, Error: enrich.RateLimitedError}, enrich.RateLimitedError},
		{enrich.Result{Status: enrich.StatusOfflineMiss, Error: "offline: not in cache"}, "offline, not cached"},
		{enrich.Result{Status: enrich.StatusInvalid, Error: "leading zeros are ambiguous"}, "invalid: leading zeros are ambiguous"},
		{enrich.Result{Status: enrich.StatusFailed, Error: "virustotal /files/x: status 500"}, "lookup failed: virustotal /files/x: status 500"},
	}
	for _, c := range cases {
		t.Run(string(c.r.Status), func(t *testing.T) {
			got := statusText(c.r)
			if got != c.want {
				t.Errorf("statusText = %q, want %q", got, c.want)
			}
			if strings.Count(got, "not looked up") > 1 || strings.Count(got, "offline") > 1 {
				t.Errorf("statusText repeats itself: %q", got)
			}
		})
	}
}

func TestDetectionsNoRepeatedCategory(t *testing.T) {
	r := enrich.Result{Status: enrich.StatusOK, Summary: enrich.Summary{Detections: []enrich.Detection{
		{Engine: "Mimosa", Category: "suspicious", Result: "suspicious"},
		{Engine: "Castor", Category: "suspicious", Result: "Suspicious.Office.AutoOpen"},
	}}}
	got := detectionsSection(r, Options{})[0].Value
	if strings.Contains(got, "suspicious (suspicious)") {
		t.Errorf("detections %q repeat the category", got)
	}
	if !strings.Contains(got, "Suspicious.Office.AutoOpen (suspicious)") {
		t.Errorf("detections %q lost the category of a named label", got)
	}
}
