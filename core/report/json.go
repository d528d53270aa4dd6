package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vex-ioc/vex/core/enrich"
)

// jsonResult returns r encoded as JSON with the display changes opt requests.
// The encoding keeps the real value of every string, except that
// encoding/json replaces invalid UTF-8 with U+FFFD; escapeJSON then turns
// every raw control or invisible character into a \u escape.
func jsonResult(r enrich.Result, opt Options) ([]byte, error) {
	if opt.Defang {
		r = defangResult(r)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// URLs are common values, and \u0026 for every & makes them hard to read.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonResultDoc{Result: r, Partial: len(missingSections(r)) > 0}); err != nil {
		return nil, fmt.Errorf("encode result for %q as json: %w", Sanitize(r.Input), err)
	}
	return escapeJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// jsonResultDoc is the JSON form of a result. Partial marks an
// investigation with missing sections next to status, which stays "ok"
// because the lookup itself succeeded; investigation.missing names them.
type jsonResultDoc struct {
	enrich.Result
	Partial bool `json:"partial,omitempty"`
}

// jsonWriter writes {"results":[...],"summary":{...}} at Close. Results are
// kept encoded, so a large batch costs its JSON size in memory and no more.
type jsonWriter struct {
	w       io.Writer
	opt     Options
	results []json.RawMessage
}

func newJSONWriter(w io.Writer, opt Options) *jsonWriter {
	return &jsonWriter{w: w, opt: opt, results: []json.RawMessage{}}
}

func (j *jsonWriter) Write(r enrich.Result) error {
	b, err := jsonResult(r, j.opt)
	if err != nil {
		return err
	}
	j.results = append(j.results, b)
	return nil
}

func (j *jsonWriter) Close(sum Totals) error {
	if sum.Statuses == nil {
		sum.Statuses = map[enrich.Status]int{}
	}
	doc := struct {
		Results []json.RawMessage `json:"results"`
		Summary Totals            `json:"summary"`
	}{j.results, sum}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode json report: %w", err)
	}
	if _, err := j.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// ndjsonWriter writes one compact JSON object per line as each result
// arrives, so a consumer reads results while the batch runs.
type ndjsonWriter struct {
	w   io.Writer
	opt Options
}

func newNDJSONWriter(w io.Writer, opt Options) *ndjsonWriter {
	return &ndjsonWriter{w: w, opt: opt}
}

func (n *ndjsonWriter) Write(r enrich.Result) error {
	b, err := jsonResult(r, n.opt)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// One Write call per line keeps lines whole on pipes and files.
	if _, err := n.w.Write(b); err != nil {
		return fmt.Errorf("write ndjson line: %w", err)
	}
	return flush(n.w)
}

// Close writes nothing: NDJSON has no place for a summary, and the caller
// prints `--summary` on stderr.
func (n *ndjsonWriter) Close(Totals) error { return flush(n.w) }

// flush pushes buffered output through when w buffers, as a *bufio.Writer
// does, so streamed results reach the reader as they finish.
func flush(w io.Writer) error {
	switch f := w.(type) {
	case interface{ Flush() error }:
		if err := f.Flush(); err != nil {
			return fmt.Errorf("flush output: %w", err)
		}
	case interface{ Flush() }:
		f.Flush()
	}
	return nil
}
