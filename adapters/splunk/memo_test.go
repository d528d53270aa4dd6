package splunk

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/enrich"
)

// TestMemoSize guards the memory the command keeps per distinct value: a
// search holds the rendered fields of every value it has seen, so 10,000
// values must stay within a few megabytes. The packed cells allocate 7.6 MB
// for 10,000 values and keep 5.4 MB live. The earlier layout with one slice
// per field kept 13.9 MB live.
func TestMemoSize(t *testing.T) {
	f := &fakeEngine{}
	const n = 10_000
	results := make([]enrich.Result, n)
	for i := range results {
		// Every tenth value is malicious, so tags and a label are kept too.
		last := 1 + i%250
		if i%10 == 0 {
			last = 66
		}
		results[i] = f.result(context.Background(), fmt.Sprintf("10.%d.%d.%d", i/250/250, i/250%250, last), enrich.Request{})
	}
	// Bytes allocated bound the bytes retained from above and, unlike the
	// live heap, do not depend on when the collector ran.
	memo := make([]*cells, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, r := range results {
		memo[i] = renderCells(r)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(memo)
	got := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("memo of %d values: %.1f MB", n, float64(got)/1e6)
	if got > 10e6 {
		t.Errorf("memo of %d values takes %.1f MB, want at most 10 MB: keep the rendered cells packed", n, float64(got)/1e6)
	}
}

// TestCellsAccessors checks that the packed cells give back each field as
// rendered, CSV-encoded where needed, and the tags' __mv_ cell.
func TestCellsAccessors(t *testing.T) {
	r := (&fakeEngine{}).result(context.Background(), "10.0.0.66", enrich.Request{})
	r.Error = "a, \"quoted\" error"
	c := renderCells(r)
	if got := c.plainField(0); got != "MALICIOUS" {
		t.Errorf("verdict = %q, want MALICIOUS", got)
	}
	if got := c.plainField(11); got != r.Error {
		t.Errorf("error = %q, want %q", got, r.Error)
	}
	if got, want := string(c.csvField(11)), `"a, ""quoted"" error"`; got != want {
		t.Errorf("CSV error = %s, want %s", got, want)
	}
	if got, want := c.plainField(tagsColumn), "botnet\nc2 $server"; got != want {
		t.Errorf("tags = %q, want %q", got, want)
	}
	if got, want := string(c.tagsMV()), "$botnet$;$c2 $$server$"; got != want {
		t.Errorf("tags __mv_ = %s, want %s", got, want)
	}
	if got := c.plainField(fieldCount - 1); got != "1700000000" {
		t.Errorf("fetched_at = %q, want 1700000000", got)
	}
	if len(blankCells.tagsMV()) != 0 || blankCells.plainField(0) != "" || string(blankCells.segment) != strings.Repeat(",", 2*fieldCount) {
		t.Errorf("blank cells = %q, want only separators", blankCells.segment)
	}
}
