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
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vex-ioc/vex/adapters/splunk"
	"github.com/vex-ioc/vex/core/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})).With("component", "splunk")

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
