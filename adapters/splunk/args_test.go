package splunk

import (
	"strings"
	"testing"
)

// TestParseArgsRejectsUnsafePrefix checks the prefixes that would make the
// command overwrite an event's own fields (an empty prefix turns vt_source
// into Splunk's default field source) or hide the added ones (Splunk treats
// fields starting with an underscore as internal).
func TestParseArgsRejectsUnsafePrefix(t *testing.T) {
	// "source" + "type" is Splunk's default field sourcetype.
	for _, p := range []string{"", "_x", "_", "1x", "vt-", "vt ", "source"} {
		_, err := ParseArgs([]string{"field=src_ip", "prefix=" + p})
		if err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: err = %v, want an invalid-prefix error", p, err)
		}
	}
	for _, p := range []string{"vt_", "ti_", "x", "VT2_"} {
		a, err := ParseArgs([]string{"field=src_ip", "prefix=" + p})
		if err != nil || a.Prefix != p {
			t.Errorf("prefix %q: Prefix %q, err %v; want it accepted", p, a.Prefix, err)
		}
	}
}
