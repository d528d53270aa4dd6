package cli

import (
	"context"
	"fmt"
	"iter"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/report"
)

// lookupRun is one triage or investigate run.
type lookupRun struct {
	app    *app
	mode   enrich.Mode
	flags  lookupFlags
	writer report.Writer
	// keep is the --alert filter, or nil. It applies to the exports too, so
	// a bundle holds what the output shows and no CLEAN values are shared.
	keep   func(enrich.Result) bool
	engine *enrich.Engine
	cfg    *config.Config
	// kb records when each STIX object was first exported; nil when the
	// knowledge base is unavailable.
	kb *kb.KB

	totals  report.Totals
	results []enrich.Result // kept only when an export needs them
}

func (r *lookupRun) execute(ctx context.Context, src *inputSource) error {
	a := r.app
	r.flags.stix = a.exportPath(r.flags.stix)
	r.flags.navigator = a.exportPath(r.flags.navigator)
	keepAll := r.flags.stix != "" || r.flags.navigator != ""
	if r.flags.stix == stdoutPath && r.flags.navigator == stdoutPath {
		return usageErr("--stix - and --navigator - both want stdout: send one of them to a file")
	}
	if r.flags.stix == stdoutPath || r.flags.navigator == stdoutPath {
		r.writer = discardWriter{} // stdout carries the export alone
	}

	progress := a.newProgress(r.countInputs(src), r.engine.ETA)
	var writeErr error
	untrusted := 0
	emit := func(res enrich.Result) {
		r.totals.Add(res)
		if res.Status == enrich.StatusFailed && strings.Contains(res.Error, "x509: ") {
			untrusted++
		}
		if keepAll && (r.keep == nil || r.keep(res)) {
			r.results = append(r.results, res)
		}
		// stdout and stderr often share the terminal: the bar leaves its
		// line while the result is written, and is drawn again below it.
		progress.Pause()
		progress.Add(res)
		if writeErr == nil {
			writeErr = r.writer.Write(res)
		}
		progress.Resume()
	}
	// Stream stops reading inputs when ctx ends. Pulling them here lets the
	// run report the unread ones as cancelled afterwards, so every argument
	// and file line gets a result.
	src.ctx = ctx
	next, stop := iter.Pull(src.seq())
	defer stop()
	req := enrich.Request{Mode: r.mode, NoCache: r.flags.noCache, Offline: r.flags.offline}
	stats := r.engine.Stream(ctx, pullSeq(next), req, func(_ int, res enrich.Result) { emit(res) })
	if ctx.Err() != nil {
		for in, ok := next(); ok; in, ok = next() {
			emit(enrich.Unread(in, r.mode, r.cfg.API.AllowNonRoutable))
		}
	}
	progress.Done()

	if err := r.writer.Close(r.totals); err != nil && writeErr == nil {
		writeErr = err
	}
	if writeErr != nil {
		return fmt.Errorf("write results: %w", writeErr)
	}
	if err := r.exports(ctx); err != nil {
		return err
	}
	if r.flags.summary {
		fmt.Fprintln(a.io.Err, report.SummaryLine(r.totals))
	}
	if src.err != nil {
		return &ExitError{Code: ExitIOError, Err: src.err}
	}
	r.reportSkipped(src.skipped)
	if untrusted > 0 {
		fmt.Fprintf(a.io.Err, "vex: %s failed because the TLS certificate of %s is not trusted; "+
			"for a gateway with a certificate from an internal CA, set api.ca_file to that CA's PEM file "+
			"(vex config --set api.ca_file=PATH) or add the CA to the system's trust store\n",
			count(untrusted, "lookup", "lookups"), r.cfg.API.BaseURL)
	}
	if stats.Stopped == enrich.StatusAuth {
		who, hint := "virustotal", "check the key with 'vex config --show', then set it with 'vex config --set-api-key'"
		if r.cfg.API.BaseURL != config.DefaultBaseURL {
			// Most other base URLs are a vex serve gateway, which takes
			// gateway tokens, not VirusTotal keys.
			who = "the API at " + r.cfg.API.BaseURL
			hint = "for a vex serve gateway, set one of its tokens as the key; " + hint
		}
		return &ExitError{
			Code: ExitConfig,
			Err:  fmt.Errorf("%s rejected the API key; %s not looked up", who, count(r.totals.Statuses[enrich.StatusAuth], "IOC was", "IOCs were")),
			Hint: hint,
		}
	}
	switch {
	case stats.Stopped == enrich.StatusQuota && stats.RateLimited:
		// A per-minute 429 tells nothing about the daily quota, so the
		// message gives no reset time.
		who := "VirusTotal"
		if r.cfg.API.BaseURL != config.DefaultBaseURL {
			who = "The API at " + r.cfg.API.BaseURL // starts a sentence
		}
		fmt.Fprintf(a.io.Err, "vex: rate-limited: %s not looked up; the results above are kept. "+
			"%s answered HTTP 429 for its per-minute rate, not for a spent daily quota: "+
			"check that api.tier and api.per_minute match the key ('vex config --show'), "+
			"then rerun the same input; cached results cost nothing\n",
			count(r.totals.Statuses[enrich.StatusQuota], "IOC was", "IOCs were"), who)
	case stats.Stopped == enrich.StatusQuota:
		fmt.Fprintf(a.io.Err, "vex: quota exhausted: %s not looked up; the results above are kept. "+
			"The daily quota resets at 00:00 UTC; rerun the same input then, and cached results cost nothing\n",
			count(r.totals.Statuses[enrich.StatusQuota], "IOC was", "IOCs were"))
	}
	if r.totals.Total == 0 && ctx.Err() == nil {
		// An empty input checked nothing, which a script must not read as
		// "all clean".
		fmt.Fprintln(a.io.Err, "vex: warning: no IOCs found in the input")
		a.exit = ExitIncomplete
		return nil
	}
	if ctx.Err() != nil && r.totals.Statuses[enrich.StatusCancelled] > 0 {
		// A signal after the last lookup cut nothing short, so only a run
		// that left inputs unanswered exits as interrupted.
		fmt.Fprintln(a.io.Err, "vex: interrupted: printed the results finished so far")
		a.exit = ExitInterrupted
		return nil
	}
	a.exit = exitCode(r.totals)
	if len(src.skipped) > 0 && a.exit == ExitOK {
		a.exit = ExitIncomplete
	}
	return nil
}

// reportSkipped warns about input lines too long to read, which are left out
// of the results.
func (r *lookupRun) reportSkipped(skipped []string) {
	const shown = 10
	for i, where := range skipped {
		if i == shown {
			fmt.Fprintf(r.app.io.Err, "vex: ... and %d more lines skipped\n", len(skipped)-shown)
			break
		}
		fmt.Fprintf(r.app.io.Err, "vex: %s: line longer than %d bytes: skipped; split it to look up its IOCs\n", where, maxInputLine)
	}
}

// count returns n with the singular or plural noun phrase.
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

// pullSeq turns a pull iterator back into a sequence that stops early
// without ending the iterator.
func pullSeq(next func() (string, bool)) iter.Seq[string] {
	return func(yield func(string) bool) {
		for {
			in, ok := next()
			if !ok || !yield(in) {
				return
			}
		}
	}
}

// countInputs returns the number of inputs for the progress bar, or 0 when
// it is unknown without reading stdin twice.
func (r *lookupRun) countInputs(src *inputSource) int {
	if !r.app.io.ErrTTY || r.app.quiet {
		return 0
	}
	n := len(src.args)
	for _, f := range src.files {
		if f == "-" {
			return 0
		}
		fh, err := os.Open(f)
		if err != nil {
			return 0
		}
		scanInputs(fh, func(string) bool { n++; return true }, nil)
		fh.Close()
	}
	return n
}

// exitCode maps the totals to the documented exit codes: the worst verdict
// wins; otherwise any IOC not enriched gives ExitIncomplete.
func exitCode(t report.Totals) int {
	switch {
	case t.Malicious > 0:
		return ExitMalicious
	case t.Suspicious > 0:
		return ExitSuspicious
	case t.NotLookedUp > 0 || t.Failed > 0 || t.Invalid > 0:
		return ExitIncomplete
	}
	return ExitOK
}

// color reports whether human output gets ANSI colours: on a terminal,
// unless NO_COLOR is set or the config turns colour off; CLICOLOR_FORCE
// forces it.
func (a *app) color(cfg *config.Config) bool {
	switch cfg.Output.Color {
	case "always":
		return true
	case "never":
		return false
	}
	if a.env.Getenv("NO_COLOR") != "" {
		return false
	}
	if v := a.env.Getenv("CLICOLOR_FORCE"); v != "" && v != "0" {
		return true
	}
	return a.io.OutTTY
}

func (a *app) width() int {
	if n, err := strconv.Atoi(a.env.Getenv("COLUMNS")); err == nil && n > 20 {
		return n
	}
	if a.io.Width > 20 {
		return a.io.Width
	}
	if a.io.OutTTY {
		return report.FallbackTerminalWidth
	}
	return 0 // not a terminal: the writer picks a width that keeps hashes whole
}

// openKB opens the knowledge base for attaching local data to results. A
// KB that cannot be opened is skipped with a warning, because the lookup
// is still worth doing.
func (a *app) openKB(ctx context.Context, cfg *config.Config) *kb.KB {
	k, err := kb.Open(ctx, cfg.KBPath(), kb.Options{})
	if err != nil {
		a.logger.WarnContext(ctx, "knowledge base unavailable; results carry no local tags or notes", "path", cfg.KBPath(), "error", err)
		return nil
	}
	return k
}

// kbStore avoids handing the engine a typed nil.
func kbStore(k *kb.KB) enrich.LocalStore {
	if k == nil {
		return nil
	}
	return k
}

// exports writes the STIX bundle and Navigator layer, when asked.
func (r *lookupRun) exports(ctx context.Context) error {
	if r.flags.stix != "" {
		data, err := r.stixBundle()
		if err != nil {
			return fmt.Errorf("export stix: %w", err)
		}
		if err := r.writeExport(ctx, "STIX bundle", r.flags.stix, data); err != nil {
			return err
		}
	}
	if r.flags.navigator != "" {
		data, err := r.navigatorLayer()
		if err != nil {
			return fmt.Errorf("export navigator layer: %w", err)
		}
		if err := r.writeExport(ctx, "ATT&CK Navigator layer", r.flags.navigator, data); err != nil {
			return err
		}
	}
	return nil
}

// discardWriter drops results, for runs whose stdout carries an export.
type discardWriter struct{}

func (discardWriter) Write(enrich.Result) error { return nil }
func (discardWriter) Close(report.Totals) error { return nil }

// heartbeatEvery is the interval of the status lines a run writes when
// stderr is no terminal.
const heartbeatEvery = 30 * time.Second

// newProgress returns the progress report of a run over total inputs: a bar
// on a terminal, plain status lines every heartbeatEvery otherwise (a cron
// log then shows a run waiting on the rate limit is alive), nothing with -q.
func (a *app) newProgress(total int, eta func(int) time.Duration) *report.Progress {
	switch {
	case a.quiet:
		return report.NewProgress(a.io.Err, total, false, eta)
	case a.io.ErrTTY:
		return report.NewProgress(a.io.Err, total, true, eta)
	}
	return report.NewHeartbeat(a.io.Err, total, heartbeatEvery, eta)
}
