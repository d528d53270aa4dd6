package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/report"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/verdict"
)

// lookupFlags are the flags triage and investigate share.
type lookupFlags struct {
	files     []string
	format    string
	csv       bool
	defang    bool
	alert     string
	summary   bool
	noCache   bool
	offline   bool
	timeline  bool
	stix      string
	navigator string
}

func (a *app) newTriageCmd() *cobra.Command {
	return a.newLookupCmd(enrich.Triage)
}

func (a *app) newInvestigateCmd() *cobra.Command {
	return a.newLookupCmd(enrich.Investigate)
}

func (a *app) newLookupCmd(mode enrich.Mode) *cobra.Command {
	var f lookupFlags
	cmd := &cobra.Command{
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runLookup(cmd.Context(), mode, args, f)
		},
	}
	switch mode {
	case enrich.Triage:
		cmd.Use = "triage [IOC...] [-f FILE]"
		cmd.Short = "Look up IOCs with one VirusTotal request each and print verdicts"
		cmd.Long = `Triage looks up each IOC with one VirusTotal request and prints a verdict:
MALICIOUS, SUSPICIOUS, CLEAN or UNKNOWN.

IOCs come from the arguments, from files (-f, repeatable; "-" is stdin),
or from stdin when neither is given. A file may be a list with one IOC per
line or free text (reports, CSV, logs); defanged values are accepted.
Duplicates are looked up once, results keep input order, and the lookups
stay within the rate limit and daily quota shared by every vex process.
Private and reserved addresses are reported without a lookup. An input
with no IOCs at all exits 3, because nothing was checked.`
		cmd.Example = `  vex triage 8.8.8.8 evil[.]com
  vex triage -f iocs.txt -o csv > verdicts.csv
  cat hashes.txt | vex triage --alert suspicious --summary`
	case enrich.Investigate:
		cmd.Use = "investigate [IOC...] [-f FILE]"
		cmd.Short = "Look up IOCs in depth: relationships, behaviour, ATT&CK, timeline"
		cmd.Long = `Investigate fetches the object report plus relationships and sandbox
behaviour for each IOC (several requests per IOC, each counted by the rate
limit and quota), maps the findings to MITRE ATT&CK and builds a timeline.

A section that needs a premium API key is marked "requires premium" and
the rest goes on; a section that fails leaves a partial result that says
what is missing.`
		cmd.Example = `  vex investigate 44d88612fea8a8f36de82e1278abb02f -o rich --timeline
  vex investigate evil[.]com --stix evil.stix.json --navigator evil.layer.json`
	}

	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "file", "f", nil, "read IOCs from `FILE` (repeatable; - for stdin)")
	fl.StringVarP(&f.format, "output", "o", "", "output `FORMAT`: "+strings.Join(report.Formats, ", ")+" (default from config, else console)")
	fl.BoolVar(&f.csv, "csv", false, "shorthand for -o csv")
	fl.BoolVar(&f.defang, "defang", false, "print IOCs and URLs defanged, safe to paste into tickets")
	fl.StringVar(&f.alert, "alert", "", "print and export only results at or above `LEVEL` (clean, suspicious, malicious); the exit code still counts all")
	fl.BoolVar(&f.summary, "summary", false, "print one line of counts on stderr at the end")
	fl.BoolVar(&f.noCache, "no-cache", false, "look up even when cached (the fresh result is cached)")
	fl.BoolVar(&f.offline, "offline", false, "answer from the cache and knowledge base only; send no request")
	fl.BoolVar(&f.timeline, "timeline", false, "show the timeline of each result in rich and console output")
	fl.StringVar(&f.stix, "stix", "", "also write a STIX 2.1 bundle to `FILE` (- writes only the bundle to stdout)")
	if mode == enrich.Investigate {
		fl.StringVar(&f.navigator, "navigator", "", "also write an ATT&CK Navigator layer to `FILE` (- writes only the layer to stdout)")
	}
	return cmd
}

func (a *app) runLookup(ctx context.Context, mode enrich.Mode, args []string, f lookupFlags) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	format := f.format
	if f.csv {
		if format != "" && format != report.FormatCSV {
			return usageErr("--csv and -o %s ask for different formats: use one", format)
		}
		format = report.FormatCSV
	}
	if f.offline && f.noCache {
		return usageErr("--offline answers from the cache and --no-cache skips it: use one")
	}
	if format == "" {
		format = cfg.Output.Format
	}
	var keep func(enrich.Result) bool
	if f.alert != "" {
		// UNKNOWN shares CLEAN's severity, so as a level it would print
		// everything while reading as "unknown results only".
		level, ok := verdict.Parse(f.alert)
		if !ok || level == verdict.Unknown {
			return usageErr("invalid --alert level %q: use clean, suspicious or malicious", f.alert)
		}
		keep = report.AlertFilter(level)
	}

	src := &inputSource{args: args, files: f.files, stdin: a.io.In}
	if len(args) == 0 && len(f.files) == 0 {
		if a.io.InTTY {
			return usageErr("no IOCs given: pass them as arguments, with -f FILE, or on stdin")
		}
		src.files = []string{"-"}
	}
	if err := src.check(); err != nil {
		return err
	}

	key, err := a.apiKeyOrOffline(cfg, f.offline)
	if err != nil {
		return err
	}

	w, err := report.NewWriter(format, a.io.Out, report.Options{
		Defang:   f.defang,
		Color:    a.color(cfg),
		Width:    a.width(),
		Timeline: f.timeline,
		Now:      a.env.Now,
	})
	if err != nil {
		return usageErr("%v", err)
	}
	if keep != nil {
		w = report.Filter(w, keep)
	}

	kb := a.openKB(ctx, cfg)
	if kb != nil {
		defer kb.Close()
	}
	engine, err := enrich.Open(ctx, cfg, key, enrich.OpenOptions{
		Logger:    a.logger,
		UserAgent: "vex/" + Version,
		KB:        kbStore(kb),
	})
	if err != nil {
		return &ExitError{Code: ExitConfig, Err: err}
	}
	defer engine.Close()

	if a.io.ErrTTY && !a.quiet {
		report.Banner(a.io.Err, Version)
	}
	run := lookupRun{app: a, mode: mode, flags: f, writer: w, keep: keep, engine: engine, cfg: cfg, kb: kb}
	return run.execute(ctx, src)
}

// apiKey resolves the key, which only offline runs may go without.
func (a *app) apiKey(cfg *config.Config, offline bool) (secret.String, error) {
	if a.apiKeyFlag != "" {
		fmt.Fprintln(a.io.Err, "vex: warning: a key given with -k is saved in your shell history and readable by other local users in the process list while vex runs; prefer VT_API_KEY or 'vex config --set-api-key'")
	}
	key, _, err := config.ResolveAPIKey(a.apiKeyFlag, a.env.Getenv, cfg)
	if err != nil && !errors.Is(err, config.ErrNoAPIKey) {
		return secret.String{}, &ExitError{Code: ExitConfig, Err: err}
	}
	if key.IsZero() && !offline {
		return key, &ExitError{
			Code: ExitConfig,
			Err:  errors.New("no VirusTotal API key configured"),
			Hint: noKeyHint,
		}
	}
	return key, nil
}

// apiKeyOrOffline is apiKey for triage and investigate, whose hint may offer
// --offline; serve and watchlist runs have no such flag.
func (a *app) apiKeyOrOffline(cfg *config.Config, offline bool) (secret.String, error) {
	key, err := a.apiKey(cfg, offline)
	var ee *ExitError
	if errors.As(err, &ee) && ee.Hint == noKeyHint {
		ee.Hint += ", or use --offline to answer from the cache"
	}
	return key, err
}

// noKeyHint is the hint of a run that needs a key and has none.
const noKeyHint = "run 'vex config --set-api-key' or set VT_API_KEY"
