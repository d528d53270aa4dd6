package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// consoleWriter writes one line per IOC, streamed, and under flagged or
// locally annotated IOCs an indented block of details:
//
//	MALICIOUS   sha256  44d8…  62/70  eicar
//	    threat label   virus.eicar/test
//
// Result lines never start with a space and detail lines always do, so
// `grep -v '^ '` keeps one line per IOC. The fields of a result line are
// verdict, type, IOC, detections/engines and a status text. A valid IOC
// holds no space, so awk's $3 is the IOC; only the status text runs on.
type consoleWriter struct {
	w   io.Writer
	opt Options
}

func newConsoleWriter(w io.Writer, opt Options) *consoleWriter {
	return &consoleWriter{w: w, opt: opt}
}

// consoleLabelWidth and consoleTypeWidth fit the longest verdict label,
// "SUSPICIOUS", and the longest type, "sha256", so IOCs line up.
const (
	consoleLabelWidth = 10
	consoleTypeWidth  = 6
)

func (c *consoleWriter) Write(r enrich.Result) error {
	var b strings.Builder
	label := verdictLabel(r)
	pad := strings.Repeat(" ", max(consoleLabelWidth-len(label), 0))
	b.WriteString(paint(label, r, c.opt.Color) + pad + "  ")
	b.WriteString(fmt.Sprintf("%-*s", consoleTypeWidth, typeLabel(r)))
	for _, f := range []string{displayIOC(r, c.opt), enginesLabel(r), statusText(r)} {
		if f == "" {
			continue
		}
		b.WriteString("  ")
		b.WriteString(f)
	}
	b.WriteByte('\n')

	if wantsDetails(r, c.opt) {
		writeFields(&b, details(r, c.opt), "    ")
	}
	if _, err := io.WriteString(c.w, b.String()); err != nil {
		return fmt.Errorf("write console output: %w", err)
	}
	return flush(c.w)
}

// Close writes nothing: the caller prints `--summary` on stderr.
func (c *consoleWriter) Close(Totals) error { return flush(c.w) }

// writeFields writes one "label  value" line per field, labels aligned.
func writeFields(b *strings.Builder, fields []field, indent string) {
	width := 0
	for _, f := range fields {
		width = max(width, len(f.Label))
	}
	for _, f := range fields {
		fmt.Fprintf(b, "%s%-*s  %s\n", indent, width, f.Label, f.Value)
	}
}

// ANSI SGR sequences for verdict colours, written only when Options.Color is
// set. paint only receives labels this package makes, never hostile text.
const (
	sgrReset  = "\x1b[0m"
	sgrRed    = "\x1b[1;31m"
	sgrYellow = "\x1b[1;33m"
	sgrGreen  = "\x1b[32m"
	sgrDim    = "\x1b[2m"
)

// paint colours s by the verdict of r when color is set.
func paint(s string, r enrich.Result, color bool) string {
	if !color {
		return s
	}
	var code string
	switch {
	case r.Status == enrich.StatusInvalid:
		code = sgrDim
	case r.Verdict == verdict.Malicious:
		code = sgrRed
	case r.Verdict == verdict.Suspicious:
		code = sgrYellow
	case r.Verdict == verdict.Clean:
		code = sgrGreen
	default:
		code = sgrDim
	}
	return code + s + sgrReset
}
