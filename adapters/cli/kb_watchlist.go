package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/kb/watchrun"
	"github.com/vex-ioc/vex/core/report"
)

// exitWorsened is the exit code of a watchlist run in which at least one
// verdict got worse, or a new member's first verdict is SUSPICIOUS or
// worse. It shares 1 with "worst result SUSPICIOUS" so cron jobs and shells
// treat both as "look at this".
const exitWorsened = 1

// maxImportBytes bounds a --import file. The file is read to the end before
// the knowledge base changes, so a read error leaves the list untouched.
const maxImportBytes = 64 << 20

type watchlistFlags struct {
	add, remove []string
	importFile  string
	list        bool
	export      bool
	defang      bool
	run         bool
	del         bool
	all         bool
	noCache     bool
	cache       bool
	out         kbOutput
}

func (a *app) newWatchlistCmd() *cobra.Command {
	var f watchlistFlags
	cmd := &cobra.Command{
		Use:   "watchlist NAME [--add IOC]... [--remove IOC]... [--import FILE] [--list | --export | --run | --delete]",
		Short: "Keep named lists of IOCs and re-triage them to see what got worse",
		Long: `Keep named lists of IOCs in the local knowledge base (kb.db in the data
directory) and re-triage them on a schedule.

A list is created by the first --add or --import. Names are 1 to 64 letters,
digits, '.', '-' or '_' and ignore case. IOCs may be defanged; each is
stored once, normalised. --import reads any text (a report, an email, a CSV
file; "-" is stdin) and adds every IOC found in it. Adding an IOC that is
already on the list is not an error; removing one that is not on it is, and
then nothing changes. With no flags, the command lists the members.

--run looks every member up again in VirusTotal (under the rate limit and
the daily quota like triage) and compares each verdict with the one
recorded by the previous run of the same list:
  worsened   more severe than before, e.g. CLEAN to SUSPICIOUS
  improved   less severe than before
  unchanged  same severity (CLEAN and UNKNOWN count as the same)
  new        no earlier run of this list: this run records the baseline
  error      not looked up (quota, network, key); its old verdict is kept
The new verdicts are recorded for the next run of the list. Each list keeps
its own history, so when two lists share an IOC, each list's run reports
its change; a list deleted and created again starts a new history.

A change is reported once per list: the next run of the list compares with
the new verdict and prints "unchanged". So a --run by hand takes the change
away from the list's cron job. To look at a list without recording, use
  vex watchlist NAME --export | vex triage -f -

--run does not read the result cache, because with the default cache.ttl
of 24h a daily run would get the previous day's answers back; the fresh
answers are still cached for triage. Each run costs one request per member.
--cache answers from cache entries younger than cache.ttl instead, which
saves quota when the members were just triaged.

Exit codes of --run: 1 when anything worsened or a new member is
SUSPICIOUS or MALICIOUS, else 78 when VirusTotal rejected the API key,
else 3 when some lookups failed, else 0; 130 when interrupted, which
records nothing. A progress bar shows on stderr when it is a terminal,
and a status line every 30 s when it is not.`,
		Example: `  vex watchlist apt29 --add evil[.]com --add 203.0.113.7
  vex watchlist apt29 --import report.txt
  vex watchlist apt29                       # list members
  vex watchlist apt29 --export --defang > apt29.txt
  vex watchlist --all                       # every list with its size
  vex watchlist apt29 --run -o json         # e.g. from cron
  vex watchlist apt29 --remove 203.0.113.7
  vex watchlist apt29 --delete

  # crontab: re-triage every morning, mail when something got worse or a
  # new member is SUSPICIOUS or MALICIOUS
  0 7 * * *  vex watchlist apt29 --run > /tmp/apt29.txt; [ $? -eq 1 ] && mail -s "apt29: new or worsened" soc@example.com < /tmp/apt29.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			return f.check(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := f.out.json()
			if err != nil {
				return err
			}
			if f.all {
				return a.listWatchlists(cmd.Context(), asJSON)
			}
			return a.watchlist(cmd.Context(), args[0], f, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.add, "add", nil, "add `IOC` to the list, creating the list if needed (repeatable)")
	fl.StringArrayVar(&f.remove, "remove", nil, "remove `IOC` from the list (repeatable)")
	fl.StringVar(&f.importFile, "import", "", "add every IOC found in `FILE` (any text; - for stdin)")
	fl.BoolVar(&f.list, "list", false, "list the members (the default with no other flag)")
	fl.BoolVar(&f.export, "export", false, "print the members one per line, for sharing or another tool")
	fl.BoolVar(&f.defang, "defang", false, "print IOCs defanged (with --list, --export or --run)")
	fl.BoolVar(&f.run, "run", false, "re-triage every member and report verdict changes")
	fl.BoolVar(&f.noCache, "no-cache", false, "with --run: look up even when cached (the default)")
	fl.BoolVar(&f.cache, "cache", false, "with --run: answer from cache entries younger than cache.ttl")
	fl.BoolVar(&f.del, "delete", false, "delete the list; its IOCs keep their tags, notes and verdicts")
	fl.BoolVar(&f.all, "all", false, "list every watchlist with its number of members")
	f.out.register(cmd)
	return cmd
}

// check rejects flag combinations that have no clear meaning, before
// anything is read or written.
func (f *watchlistFlags) check(cmd *cobra.Command, args []string) error {
	changes := len(f.add) > 0 || len(f.remove) > 0 || f.importFile != ""
	actions := 0
	for _, on := range []bool{f.list, f.export, f.run, f.del} {
		if on {
			actions++
		}
	}
	switch {
	case f.all && (len(args) > 0 || changes || actions > 0):
		return usageErr("--all lists every watchlist and takes no NAME or other flags")
	case f.all:
		return nil
	case len(args) != 1:
		return usageErr("watchlist needs exactly one NAME (or --all), got %d arguments", len(args))
	case actions > 1:
		return usageErr("use only one of --list, --export, --run and --delete")
	case f.del && changes:
		return usageErr("--delete cannot be combined with --add, --remove or --import")
	case f.defang && !(f.list || f.export || f.run || (!changes && !f.del)):
		return usageErr("--defang applies to --list, --export and --run only")
	case f.noCache && !f.run:
		return usageErr("--no-cache applies to --run only")
	case f.cache && !f.run:
		return usageErr("--cache applies to --run only")
	case f.cache && f.noCache:
		return usageErr("use either --cache or --no-cache")
	case f.export && cmd.Flags().Changed("output") && f.out.format == "json":
		return usageErr("--export prints plain text, one IOC per line; use --list -o json for JSON")
	}
	if err := kb.CheckWatchlistName(args[0]); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return nil
}

// watchlistChanges is the JSON report of --add, --remove and --import.
type watchlistChanges struct {
	Name    string   `json:"watchlist"`
	Added   []string `json:"added"`
	Already []string `json:"already_present"`
	Removed []string `json:"removed"`
	Members int      `json:"members"`
}

func (a *app) watchlist(ctx context.Context, name string, f watchlistFlags, asJSON bool) error {
	// Every input is checked, and the import file read whole, before the
	// knowledge base is opened, so bad input changes nothing.
	toAdd, err := checkIOCs(f.add)
	if err != nil {
		return err
	}
	toRemove, err := checkIOCs(f.remove)
	if err != nil {
		return err
	}
	if f.importFile != "" {
		found, err := a.importIOCs(ctx, f.importFile)
		if err != nil {
			return err
		}
		toAdd = append(toAdd, found...)
	}

	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()

	changed := len(toAdd) > 0 || len(toRemove) > 0
	if changed {
		ch, err := a.applyWatchlistChanges(ctx, k, name, toAdd, toRemove)
		if err != nil {
			return err
		}
		if asJSON && !(f.list || f.export || f.run) {
			return writeJSON(a.io.Out, ch)
		}
		fmt.Fprintf(a.io.Err, "watchlist %s: %d added, %d already present, %d removed, %d members\n",
			ch.Name, len(ch.Added), len(ch.Already), len(ch.Removed), ch.Members)
	}

	// Reports show the name the list was created with, as --all does,
	// because names ignore case and APT29 may reach the list apt29.
	if name, err = k.WatchlistName(ctx, name); err != nil {
		return watchlistErr(err)
	}

	switch {
	case f.del:
		if err := k.DeleteWatchlist(ctx, name); err != nil {
			return watchlistErr(err)
		}
		if asJSON {
			return writeJSON(a.io.Out, struct {
				Deleted string `json:"deleted"`
			}{name})
		}
		fmt.Fprintf(a.io.Err, "deleted watchlist %s\n", name)
		return nil
	case f.run:
		return a.runWatchlist(ctx, k, name, f, asJSON)
	case f.export:
		return a.exportWatchlist(ctx, k, name, f.defang)
	case f.list || !changed:
		return a.listWatchlist(ctx, k, name, f.defang, asJSON)
	}
	return nil
}

// checkIOCs normalises IOC flag values. The first invalid one is a usage
// error.
func checkIOCs(inputs []string) ([]string, error) {
	out := make([]string, 0, len(inputs))
	for _, in := range inputs {
		v, err := parseIOCArg(in)
		if err != nil {
			return nil, err
		}
		out = append(out, v.Value)
	}
	return out, nil
}

// importIOCs extracts every valid IOC from a file of any text.
func (a *app) importIOCs(ctx context.Context, name string) ([]string, error) {
	var r io.Reader = a.io.In
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, &ExitError{Code: ExitIOError, Err: fmt.Errorf("import watchlist IOCs: %w", err)}
		}
		defer file.Close()
		r = file
	}

	var found []string
	limited := &io.LimitedReader{R: textOf(r), N: maxImportBytes + 1}
	err := ioc.Extract(limited, ioc.ExtractOptions{}, func(m ioc.Match) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		found = append(found, m.IOC.Value)
		return nil
	})
	if limited.N <= 0 {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("import %s: file is larger than %d MiB: split it", displayName(name), maxImportBytes>>20)}
	}
	if err != nil {
		return nil, &ExitError{Code: ExitIOError, Err: fmt.Errorf("import %s: %w", displayName(name), err)}
	}
	if len(found) == 0 {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("import %s: no IOCs found; the watchlist is unchanged", displayName(name))}
	}
	return found, nil
}

// applyWatchlistChanges removes first, because a removal can fail on an IOC
// that is not on the list, and then nothing has changed. The additions were
// checked before, so only a storage error can stop them after the removals.
func (a *app) applyWatchlistChanges(ctx context.Context, k *kb.KB, name string, add, remove []string) (watchlistChanges, error) {
	ch := watchlistChanges{Name: name, Added: []string{}, Already: []string{}, Removed: []string{}}
	if len(remove) > 0 {
		r, err := k.RemoveFromWatchlist(ctx, name, remove...)
		if err != nil {
			return ch, watchlistErr(err)
		}
		ch.Name, ch.Removed, ch.Members = r.Name, r.Changed, r.Members
	}
	if len(add) > 0 {
		r, err := k.AddToWatchlist(ctx, name, add...)
		if err != nil {
			return ch, watchlistErr(err)
		}
		ch.Name, ch.Added, ch.Members = r.Name, nonNil(r.Changed), r.Members
		ch.Already = nonNil(r.Unchanged)
	}
	return ch, nil
}

// watchlistErr adds a hint to "watchlist not found".
func watchlistErr(err error) error {
	if errors.Is(err, kb.ErrNoWatchlist) {
		return &ExitError{Code: ExitUsage, Err: err, Hint: "see the lists with: vex watchlist --all"}
	}
	return kbErr(err)
}

func (a *app) listWatchlists(ctx context.Context, asJSON bool) error {
	k, err := a.openKBForCommand(ctx)
	if err != nil {
		return err
	}
	defer k.Close()
	lists, err := k.Watchlists(ctx)
	if err != nil {
		return kbErr(err)
	}

	if asJSON {
		return writeJSON(a.io.Out, nonNil(lists))
	}
	if len(lists) == 0 {
		fmt.Fprintln(a.io.Err, "no watchlists yet; create one with: vex watchlist NAME --add IOC")
		return nil
	}
	tw := tabwriter.NewWriter(a.io.Out, 0, 4, 2, ' ', 0)
	if a.io.OutTTY {
		fmt.Fprintln(tw, "NAME\tMEMBERS\tCREATED")
	}
	for _, l := range lists {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", l.Name, l.Members, l.Created.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return tw.Flush()
}

func (a *app) listWatchlist(ctx context.Context, k *kb.KB, name string, defang, asJSON bool) error {
	members, err := k.Watchlist(ctx, name)
	if err != nil {
		return watchlistErr(err)
	}
	if asJSON {
		return writeJSON(a.io.Out, struct {
			Name    string      `json:"watchlist"`
			Members []kb.Member `json:"members"`
		}{name, nonNil(members)})
	}
	if len(members) == 0 {
		fmt.Fprintf(a.io.Err, "watchlist %s is empty\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(a.io.Out, 0, 4, 2, ' ', 0)
	if a.io.OutTTY {
		fmt.Fprintln(tw, "IOC\tTYPE\tADDED")
	}
	for _, m := range members {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", display(m.IOC, defang), m.Type, m.Added.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return tw.Flush()
}

func (a *app) exportWatchlist(ctx context.Context, k *kb.KB, name string, defang bool) error {
	members, err := k.Watchlist(ctx, name)
	if err != nil {
		return watchlistErr(err)
	}
	for _, m := range members {
		if _, err := fmt.Fprintln(a.io.Out, display(m.IOC, defang)); err != nil {
			return err
		}
	}
	return nil
}

// display returns a normalised IOC as printed, defanged on request. The
// value is sanitised for the terminal as a guard, because URL paths keep
// whatever characters the parser accepted.
func display(value string, defang bool) string {
	if defang {
		value = ioc.Defang(value)
	}
	return report.Sanitize(value)
}

func (a *app) runWatchlist(ctx context.Context, k *kb.KB, name string, f watchlistFlags, asJSON bool) error {
	// An unknown list fails before the engine needs an API key.
	members, err := k.Watchlist(ctx, name)
	if err != nil {
		return watchlistErr(err)
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	key, err := a.apiKey(cfg, false)
	if err != nil {
		return err
	}
	engine, err := enrich.Open(ctx, cfg, key, enrich.OpenOptions{
		Logger:    a.logger,
		Now:       a.env.Now,
		UserAgent: "vex/" + Version,
		KB:        k,
	})
	if err != nil {
		return &ExitError{Code: ExitConfig, Err: err}
	}
	defer engine.Close()

	progress := a.newProgress(len(members), engine.ETA)
	rep, err := watchrun.Run(ctx, k, name, progressBatcher{engine, progress}, enrich.Request{NoCache: !f.cache}, a.env.Now())
	progress.Done()
	if ctx.Err() != nil {
		// Ctrl-C or SIGTERM: the run records verdicts only at its end, so
		// the list's history is as it was.
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted: no verdict was recorded, so the list's history is unchanged; run it again to compare every member")}
	}
	if err != nil {
		if mapped := kbErr(err); mapped != err {
			return mapped
		}
		return &ExitError{Code: ExitIncomplete, Err: err}
	}

	// A rejected key is a configuration error, as in triage, unless
	// something already got worse or a new member is SUSPICIOUS or worse:
	// that is the finding a scheduler needs.
	switch {
	case rep.Worsened() || rep.NewAlerts() > 0:
		a.exit = exitWorsened
	case rep.Stopped == enrich.StatusAuth:
		a.exit = ExitConfig
	case rep.Counts.Errors > 0:
		a.exit = ExitIncomplete
	}
	if rep.Stopped != "" {
		fmt.Fprintf(a.io.Err, "vex: warning: the run stopped sending requests (%s); members not looked up keep their previous verdicts\n", rep.Stopped)
	}
	if asJSON {
		return writeJSON(a.io.Out, rep)
	}
	return writeRunReport(a.io.Out, rep, f.defang)
}

// progressBatcher advances a progress bar on stderr as results arrive,
// because a long list under a free-tier rate limit takes minutes.
type progressBatcher struct {
	*enrich.Engine
	progress *report.Progress
}

func (p progressBatcher) Batch(ctx context.Context, inputs []string, req enrich.Request, emit func(int, enrich.Result)) enrich.BatchStats {
	return p.Engine.Batch(ctx, inputs, req, func(i int, r enrich.Result) {
		p.progress.Add(r)
		emit(i, r)
	})
}

// writeRunReport prints a summary line and one row per member.
func writeRunReport(w io.Writer, rep watchrun.Report, defang bool) error {
	c := rep.Counts
	fmt.Fprintf(w, "watchlist %s at %s: %d worsened, %d improved, %d unchanged, %d new, %d errors\n",
		rep.Watchlist, rep.RanAt.Format("2006-01-02T15:04:05Z"), c.Worsened, c.Improved, c.Unchanged, c.New, c.Errors)
	if len(rep.Items) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tIOC\tPREVIOUS\tVERDICT\tDETECTIONS\tNOTE")
	for _, it := range rep.Items {
		prev := "-"
		if it.Previous != nil {
			prev = it.Previous.Verdict.String()
		}
		now, detections := it.Verdict.String(), fmt.Sprintf("%d/%d", it.Stats.Malicious+it.Stats.Suspicious, it.Stats.Engines())
		note := ""
		switch {
		case it.Change == watchrun.Failed:
			now, detections, note = "-", "-", report.Sanitize(it.Error)
		case it.Status != enrich.StatusOK:
			detections, note = "-", string(it.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Change, display(it.IOC, defang), prev, now, detections, note)
	}
	return tw.Flush()
}
