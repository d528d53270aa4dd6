package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

// csvColumns is the CSV header. New columns go at the end, so scripts that
// index columns by position keep working. The partial column names the
// sections an investigation misses, separated by csvListSep, and is empty
// for a complete result. Status stays "ok" for a partial result, because
// the lookup itself succeeded.
var csvColumns = []string{
	"input", "type", "normalized", "verdict", "status", "error",
	"malicious", "suspicious", "undetected", "harmless", "engines", "reputation",
	"source", "fetched_at", "threat_label", "detections", "tags",
	"name", "file_type", "size", "country", "asn", "as_owner", "network",
	"registrar", "final_url", "title", "categories",
	"first_submission", "last_submission", "last_analysis", "creation_date",
	"permalink", "flags", "local_tags", "local_notes", "watchlists", "partial",
}

// csvListSep joins the values of a list in one cell.
const csvListSep = "; "

// csvWriter writes a header and then one row per result, flushed as each
// result arrives. The header waits for the first row or Close, so NewWriter
// writes nothing: its only error is an unknown format, which callers report
// as a usage error, and a run whose stdout carries an export instead gets
// no stray header.
type csvWriter struct {
	w             *csv.Writer
	opt           Options
	out           io.Writer
	headerWritten bool
}

func newCSVWriter(w io.Writer, opt Options) *csvWriter {
	return &csvWriter{w: csv.NewWriter(w), opt: opt, out: w}
}

func (c *csvWriter) Write(r enrich.Result) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	return c.writeRow(csvRow(r, c.opt))
}

// Close writes the header when no row came, and nothing more: the caller
// prints `--summary` on stderr, and a summary row would break tools that
// read every row as a result.
func (c *csvWriter) Close(Totals) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	return flush(c.out)
}

func (c *csvWriter) writeHeader() error {
	if c.headerWritten {
		return nil
	}
	c.headerWritten = true
	return c.writeRow(csvColumns)
}

func (c *csvWriter) writeRow(row []string) error {
	if err := c.w.Write(row); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	return flush(c.out)
}

// csvRow returns the cells of r in csvColumns order. Every text cell goes
// through csvCell, even the enumerations, because a result may come back from
// a cache file. Numbers and times are formatted here and need no guard, so a
// negative reputation stays a number.
func csvRow(r enrich.Result, opt Options) []string {
	s := r.Summary
	ioc := func(v string) string {
		if opt.Defang {
			v = defang(v)
		}
		return csvCell(v)
	}
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	enriched := r.Status == enrich.StatusOK

	input := r.Input
	if opt.Defang {
		input = defangInput(r)
	}
	row := []string{
		csvCell(input), csvCell(string(r.Type)), ioc(r.Normalized), r.Verdict.String(), csvCell(string(r.Status)), csvCell(r.Error),
		count(enriched, r.Stats.Malicious), count(enriched, r.Stats.Suspicious),
		count(enriched, r.Stats.Undetected), count(enriched, r.Stats.Harmless),
		count(enriched, r.Engines), count(enriched, r.Reputation),
		csvCell(string(r.Source)), csvTime(r.FetchedAt), csvCell(s.ThreatLabel), csvCell(csvDetections(s.Detections)),
		csvList(s.Tags),
		csvCell(s.Name), csvCell(s.FileType), num(s.Size), csvCell(s.Country), num(s.ASN), csvCell(s.ASOwner),
		csvCell(s.Network), csvCell(s.Registrar), ioc(s.FinalURL), csvCell(s.Title), csvList(s.Categories),
		csvTime(s.FirstSubmission), csvTime(s.LastSubmission), csvTime(s.LastAnalysis), csvTime(s.CreationDate),
		csvCell(r.Permalink), csvList(flagStrings(r)), csvList(r.Local.Tags), csvCell(csvNotes(r.Local.Notes)),
		csvList(r.Local.Watchlists), csvList(missingSections(r)),
	}
	return row
}

// count formats a statistic, which is empty when the source gave none, so an
// IOC that was never looked up does not read as zero detections.
func count(enriched bool, n int) string {
	if !enriched {
		return ""
	}
	return strconv.Itoa(n)
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvList joins values after sanitising each one, so a value cannot smuggle
// a separator-looking control sequence.
func csvList(values []string) string {
	return csvCell(joinSanitized(values, csvListSep))
}

func csvDetections(dets []enrich.Detection) string {
	parts := make([]string, len(dets))
	for i, d := range dets {
		parts[i] = Sanitize(d.Engine) + ":" + Sanitize(d.Result)
	}
	return strings.Join(parts, csvListSep)
}

func csvNotes(notes []enrich.Note) string {
	parts := make([]string, len(notes))
	for i, n := range notes {
		parts[i] = Sanitize(n.Text)
	}
	return strings.Join(parts, csvListSep)
}

func flagStrings(r enrich.Result) []string {
	out := make([]string, len(r.Flags))
	for i, f := range r.Flags {
		out[i] = string(f)
	}
	return out
}
