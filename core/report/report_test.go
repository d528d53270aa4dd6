package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

func TestTotalsPartitionResults(t *testing.T) {
	got := Count(sampleResults())

	want := Totals{Total: 9, Malicious: 1, Suspicious: 1, Clean: 2, Unknown: 4, Invalid: 1, NotLookedUp: 1, Failed: 1}
	got.Statuses = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Count = %+v, want %+v", got, want)
	}
	if sum := got.Malicious + got.Suspicious + got.Clean + got.Unknown + got.Invalid; sum != got.Total {
		t.Errorf("verdict counts add up to %d, want Total %d", sum, got.Total)
	}
}

func TestTotalsCountStatuses(t *testing.T) {
	got := Count(sampleResults()).Statuses
	want := map[enrich.Status]int{
		enrich.StatusOK: 4, enrich.StatusNotFound: 1, enrich.StatusNonRoutable: 1,
		enrich.StatusQuota: 1, enrich.StatusFailed: 1, enrich.StatusInvalid: 1,
	}
	if len(got) != len(want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("statuses[%s] = %d, want %d", s, got[s], n)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	cases := []struct {
		name string
		in   Totals
		want string
	}{
		{"example", Totals{Total: 12, Malicious: 2, Suspicious: 1, Clean: 5, Unknown: 3, Invalid: 1},
			"12 IOCs: 2 malicious, 1 suspicious, 5 clean, 3 unknown, 1 invalid"},
		{"one ioc", Totals{Total: 1, Clean: 1}, "1 IOC: 0 malicious, 0 suspicious, 1 clean, 0 unknown, 0 invalid"},
		{"failures", Totals{Total: 4, Unknown: 4, NotLookedUp: 3, Failed: 1},
			"4 IOCs: 0 malicious, 0 suspicious, 0 clean, 4 unknown (3 not looked up, 1 failed), 0 invalid"},
		{"empty", Totals{}, "0 IOCs: 0 malicious, 0 suspicious, 0 clean, 0 unknown, 0 invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SummaryLine(c.in); got != c.want {
				t.Errorf("SummaryLine = %q, want %q", got, c.want)
			}
		})
	}
}

func TestAlertFilter(t *testing.T) {
	cases := []struct {
		level verdict.Verdict
		want  []string // inputs kept, in order
	}{
		{verdict.Malicious, []string{"275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F"}},
		{verdict.Suspicious, []string{"275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
			"hxxp://login-update[.]example[.]net/verify?acct=1&next=%2Fhome"}},
	}
	for _, c := range cases {
		t.Run(c.level.String(), func(t *testing.T) {
			keep := AlertFilter(c.level)
			var got []string
			for _, r := range sampleResults() {
				if keep(r) {
					got = append(got, r.Input)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("kept %q, want %q", got, c.want)
			}
		})
	}
	for _, level := range []verdict.Verdict{verdict.Clean, verdict.Unknown} {
		keep := AlertFilter(level)
		for _, r := range sampleResults() {
			if !keep(r) {
				t.Errorf("--alert %s dropped %q, want everything kept", level, r.Input)
			}
		}
	}
}

func TestFilterKeepsTotals(t *testing.T) {
	var buf bytes.Buffer
	inner, err := NewWriter(FormatJSON, &buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := Filter(inner, AlertFilter(verdict.Malicious))
	results := sampleResults()
	for _, r := range results {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(Count(results)); err != nil {
		t.Fatal(err)
	}

	var doc struct {
		Results []enrich.Result
		Summary Totals
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("json output is invalid: %v", err)
	}
	if len(doc.Results) != 1 || doc.Results[0].Verdict != verdict.Malicious {
		t.Errorf("filtered output has %d results, want the 1 malicious one", len(doc.Results))
	}
	if doc.Summary.Total != len(results) {
		t.Errorf("summary total = %d, want every result counted (%d)", doc.Summary.Total, len(results))
	}
}

func TestNewWriterUnknownFormat(t *testing.T) {
	_, err := NewWriter("yaml", &bytes.Buffer{}, Options{})
	if err == nil {
		t.Fatal("NewWriter(yaml) returned no error")
	}
	for _, f := range Formats {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name format %s", err, f)
		}
	}
}

func TestNewWriterFormatCaseInsensitive(t *testing.T) {
	if _, err := NewWriter("JSON", &bytes.Buffer{}, Options{}); err != nil {
		t.Errorf("NewWriter(JSON): %v", err)
	}
}

func TestJSONEmptyRun(t *testing.T) {
	out := render(t, FormatJSON, Options{}, nil)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("json output is invalid: %v", err)
	}
	if string(doc["results"]) != "[]" {
		t.Errorf("results = %s, want []", doc["results"])
	}
}

func TestStreamingFormatsWriteEachResult(t *testing.T) {
	for _, format := range []string{FormatNDJSON, FormatCSV, FormatConsole} {
		t.Run(format, func(t *testing.T) {
			var sink bytes.Buffer
			// A bufio.Writer holds 4 KiB back unless the writer flushes.
			buffered := bufio.NewWriter(&sink)
			w, err := NewWriter(format, buffered, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range sampleResults()[:3] {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(sink.String(), r.Input) && !strings.Contains(sink.String(), r.Normalized) {
					t.Fatalf("result %d not in the output right after Write", i)
				}
			}
		})
	}
}

func TestRichFitsWidth(t *testing.T) {
	for _, width := range []int{80, 100, 140} {
		out := render(t, FormatRich, Options{Width: width, Now: func() time.Time { return testNow }}, sampleResults())
		for i, line := range strings.Split(string(out), "\n") {
			// Detail headers keep IOCs unbroken on purpose.
			if w := twwidth.Width(line); w > width && !strings.Contains(line, "  (sha256)") && !strings.Contains(line, "  (url)") {
				t.Errorf("width %d: line %d is %d columns: %q", width, i+1, w, line)
			}
		}
	}
}

func TestRichNarrowTerminal(t *testing.T) {
	out := string(render(t, FormatRich, Options{Width: 20}, sampleResults()))
	// Join the IOC column of every table line, so values broken across
	// lines read whole again.
	var joined strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if cells := strings.Split(line, "│"); len(cells) == 7 {
			joined.WriteString(strings.TrimSpace(cells[3]))
		}
	}
	for _, r := range sampleResults() {
		value := r.Normalized
		if value == "" {
			value = r.Input
		}
		if !strings.Contains(joined.String(), value) {
			t.Errorf("rich output at width 20 lost %s", value)
		}
	}
}

func TestRichKeepsSHA256OnOneLine(t *testing.T) {
	hash := sampleResults()[0].Normalized
	// Width 0 is output that is not a terminal, which gets DefaultWidth.
	for _, width := range []int{0, 120, 160} {
		out := string(render(t, FormatRich, Options{Width: width, Now: func() time.Time { return testNow }}, sampleResults()))
		found := false
		for _, line := range strings.Split(out, "\n") {
			if cells := strings.Split(line, "│"); len(cells) == 7 && strings.TrimSpace(cells[3]) == hash {
				found = true
			}
		}
		if !found {
			t.Errorf("width %d: no table row holds %s whole:\n%s", width, hash, out)
		}
	}
}

func TestRichNonTerminalDefaultWidth(t *testing.T) {
	out := string(render(t, FormatRich, Options{Now: func() time.Time { return testNow }}, sampleResults()))
	widest := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "┌") {
			widest = twwidth.Width(line)
		}
	}
	if widest <= 100 || widest > DefaultWidth {
		t.Errorf("table at width 0 is %d columns, want more than 100 and at most %d", widest, DefaultWidth)
	}
}

func TestRichOmitsSummaryLine(t *testing.T) {
	// --summary prints the summary on stderr, so rich output printing it
	// too would show it twice on a terminal.
	results := sampleResults()
	for _, width := range []int{0, 80} {
		out := string(render(t, FormatRich, Options{Width: width, Now: func() time.Time { return testNow }}, results))
		if strings.Contains(out, "IOCs:") {
			t.Errorf("width %d: rich output contains the summary line:\n%s", width, out)
		}
	}
}

func TestIOCCount(t *testing.T) {
	cases := map[int]string{0: "0 IOCs", 1: "1 IOC", 2: "2 IOCs", 12: "12 IOCs"}
	for n, want := range cases {
		if got := IOCCount(n); got != want {
			t.Errorf("IOCCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRichShowsFullIOCInDetails(t *testing.T) {
	out := string(render(t, FormatRich, Options{Width: 80}, sampleResults()))
	hash := sampleResults()[0].Normalized
	if !strings.Contains(out, hash) {
		t.Errorf("rich output has no unbroken copy of %s", hash)
	}
}

// TestSectionAddedOnce checks the extension point that investigate output
// relies on: one sectionFunc shows up in both console and rich output.
func TestSectionAddedOnce(t *testing.T) {
	saved := sections
	t.Cleanup(func() { sections = saved })
	sections = append(sections[:len(sections):len(sections)], func(r enrich.Result, _ Options) []field {
		return []field{{"technique", "T1059 Command and Scripting Interpreter"}}
	})

	for _, format := range []string{FormatConsole, FormatRich} {
		out := string(render(t, format, Options{}, sampleResults()[:1]))
		if !strings.Contains(out, "T1059 Command and Scripting Interpreter") {
			t.Errorf("%s output lacks the added section:\n%s", format, out)
		}
	}
}

func TestDefangLeavesRealValuesInResult(t *testing.T) {
	results := sampleResults()
	render(t, FormatJSON, Options{Defang: true}, results)
	render(t, FormatCSV, Options{Defang: true}, results)
	if results[1].Normalized != "http://login-update.example.net/verify?acct=1&next=%2Fhome" {
		t.Errorf("writing defanged output changed the caller's result to %q", results[1].Normalized)
	}
}

func TestBanner(t *testing.T) {
	var buf bytes.Buffer
	if err := Banner(&buf, "v1.2.3\x1b]0;owned\x07"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "vex v1.2.3") {
		t.Errorf("banner lacks the version:\n%s", out)
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("banner passed an escape sequence through: %q", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 60 {
			t.Errorf("banner line is %d columns, want a small banner: %q", len(line), line)
		}
	}
}
