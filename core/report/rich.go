package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/vex-ioc/vex/core/enrich"
)

// richWriter buffers results and at Close writes a table with one row per
// IOC and a details block per flagged or annotated IOC. It buffers because
// column widths depend on every row. It writes no summary line, because
// --summary prints one on stderr and a terminal would show both.
type richWriter struct {
	w       io.Writer
	opt     Options
	results []enrich.Result
}

func newRichWriter(w io.Writer, opt Options) *richWriter {
	return &richWriter{w: w, opt: opt}
}

func (rw *richWriter) Write(r enrich.Result) error {
	rw.results = append(rw.results, r)
	return nil
}

func (rw *richWriter) Close(Totals) error {
	var buf bytes.Buffer
	if len(rw.results) > 0 {
		if err := rw.renderTable(&buf); err != nil {
			return err
		}
	}
	for _, r := range rw.results {
		if wantsDetails(r, rw.opt) {
			buf.WriteByte('\n')
			rw.renderDetails(&buf, r)
		}
	}
	if _, err := rw.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write rich output: %w", err)
	}
	return flush(rw.w)
}

// Rich table columns. Every column but IOC and INFO has a short, bounded
// content, so those two share what the terminal width leaves.
var richHeader = []string{"VERDICT", "TYPE", "IOC", "ENGINES", "INFO"}

const (
	// richOverhead is the width the table frame takes: a border left,
	// right and between each of the 5 columns, and one space of padding on
	// each side of every cell.
	richOverhead = 6 + 2*5
	// minColumn keeps the IOC and INFO columns usable on narrow terminals;
	// below it the table grows wider than the terminal instead.
	minColumn = 12
	// sha256Width is the length of a sha256 in hex, the longest hash. The
	// IOC column gets this much before INFO gets its share, so hashes
	// stay whole and can be copied from the table.
	sha256Width = 64
)

func (rw *richWriter) renderTable(buf *bytes.Buffer) error {
	rows := make([][]string, len(rw.results))
	for i, r := range rw.results {
		rows[i] = []string{verdictLabel(r), typeLabel(r), displayIOC(r, rw.opt), enginesLabel(r), statusText(r)}
	}
	iocWidth, infoWidth := rw.columnWidths(rows)

	table := tablewriter.NewTable(buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)})),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	table.Header(richHeader)
	for i, row := range rows {
		// Cells are wrapped here, not by tablewriter, so hashes and URLs
		// break at the column edge and prose breaks between words.
		row[0] = paint(row[0], rw.results[i], rw.opt.Color)
		row[2] = strings.Join(breakText(row[2], iocWidth), "\n")
		row[4] = strings.Join(wrapText(row[4], infoWidth), "\n")
		if err := table.Append(row); err != nil {
			return fmt.Errorf("build rich table: %w", err)
		}
	}
	if err := table.Render(); err != nil {
		return fmt.Errorf("render rich table: %w", err)
	}
	return nil
}

// columnWidths splits the width left by the fixed columns between IOC and
// INFO. INFO keeps up to a third of it, but gives up columns down to
// minColumn when that lets a sha256 fit in IOC. IOC takes the rest, and
// neither drops below minColumn.
func (rw *richWriter) columnWidths(rows [][]string) (iocWidth, infoWidth int) {
	fixed := 0
	for _, col := range []int{0, 1, 3} {
		w := twwidth.Width(richHeader[col])
		for _, row := range rows {
			w = max(w, twwidth.Width(row[col]))
		}
		fixed += w
	}
	longestIOC, longestInfo := 0, twwidth.Width(richHeader[4])
	for _, row := range rows {
		longestIOC = max(longestIOC, twwidth.Width(row[2]))
		longestInfo = max(longestInfo, twwidth.Width(row[4]))
	}

	free := rw.opt.width() - richOverhead - fixed
	infoReserve := min(longestInfo, max(free/3, minColumn))
	// Squeezing INFO helps only when the hash then fits. Otherwise the
	// hash breaks anyway, and INFO keeps its share.
	if hashWidth := min(longestIOC, sha256Width); free-infoReserve < hashWidth && free-minColumn >= hashWidth {
		infoReserve = free - hashWidth
	}
	iocWidth = max(min(longestIOC, free-infoReserve), minColumn)
	infoWidth = max(min(free-iocWidth, longestInfo), minColumn)
	return iocWidth, infoWidth
}

// renderDetails writes the header line of one result and its detail fields
// with values wrapped under a hanging indent. The header line holds the IOC
// unbroken, so it can be copied whole even where the table had to break it,
// and it is the one line that may run past the width.
func (rw *richWriter) renderDetails(buf *bytes.Buffer, r enrich.Result) {
	fmt.Fprintf(buf, "%s  %s  (%s)\n", paint(verdictLabel(r), r, rw.opt.Color), displayIOC(r, rw.opt), typeLabel(r))

	fields := details(r, rw.opt)
	labelWidth := 0
	for _, f := range fields {
		labelWidth = max(labelWidth, len(f.Label))
	}
	const indent = 2
	valueWidth := max(rw.opt.width()-indent-labelWidth-2, minColumn*2)
	hanging := strings.Repeat(" ", indent+labelWidth+2)
	for _, f := range fields {
		lines := wrapText(f.Value, valueWidth)
		fmt.Fprintf(buf, "%*s%-*s  %s\n", indent, "", labelWidth, f.Label, lines[0])
		for _, l := range lines[1:] {
			buf.WriteString(hanging + l + "\n")
		}
	}
}

// wrapText splits s into lines of at most width display columns, breaking
// between words and, for words longer than width, inside them. It always
// returns at least one line.
func wrapText(s string, width int) []string {
	var lines []string
	line, lineWidth := "", 0
	for _, word := range strings.Fields(s) {
		ww := twwidth.Width(word)
		switch {
		case lineWidth > 0 && lineWidth+1+ww <= width:
			line += " " + word
			lineWidth += 1 + ww
			continue
		case lineWidth > 0:
			lines = append(lines, line)
		}
		parts := breakText(word, width)
		lines = append(lines, parts[:len(parts)-1]...)
		line = parts[len(parts)-1]
		lineWidth = twwidth.Width(line)
	}
	return append(lines, line)
}

// breakText cuts s into pieces of at most width display columns, at any
// rune. It always returns at least one piece.
func breakText(s string, width int) []string {
	var pieces []string
	start, w := 0, 0
	for i, r := range s {
		rw := twwidth.Width(string(r))
		if w+rw > width && i > start {
			pieces = append(pieces, s[start:i])
			start, w = i, 0
		}
		w += rw
	}
	return append(pieces, s[start:])
}
