// Package report writes enrichment results as JSON, NDJSON, CSV, plain console
// text or a rich table, and draws the banner and progress bar on stderr.
//
// Every writer treats strings from VirusTotal and from the knowledge base as
// hostile: human formats pass them through Sanitize, CSV also guards against
// spreadsheet formulas, and JSON escapes every control and invisible
// formatting character while keeping the real value.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// Output format names accepted by NewWriter.
const (
	FormatJSON    = "json"
	FormatNDJSON  = "ndjson"
	FormatCSV     = "csv"
	FormatConsole = "console"
	FormatRich    = "rich"
)

// Formats lists the output format names in the order help text shows them.
var Formats = []string{FormatConsole, FormatRich, FormatJSON, FormatNDJSON, FormatCSV}

// DefaultWidth is the width in columns that the rich table fits when
// Options.Width is 0, which callers pass when stdout is not a terminal. A
// file or pipe has no width to fit, and 160 columns keep a sha256 whole in
// the IOC column with room left for INFO.
const DefaultWidth = 160

// FallbackTerminalWidth is a width in columns for callers to pass as
// Options.Width when stdout is a terminal whose size cannot be read. It
// fits most terminals, where DefaultWidth would wrap every table line.
const FallbackTerminalWidth = 100

// Options are the settings of a writer. The zero value writes real values
// without colour at DefaultWidth, for output that is not a terminal.
type Options struct {
	// Defang replaces IOC values and URLs with their defanged form in every
	// format, so the output can be pasted into tickets and mail safely. It
	// uses ioc.Defang, which leaves a string that is not a valid IOC as is.
	Defang bool
	// Color adds ANSI colours by verdict to the console and rich formats.
	// Callers set it only when stdout is a terminal and NO_COLOR is unset.
	Color bool
	// Width is the terminal width in columns that the rich table fits.
	// Callers leave it 0 when stdout is not a terminal, and the table then
	// fits DefaultWidth.
	Width int
	// Timeline requests the timeline section in human formats, for results
	// that carry one.
	Timeline bool
	// Now returns the current time, for ages such as "3 days ago". Nil
	// means time.Now.
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o Options) width() int {
	if o.Width <= 0 {
		return DefaultWidth
	}
	return o.Width
}

// Writer receives results one at a time, in the order they should appear.
// Streaming formats (ndjson, csv, console) write each result as it arrives;
// json and rich buffer them and write at Close. A Writer is not safe for
// concurrent use.
type Writer interface {
	// Write renders one result, or buffers it for Close.
	Write(r enrich.Result) error
	// Close writes what is buffered, plus the summary where the format has
	// a place for it. sum counts every result of the run, including those a
	// filter kept out of the output. Close does not close the underlying
	// io.Writer.
	Close(sum Totals) error
}

// NewWriter returns a writer of format to w. It writes nothing to w, and
// returns an error naming the valid formats only when format is unknown.
func NewWriter(format string, w io.Writer, opt Options) (Writer, error) {
	switch strings.ToLower(format) {
	case FormatJSON:
		return newJSONWriter(w, opt), nil
	case FormatNDJSON:
		return newNDJSONWriter(w, opt), nil
	case FormatCSV:
		return newCSVWriter(w, opt), nil
	case FormatConsole:
		return newConsoleWriter(w, opt), nil
	case FormatRich:
		return newRichWriter(w, opt), nil
	}
	return nil, fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// AlertFilter returns a predicate that keeps results whose verdict is at or
// above level in severity, for `--alert LEVEL`. CLEAN and UNKNOWN share
// the lowest severity (verdict.Severity), so `--alert clean` and `--alert
// unknown` keep everything, and `--alert suspicious` drops invalid inputs too.
func AlertFilter(level verdict.Verdict) func(enrich.Result) bool {
	min := level.Severity()
	return func(r enrich.Result) bool { return r.Verdict.Severity() >= min }
}

// Filter returns a Writer that passes to w only the results keep accepts.
// Close still hands w the totals of the whole run, so the summary counts
// everything.
func Filter(w Writer, keep func(enrich.Result) bool) Writer {
	return &filterWriter{next: w, keep: keep}
}

type filterWriter struct {
	next Writer
	keep func(enrich.Result) bool
}

func (f *filterWriter) Write(r enrich.Result) error {
	if !f.keep(r) {
		return nil
	}
	return f.next.Write(r)
}

func (f *filterWriter) Close(sum Totals) error { return f.next.Close(sum) }

// Totals are the counts of a run's results. The verdict counts (Malicious,
// Suspicious, Clean, Unknown, Invalid) partition Total: an invalid input
// counts as Invalid, not Unknown. NotLookedUp and Failed are subsets of
// Unknown that count why no verdict could be reached.
type Totals struct {
	Total      int `json:"total"`
	Malicious  int `json:"malicious"`
	Suspicious int `json:"suspicious"`
	Clean      int `json:"clean"`
	Unknown    int `json:"unknown"`
	Invalid    int `json:"invalid"`
	// NotLookedUp counts IOCs skipped because the quota ran out, the key was
	// rejected, the run was cancelled or offline mode had no cached entry.
	NotLookedUp int `json:"not_looked_up"`
	// Failed counts lookups that were attempted and failed.
	Failed int `json:"failed"`
	// Statuses counts every result by its status.
	Statuses map[enrich.Status]int `json:"statuses"`
}

// Add counts one result.
func (t *Totals) Add(r enrich.Result) {
	if t.Statuses == nil {
		t.Statuses = make(map[enrich.Status]int)
	}
	t.Total++
	t.Statuses[r.Status]++

	if r.Status == enrich.StatusInvalid {
		t.Invalid++
		return
	}
	switch r.Verdict {
	case verdict.Malicious:
		t.Malicious++
	case verdict.Suspicious:
		t.Suspicious++
	case verdict.Clean:
		t.Clean++
	default:
		t.Unknown++
	}
	switch r.Status {
	case enrich.StatusQuota, enrich.StatusAuth, enrich.StatusCancelled, enrich.StatusOfflineMiss:
		t.NotLookedUp++
	case enrich.StatusFailed:
		t.Failed++
	}
}

// Count returns the totals of results.
func Count(results []enrich.Result) Totals {
	var t Totals
	for _, r := range results {
		t.Add(r)
	}
	return t
}

// SummaryLine returns the one-line text of `--summary`, for example
// "12 IOCs: 2 malicious, 1 suspicious, 5 clean, 3 unknown, 1 invalid; 0 not
// looked up". A ", N failed" clause follows only when some lookups failed.
func SummaryLine(t Totals) string {
	// IOCs not looked up or failed have no verdict and count as unknown.
	// The parenthesis gives how many, so no count appears twice.
	unknown := fmt.Sprintf("%d unknown", t.Unknown)
	var why []string
	if t.NotLookedUp > 0 {
		why = append(why, fmt.Sprintf("%d not looked up", t.NotLookedUp))
	}
	if t.Failed > 0 {
		why = append(why, fmt.Sprintf("%d failed", t.Failed))
	}
	if len(why) > 0 {
		unknown += " (" + strings.Join(why, ", ") + ")"
	}
	return fmt.Sprintf("%s: %d malicious, %d suspicious, %d clean, %s, %d invalid",
		IOCCount(t.Total), t.Malicious, t.Suspicious, t.Clean, unknown, t.Invalid)
}

// IOCCount returns n with the noun in the right number, "1 IOC" or
// "2 IOCs", for messages that count indicators.
func IOCCount(n int) string {
	if n == 1 {
		return "1 IOC"
	}
	return fmt.Sprintf("%d IOCs", n)
}
