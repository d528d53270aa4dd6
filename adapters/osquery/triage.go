package osquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/report"
)

// Engine is the part of the enrichment engine the tables use. The real one
// is *enrich.Engine, shared by every table and every concurrent call, so
// all calls use one rate limiter, one cache and one set of in-flight
// lookups.
type Engine interface {
	// Lookup enriches one input and never fails: every problem is a status
	// in the result. It must return soon after ctx is done.
	Lookup(ctx context.Context, input string, req enrich.Request) enrich.Result
}

// localAttacher is implemented by engines that read the knowledge base for
// many results at once, as *enrich.Engine does. lookupAll then makes one
// knowledge-base read per call instead of one per IOC.
type localAttacher interface {
	AttachLocal(ctx context.Context, results []enrich.Result)
}

// Column names shared by the lookup tables.
const (
	colIOC     = "ioc"
	colOffline = "offline"
	colMaxAge  = "max_age"
)

// inputColumns are the columns the IOC tables read from the WHERE clause.
func inputColumns() []table.ColumnDefinition {
	return []table.ColumnDefinition{
		table.TextColumn(colIOC, table.RequiredColumn(), table.IndexColumn(), table.OptimizedColumn(),
			table.ColumnDescription("the IOC to look up, echoed exactly as given")),
		table.IntegerColumn(colOffline, table.HiddenColumn(),
			table.ColumnDescription("1 answers from the cache and knowledge base only")),
		table.BigIntColumn(colMaxAge, table.HiddenColumn(),
			table.ColumnDescription("accept cached results up to this many seconds old")),
	}
}

// TriageColumns returns the columns of vex_triage.
func TriageColumns() []table.ColumnDefinition {
	return append(inputColumns(),
		table.TextColumn("ioc_type"),
		table.TextColumn("ioc_normalized"),
		table.TextColumn("verdict", table.ColumnDescription("MALICIOUS, SUSPICIOUS, CLEAN or UNKNOWN")),
		table.TextColumn("status", table.ColumnDescription("ok, not_found, invalid, non_routable, not_cached, quota_exhausted, unauthorized, failed or cancelled")),
		table.IntegerColumn("malicious"),
		table.IntegerColumn("suspicious"),
		table.IntegerColumn("harmless"),
		table.IntegerColumn("undetected"),
		table.IntegerColumn("engines"),
		table.IntegerColumn("reputation"),
		table.BigIntColumn("last_analysis_date", table.ColumnDescription("unix time of VirusTotal's last analysis")),
		table.TextColumn("source", table.ColumnDescription("api, cache, stale_cache or none")),
		table.TextColumn("error"),
		table.TextColumn("permalink"),
		table.TextColumn("tags", table.ColumnDescription("VirusTotal and local tags, comma-separated")),
	)
}

// lookupInput is one IOC of a call with the request options that apply to
// it, and the raw option values that must be echoed.
type lookupInput struct {
	ioc        string
	offlineRaw string
	maxAgeRaw  string
	req        enrich.Request
	err        string // set when the options are invalid; nothing is looked up
}

// lookupTable holds what vex_triage and vex_investigate share: the engine,
// the settings and the turning of a query context into lookups.
type lookupTable struct {
	name     string
	engine   Engine
	settings Settings
	logger   *slog.Logger
	mode     enrich.Mode
}

// inputs turns the constraints of one call into lookups. Every ioc value
// is combined with every offline and max_age value, because osquery keeps
// only rows that match all of them.
func (t *lookupTable) inputs(qc QueryContext) []lookupInput {
	offlines := qc.Values(colOffline)
	if len(offlines) == 0 {
		offlines = []string{""}
	}
	maxAges := qc.Values(colMaxAge)
	if len(maxAges) == 0 {
		maxAges = []string{""}
	}

	var out []lookupInput
	for _, v := range qc.Values(colIOC) {
		for _, off := range offlines {
			for _, age := range maxAges {
				out = append(out, t.input(v, off, age))
			}
		}
	}
	return out
}

func (t *lookupTable) input(ioc, offline, maxAge string) lookupInput {
	in := lookupInput{ioc: ioc, offlineRaw: offline, maxAgeRaw: maxAge}
	in.req = enrich.Request{Mode: t.mode, AllowStale: true}

	switch strings.ToLower(strings.TrimSpace(offline)) {
	case "", "0", "false":
	case "1", "true":
		in.req.Offline = true
	default:
		in.err = fmt.Sprintf("invalid offline value %q: use 0 or 1", offline)
		return in
	}

	if maxAge != "" {
		secs, err := strconv.ParseInt(strings.TrimSpace(maxAge), 10, 64)
		if err != nil || secs < 0 || secs > int64(100*365*24*3600) {
			in.err = fmt.Sprintf("invalid max_age value %q: use a number of seconds, 0 or more", maxAge)
			return in
		}
		// max_age = 0 means "the configured TTL", as in enrich.Request.
		in.req.MaxAge = time.Duration(secs) * time.Second
	}
	return in
}

// unsupportedMessage is the error of a row for a constraint on ioc that is
// not an exact value, such as LIKE: vex cannot list VirusTotal.
func (t *lookupTable) unsupportedMessage(c Constraint) string {
	return fmt.Sprintf("%s looks up exact values only (operator %d): use ioc = '...' or ioc IN (...)", t.name, c.Op)
}

// lookupAll runs the lookups of one call under the call's deadline and
// returns one result per input in input order. Inputs past the cap, with
// invalid options or not done by the deadline get a result with Error set.
func (t *lookupTable) lookupAll(ctx context.Context, inputs []lookupInput) []enrich.Result {
	results := make([]enrich.Result, len(inputs))
	callCtx, cancel := context.WithTimeout(ctx, t.settings.Timeout)
	defer cancel()

	var (
		mu   sync.Mutex
		done = make([]bool, len(inputs))
		wg   sync.WaitGroup
		sem  = make(chan struct{}, t.settings.Concurrency)
	)
	attacher, batchLocal := t.engine.(localAttacher)
	for i, in := range inputs {
		in.req.NoLocal = batchLocal
		switch {
		case i >= t.settings.MaxIOCs:
			results[i] = errorResult(in, enrich.StatusFailed,
				fmt.Sprintf("not looked up: the query has %d IOCs and %s looks up at most %d per query ([osquery] max_iocs); split the query", len(inputs), t.name, t.settings.MaxIOCs))
			done[i] = true
			continue
		case in.err != "":
			results[i] = errorResult(in, enrich.StatusInvalid, in.err)
			done[i] = true
			continue
		}

		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-callCtx.Done():
				return
			}
			r := t.engine.Lookup(callCtx, in.ioc, in.req)
			mu.Lock()
			results[i], done[i] = r, true
			mu.Unlock()
		}()
	}

	// Wait for the workers, but not past the deadline plus a short grace:
	// an engine that ignores ctx must not hold osquery's call open.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-callCtx.Done():
		select {
		case <-finished:
		case <-time.After(2 * time.Second):
			t.logger.Warn("lookups still running after the call deadline; returning rows without them", "table", t.name)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	out := make([]enrich.Result, len(results))
	for i := range results {
		if !done[i] {
			out[i] = errorResult(inputs[i], enrich.StatusCancelled, "")
		} else {
			out[i] = results[i]
		}
		out[i] = t.explainStop(ctx, callCtx, out[i])
	}
	if batchLocal {
		attacher.AttachLocal(ctx, out)
	}
	return out
}

// explainStop rewrites the error of a lookup the call's context stopped,
// saying whether the deadline passed or osquery went away.
func (t *lookupTable) explainStop(parent, callCtx context.Context, r enrich.Result) enrich.Result {
	if callCtx.Err() == nil || r.Status.Enriched() || r.Status == enrich.StatusInvalid || r.Status == enrich.StatusNonRoutable {
		return r
	}
	stopped := r.Status == enrich.StatusCancelled ||
		strings.Contains(r.Error, context.DeadlineExceeded.Error()) || strings.Contains(r.Error, context.Canceled.Error())
	if !stopped {
		return r
	}
	r.Status = enrich.StatusCancelled
	r.Source = enrich.SourceNone
	if errors.Is(parent.Err(), context.Canceled) {
		r.Error = "cancelled: osquery closed the call or the extension is shutting down"
	} else {
		r.Error = fmt.Sprintf("timed out after %s waiting for the rate limiter or VirusTotal; query again later, when more is cached, or raise [osquery] timeout", t.settings.Timeout)
	}
	return r
}

func errorResult(in lookupInput, st enrich.Status, msg string) enrich.Result {
	return enrich.Result{Input: in.ioc, Status: st, Error: msg, Source: enrich.SourceNone}
}

// statusMessage is the error text for a result whose status means it was
// not enriched but which carries no error of its own.
func statusMessage(r enrich.Result) string {
	if r.Error != "" {
		return r.Error
	}
	switch r.Status {
	case enrich.StatusOfflineMiss:
		return "not in the cache (offline)"
	case enrich.StatusQuota:
		return "not looked up: VirusTotal quota exhausted; query again after the quota resets"
	case enrich.StatusAuth:
		return "VirusTotal rejected the API key; set a valid key in the vex config file or VT_API_KEY"
	case enrich.StatusFailed:
		return "lookup failed"
	case enrich.StatusCancelled:
		return "cancelled"
	case enrich.StatusInvalid:
		return "invalid ioc"
	}
	return ""
}

// triageRow turns one result into a vex_triage row. Counts stay empty
// (NULL in osquery) unless VirusTotal returned data, so a failure never reads
// as "0 engines flagged it".
func triageRow(in lookupInput, r enrich.Result) map[string]string {
	src := r.Source
	if src == "" {
		src = enrich.SourceNone
	}
	row := map[string]string{
		colIOC:           in.ioc,
		colOffline:       in.offlineRaw,
		colMaxAge:        in.maxAgeRaw,
		"ioc_type":       string(r.Type),
		"ioc_normalized": r.Normalized,
		"verdict":        r.Verdict.String(),
		"status":         string(r.Status),
		"source":         string(src),
		"error":          report.SanitizeCell(statusMessage(r)),
		"permalink":      r.Permalink,
		"tags":           strings.Join(sanitizeCells(mergeTags(r.Summary.Tags, r.Local.Tags)), ","),
	}
	if r.Status == enrich.StatusOK {
		row["malicious"] = strconv.Itoa(r.Stats.Malicious)
		row["suspicious"] = strconv.Itoa(r.Stats.Suspicious)
		row["harmless"] = strconv.Itoa(r.Stats.Harmless)
		row["undetected"] = strconv.Itoa(r.Stats.Undetected)
		row["engines"] = strconv.Itoa(r.Engines)
		row["reputation"] = strconv.Itoa(r.Reputation)
	}
	if !r.Summary.LastAnalysis.IsZero() {
		row["last_analysis_date"] = strconv.FormatInt(r.Summary.LastAnalysis.Unix(), 10)
	}
	return row
}

// sanitizeCells neutralises tags from VirusTotal, which may carry terminal
// escapes, bidi overrides or spreadsheet formulas.
func sanitizeCells(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = report.SanitizeCell(v)
	}
	return out
}

// mergeTags joins VirusTotal and local tags, dropping duplicates and
// commas, which would split one tag into two for the reader.
func mergeTags(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, tag := range l {
			tag = strings.TrimSpace(strings.ReplaceAll(tag, ",", " "))
			if tag == "" || seen[tag] {
				continue
			}
			seen[tag] = true
			out = append(out, tag)
		}
	}
	return out
}

// newTriage builds the vex_triage table.
func newTriage(engine Engine, s Settings, stop context.Context, logger *slog.Logger) *tablePlugin {
	t := &lookupTable{name: "vex_triage", engine: engine, settings: s, logger: logger, mode: enrich.Triage}
	return &tablePlugin{
		name:    t.name,
		columns: TriageColumns(),
		stop:    stop,
		logger:  logger,
		generate: func(ctx context.Context, qc QueryContext) []map[string]string {
			inputs := t.inputs(qc)
			results := t.lookupAll(ctx, inputs)

			rows := make([]map[string]string, 0, len(inputs))
			for i, in := range inputs {
				rows = append(rows, triageRow(in, results[i]))
			}
			for _, c := range qc.Other(colIOC) {
				rows = append(rows, map[string]string{
					colIOC: c.Expr, "status": string(enrich.StatusInvalid), "verdict": "UNKNOWN",
					"source": string(enrich.SourceNone), "error": t.unsupportedMessage(c),
				})
			}
			t.logCall(ctx, inputs, results)
			return rows
		},
	}
}

// logCall records one call at debug level: counts only, because IOC lists
// can be confidential.
func (t *lookupTable) logCall(ctx context.Context, inputs []lookupInput, results []enrich.Result) {
	counts := map[enrich.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	attrs := []any{"table", t.name, "iocs", len(inputs)}
	for st, n := range counts {
		attrs = append(attrs, string(st), n)
	}
	t.logger.DebugContext(ctx, "table call", attrs...)
}
