package osquery

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/secret"
)

// Exit codes of the extension binary.
const (
	ExitOK     = 0
	ExitFailed = 1  // osquery could not be reached, or went away for good
	ExitUsage  = 64 // unknown flag or bad flag value
	ExitConfig = 78 // bad config file, no API key
)

// SystemConfigPath is where the extension looks for its config file when
// neither --config nor VEX_CONFIG is set. osqueryd runs autoloaded
// extensions as root with only its own flags, so a system-wide path comes
// before ~/.vex/config.toml.
const SystemConfigPath = "/etc/vex/config.toml"

// DefaultReconnect is how long the extension keeps trying to register
// again after osquery went away, which covers an osqueryd restart.
const DefaultReconnect = 5 * time.Minute

// Env is the process environment the extension binary reads.
type Env struct {
	Getenv  func(string) string
	Home    string    // the user's home directory, may be empty
	Stderr  io.Writer // logs; stdout is never written
	Version string
	// OpenEngine builds the enrichment engine from the config; main wires
	// it to enrich.Open. The returned func releases the engine.
	OpenEngine func(ctx context.Context, cfg *config.Config, key secret.String, local enrich.LocalStore, logger *slog.Logger) (Engine, func() error, error)
}

// extensionHelp heads the --help output.
const extensionHelp = `vex-osquery-ext (installed as vex.ext) is the vex osquery extension: it adds
the tables vex_triage, vex_investigate, vex_tags and vex_watchlist to
osqueryd, which autoloads it and passes --socket, --timeout and --interval.
To try it by hand, give the socket of a running osqueryd:

    vex.ext --socket /var/osquery/osquery.em

then query it, e.g. SELECT * FROM vex_triage WHERE ioc = '8.8.8.8';
packaging/osquery/README.md covers installation and autoload.

Flags:
`

// Main runs the extension binary with args (without the program name) and
// returns its exit code. It accepts the flags osquery passes to an
// autoloaded extension (--socket, --timeout, --interval, --verbose) and
// --config. The API key comes from the config file or VT_API_KEY, never
// from the command line, which other users can read in the process list.
func Main(ctx context.Context, args []string, env Env) int {
	fset := flag.NewFlagSet("vex.ext", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	socket := fset.String("socket", "", "path of osquery's extension manager socket (osquery passes it)")
	timeout := fset.Int("timeout", 3, "seconds to wait for the osquery socket")
	interval := fset.Int("interval", 3, "seconds between checks that osquery is still there")
	verbose := fset.Bool("verbose", false, "log at debug level")
	configPath := fset.String("config", "", "vex config file (default $VEX_CONFIG, then "+SystemConfigPath+", then ~/.vex/config.toml)")
	fset.Usage = func() {
		fmt.Fprintf(fset.Output(), "%s", extensionHelp)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})).With("component", "vex-osquery-ext")

	switch {
	case fset.NArg() > 0:
		logger.Error("unexpected arguments; the extension takes flags only", "count", fset.NArg())
		return ExitUsage
	case *socket == "":
		logger.Error("missing --socket: osquery passes it when it autoloads the extension; to run it by hand, give osqueryd's --extensions_socket path")
		return ExitUsage
	case *timeout <= 0 || *interval <= 0:
		logger.Error("invalid --timeout or --interval: use a positive number of seconds", "timeout", *timeout, "interval", *interval)
		return ExitUsage
	}

	cfg, err := loadConfig(*configPath, env)
	if err != nil {
		logger.Error("load config", "error", err)
		return ExitConfig
	}
	opt := Options{
		Socket:         *socket,
		ConnectTimeout: time.Duration(*timeout) * time.Second,
		PingInterval:   time.Duration(*interval) * time.Second,
		Reconnect:      DefaultReconnect,
		Settings:       Settings{Timeout: cfg.Osquery.Timeout, MaxIOCs: cfg.Osquery.MaxIOCs, Concurrency: DefaultConcurrency},
		Version:        env.Version,
		Logger:         logger,
	}
	if err := opt.Settings.Validate(); err != nil {
		logger.Error("invalid config", "path", cfg.Path, "error", err)
		return ExitConfig
	}

	closeAll, code := openBackends(ctx, cfg, env, logger, &opt)
	defer closeAll()
	if code != ExitOK {
		return code
	}

	if err := Run(ctx, opt); err != nil {
		logger.Error("extension stopped", "error", err)
		return ExitFailed
	}
	return ExitOK
}

// openBackends opens the knowledge base and the engine. A knowledge base
// that cannot be opened leaves vex_tags and vex_watchlist out instead of
// stopping the extension.
func openBackends(ctx context.Context, cfg *config.Config, env Env, logger *slog.Logger, opt *Options) (func(), int) {
	var closers []func() error
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}

	var local enrich.LocalStore
	if k, err := kb.Open(ctx, cfg.KBPath(), kb.Options{}); err != nil {
		logger.Warn("knowledge base unavailable; vex_tags and vex_watchlist are not served", "path", cfg.KBPath(), "error", err)
	} else {
		closers = append(closers, k.Close)
		opt.KB = k
		local = k
	}

	key, source, err := config.ResolveAPIKey("", env.Getenv, cfg)
	if err != nil {
		logger.Error("no VirusTotal API key", "error", err, "hint", "set api.key in the config file (mode 0600) or VT_API_KEY in the service environment")
		return closeAll, ExitConfig
	}
	// Log where the key came from, never the key.
	logger.Info("starting", "config", cfg.Path, "data_dir", cfg.Cache.DataDir, "api_key_from", string(source), "api_key", key.Masked())

	engine, closeEngine, err := env.OpenEngine(ctx, cfg, key, local, logger)
	if err != nil {
		logger.Error("open the enrichment engine", "error", err)
		return closeAll, ExitConfig
	}
	closers = append(closers, closeEngine)
	opt.Engine = engine
	return closeAll, ExitOK
}

// loadConfig reads the config file: --config, then $VEX_CONFIG, then the
// system path, then ~/.vex/config.toml. The first two must exist; the
// others are used when present, and the built-in defaults otherwise.
func loadConfig(flagPath string, env Env) (*config.Config, error) {
	path := flagPath
	if path == "" {
		path = env.Getenv("VEX_CONFIG")
	}
	explicit := path != ""
	if !explicit {
		candidates := []string{SystemConfigPath}
		if env.Home != "" {
			candidates = append(candidates, config.DefaultPath(env.Home))
		}
		for _, c := range candidates {
			if _, err := os.Stat(c); err == nil {
				path = c
				break
			}
		}
	}

	var cfg *config.Config
	if path == "" {
		cfg = config.DefaultFor(env.Home)
		if env.Home == "" {
			return nil, errors.New("no config file found and no home directory for the data directory: create " + SystemConfigPath + " with [cache] data_dir set")
		}
	} else {
		c, err := config.Load(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && explicit {
				return nil, fmt.Errorf("config file %s not found: %w", path, err)
			}
			return nil, err
		}
		cfg = c
		cfg.ExpandHome(env.Home)
	}
	if err := cfg.ApplyEnv(env.Getenv); err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(cfg.Cache.DataDir); err == nil {
		cfg.Cache.DataDir = abs
	}
	return cfg, nil
}
