// Package cli implements the vex terminal commands on top of core.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes. Findings and failures get distinct codes below 126 so shells
// and schedulers can branch on them; an interrupted run gets 130, the code
// a shell reports for SIGINT.
const (
	ExitOK         = 0  // every result CLEAN or UNKNOWN
	ExitSuspicious = 1  // worst result SUSPICIOUS
	ExitMalicious  = 2  // worst result MALICIOUS
	ExitIncomplete = 3  // some IOCs not enriched and nothing SUSPICIOUS or worse
	ExitUsage      = 64 // bad flags or arguments (sysexits EX_USAGE)
	ExitIOError    = 74 // output, export or knowledge base could not be written (sysexits EX_IOERR)
	ExitConfig     = 78 // no API key, bad config, rejected key (sysexits EX_CONFIG)
	// ExitInterrupted ends a lookup run stopped by SIGINT or SIGTERM, as a
	// shell reports a command killed by SIGINT, whatever the results
	// printed before: a script must not read a half run as finished.
	ExitInterrupted = 130
)

// Version and Commit are set at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
)

// IO is the set of streams a command uses. Tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer // data only
	Err    io.Writer // banner, progress, warnings, errors
	InTTY  bool
	OutTTY bool
	ErrTTY bool
	// Width is the terminal width of Out in columns, or 0 when unknown.
	Width int
}

// Env is the process environment, injected so tests control it.
type Env struct {
	Getenv func(string) string
	Home   string // the user's home directory, for ~/.vex
	Now    func() time.Time
}

// ExitError carries an exit code and the error that caused it.
type ExitError struct {
	Code int
	Err  error
	Hint string // one actionable line for the user, or empty
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

func usageErr(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// app is the state shared by all subcommands of one run.
type app struct {
	io     IO
	env    Env
	logger *slog.Logger
	// exit is the findings code a command sets when it finishes without error.
	exit int
	// Global flags, registered by addGlobalFlags.
	configPath string // -c/--config
	apiKeyFlag string // -k/--api-key
	quiet      bool   // -q/--quiet
}

// Run executes the vex command line in args (without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, streams IO, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	a := &app{io: streams, env: env}
	a.logger = slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: logLevel(env.Getenv("VEX_LOG"))}))

	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)

	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return a.exit
	}
	return a.report(cmd, err)
}

func (a *app) report(cmd *cobra.Command, err error) int {
	var ee *ExitError
	// Any other failure gets its own code: 1 and 2 mean findings, so a
	// failed write must not look like a SUSPICIOUS result to a script.
	code := ExitIOError
	if errors.As(err, &ee) {
		code = ee.Code
	} else if isFlagError(err) {
		code = ExitUsage
	}
	fmt.Fprintf(a.io.Err, "vex: %v\n", err)
	if ee != nil && ee.Hint != "" {
		fmt.Fprintf(a.io.Err, "hint: %s\n", ee.Hint)
	}
	// Data errors (no such note, an invalid IOC) are usage errors too, but
	// only a malformed command line calls for the help text.
	if isFlagError(err) {
		path := "vex"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(a.io.Err, "Run '%s --help' for usage.\n", path)
	}
	return code
}

// flagError marks errors that cobra reports for bad flags or arguments.
type flagError struct{ error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

// markArgErrors makes the argument validators of cmd and its subcommands
// report flagError, so bad arguments exit with ExitUsage.
func markArgErrors(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		markArgErrors(c)
	}
	if cmd.Args == nil || !cmd.HasParent() {
		return
	}
	check := cmd.Args
	cmd.Args = func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return flagError{err}
		}
		return nil
	}
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelWarn
	}
	return l
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vex",
		Short: "Enrich indicators of compromise with VirusTotal",
		Long: `vex enriches indicators of compromise (file hashes, IPv4 and IPv6
addresses, domains and URLs) with VirusTotal API v3 data.

Exit codes of triage and investigate:
  0   every result CLEAN or UNKNOWN
  1   worst result SUSPICIOUS
  2   worst result MALICIOUS
  3   some IOCs could not be enriched and nothing is SUSPICIOUS or worse
  64  usage error
  74  an input file could not be read, or the output, an export or the
      knowledge base could not be written or used
  78  configuration error (no API key, bad config, key rejected)
  130 interrupted before every IOC was answered (Ctrl-C, SIGTERM)

Environment:
  VT_API_KEY       VirusTotal API key (after -k, before the config file)
  VEX_VT_BASE_URL  API base URL, e.g. a vex serve gateway or a fake
  VEX_CONFIG       config file path (default ~/.vex/config.toml)
  VEX_LOG          log level on stderr: debug, info, warn (default), error
  NO_COLOR         disable colour`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError{err} })
	a.addGlobalFlags(root)
	root.AddCommand(a.subcommands()...)

	// Without these, an unknown command or a wrong argument count would be
	// a plain error and exit like a failed write instead of a usage error.
	root.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return flagError{fmt.Errorf("unknown command %q", args[0])}
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	markArgErrors(root)
	return root
}

func versionString() string {
	commit := Commit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("vex %s (commit %s, %s, %s/%s)", Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the vex version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(a.io.Out, versionString())
			return err
		},
	}
}
