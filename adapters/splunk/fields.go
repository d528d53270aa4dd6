package splunk

import (
	"strconv"

	"github.com/vex-ioc/vex/core/enrich"
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
// the only field that is multivalue for a single input value.
type cells struct {
	plain [][]byte // one per outputFields entry
	tags  []string
}

func renderCells(r enrich.Result) *cells {
	c := &cells{plain: make([][]byte, len(outputFields))}
	set := func(i int, s string) { c.plain[i] = []byte(s) }

	set(0, r.Verdict.String())
	// Counts are left empty unless the source answered, so a lookup that
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
	set(11, r.Error)
	set(12, r.Permalink)
	set(13, r.Summary.ThreatLabel)
	c.tags = r.Summary.Tags
	c.plain[tagsColumn] = joinLines(r.Summary.Tags)
	if !r.FetchedAt.IsZero() {
		set(15, strconv.FormatInt(r.FetchedAt.Unix(), 10))
	}
	return c
}
