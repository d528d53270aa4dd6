// Command vex-splunk-cmd is the vex custom search command for Splunk. splunkd
// starts it as <app>/<platform>/bin/vex and talks to it over stdin and stdout
// with the chunked protocol; the command logs to stderr, which splunkd keeps
// in the search's search.log.
//
// The vex configuration is $VEX_CONFIG, else ~/.vex/config.toml of the user
// splunkd runs as; without a file the defaults apply. The API key is never
// read from it: it comes from splunkd's storage/passwords.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/vex-ioc/vex/adapters/splunk"
	"github.com/vex-ioc/vex/core/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// help is printed for --help. splunkd starts the command without
// arguments, so any argument means a person ran it by hand.
const help = `vex-splunk-cmd is the vex custom search command for Splunk (installed as
<app>/linux_x86_64/bin/vex by the TA-vex app). splunkd starts it and speaks
the chunked protocol (SCP v2) with it over stdin and stdout; it is not run
by hand. In a search:

    ... | vex field=src_ip [mode=triage|investigate] [prefix=vt_]
          [offline=<bool>] [max_age=<duration>] [kvstore=<bool>] [timeout=<duration>]

The VirusTotal key comes from splunkd's storage/passwords (realm vex); the
rest of the configuration from $VEX_CONFIG or ~/.vex/config.toml of the user
splunkd runs as. See the app's README for installation.
`

func main() {
	if len(os.Args) > 1 {
		os.Exit(byHand(os.Args[1:]))
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		// splunkd always pipes stdin, so a terminal means a person.
		fmt.Fprintln(os.Stderr, "vex-splunk-cmd: waiting for splunkd's chunked protocol on stdin; Splunk starts this command for | vex (see --help, Ctrl-D to end)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

// byHand handles a run with arguments: it prints help or the version, or
// reports a usage error.
func byHand(args []string) int {
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Print(help)
		return 0
	case "-version", "--version", "version":
		fmt.Printf("vex-splunk-cmd %s\n", version)
		return 0
	}
	fmt.Fprintf(os.Stderr, "vex-splunk-cmd: unexpected argument %q: splunkd passes none; search arguments such as field= go after | vex in the search bar. See --help.\n", args[0])
	return 64
}

func run(ctx context.Context) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})).With("component", "splunk")
	log.Debug("go heap soft limit set", "memory_limit", setMemoryLimit(os.Getenv))

	cfg, cfgErr := loadConfig()
	if cfgErr != nil {
		// Keep going: Run replies to splunkd with the error, which then shows
		// under the search bar.
		log.Error("load vex config", "error", cfgErr)
	}
	s := setup{Config: cfg, UserAgent: "vex/" + version + " (splunk)", Logger: log}
	open := s.open
	if cfgErr != nil {
		open = func(context.Context, *splunk.SearchInfo, splunk.Args) (*splunk.Backend, error) { return nil, cfgErr }
	}

	// On SIGTERM the lookups stop through ctx, and closing stdin ends a
	// read that is waiting for splunkd, so the engine closes its files.
	go func() {
		<-ctx.Done()
		os.Stdin.Close()
	}()

	err := splunk.Run(ctx, os.Stdin, os.Stdout, splunk.Config{
		Open:      open,
		CacheKey:  splunk.IOCCacheKey,
		SharedTTL: ttl(cfg),
		Logger:    log,
	})
	if err != nil {
		return 1
	}
	return 0
}

// memoryLimit is the soft limit on the Go heap that the command sets when
// GOMEMLIMIT is not set, because splunkd starts one process per search and
// their memory adds up. The live heap is mostly the current chunk (its body,
// parsed fields and reply) and the fields kept per distinct value: 40 to
// 60 MB with chunks of 50,000 events (GODEBUG=gctrace=1 on
// BenchmarkWarmCache). Under GOGC=100 alone the heap grew to twice that
// before each collection, and peak RSS on 1,000,000 events was 110 to
// 160 MB. With this limit it was 85 MB, at the same events per second.
//
// NOTE: the limit is soft. A live heap above it, as with chunks much larger
// than 50,000 events, is not an error, but the collector then runs more
// often, up to the runtime's cap of about half the CPU.
const memoryLimit = 64 << 20

// setMemoryLimit applies memoryLimit unless the GOMEMLIMIT environment
// variable is set, which the runtime has applied already. It returns the
// limit in effect.
func setMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(memoryLimit)
	return memoryLimit
}

func loadConfig() (*config.Config, error) {
	home, _ := os.UserHomeDir()
	path := os.Getenv("VEX_CONFIG")
	explicit := path != ""
	if !explicit {
		path = config.DefaultPath(home)
	}
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		cfg, err = config.DefaultFor(home), nil
	}
	if err != nil {
		return nil, err
	}
	cfg.ExpandHome(home)
	if cfg.Cache.DataDir == "" {
		cfg.Cache.DataDir = config.DefaultDataDir(home)
	}
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return nil, err
	}
	return cfg, nil
}

func ttl(cfg *config.Config) time.Duration {
	if cfg == nil {
		return 0
	}
	return cfg.Cache.TTL
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("VEX_LOG"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
