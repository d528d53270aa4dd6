package splunk

import (
	"strconv"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/report"
)

// outputFields are the names, after the prefix, of the fields the command
// adds to every event, in column order.
var outputFields = []string{
	"verdict", "malicious", "suspicious", "undetected", "harmless", "engines",
	"reputation", "type", "ioc", "status", "source", "error", "permalink",
	"threat_label", "tags", "fetched_at",
}

const tagsColumn = 14 // index of "tags" in outputFields

// cells are the rendered output fields for one looked-up value. tags is
// the only field that is multivalue for a single input value. The encoded
// forms are ready to copy into a CSV row, so the events that repeat a value
// cost no formatting.
type cells struct {
	plain  [][]byte // one per outputFields entry
	tags   []string
	csv    [][]byte // plain, CSV-encoded
	tagsMV []byte   // the __mv_ cell of tags, CSV-encoded; empty for fewer than two tags
	// segment is ",f1,__mv_f1,f2,..." for all output fields in order: the
	// whole tail of a row when no output column was in the input.
	segment []byte
}

func renderCells(r enrich.Result) *cells {
	c := &cells{plain: make([][]byte, len(outputFields))}
	set := func(i int, s string) { c.plain[i] = []byte(s) }

	set(0, r.Verdict.String())
	// Counts are left empty unless the lookup returned data, so a lookup that
	// never happened cannot read as zero detections.
	if r.Status == enrich.StatusOK {
		set(1, strconv.Itoa(r.Stats.Malicious))
		set(2, strconv.Itoa(r.Stats.Suspicious))
		set(3, strconv.Itoa(r.Stats.Undetected))
		set(4, strconv.Itoa(r.Stats.Harmless))
		set(5, strconv.Itoa(r.Engines))
		set(6, strconv.Itoa(r.Reputation))
	}
	set(7, string(r.Type))
	set(8, r.Normalized)
	set(9, string(r.Status))
	set(10, string(r.Source))
	// Error, label and tags come from VirusTotal: neutralise terminal
	// escapes, bidi overrides and spreadsheet formulas before Splunk shows
	// or exports them.
	set(11, report.SanitizeCell(r.Error))
	set(12, r.Permalink)
	set(13, report.SanitizeCell(r.Summary.ThreatLabel))
	c.tags = make([]string, len(r.Summary.Tags))
	for i, tag := range r.Summary.Tags {
		c.tags[i] = report.SanitizeCell(tag)
	}
	c.plain[tagsColumn] = joinLines(c.tags)
	if !r.FetchedAt.IsZero() {
		set(15, strconv.FormatInt(r.FetchedAt.Unix(), 10))
	}
	c.encode()
	return c
}

func (c *cells) encode() {
	c.csv = make([][]byte, len(c.plain))
	for i, p := range c.plain {
		c.csv[i] = appendField(nil, p)
	}
	if len(c.tags) > 1 {
		c.tagsMV = appendField(nil, appendMultivalue(nil, c.tags))
	}
	for k, f := range c.csv {
		c.segment = append(append(c.segment, ','), f...)
		c.segment = append(c.segment, ',')
		if k == tagsColumn {
			c.segment = append(c.segment, c.tagsMV...)
		}
	}
}

// blankCells is the output of an event without a value.
var blankCells = func() *cells {
	c := &cells{plain: make([][]byte, len(outputFields))}
	c.encode()
	return c
}()
