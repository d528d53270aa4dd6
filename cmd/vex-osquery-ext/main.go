// Command vex-osquery-ext is the vex osquery extension (installed as
// vex.ext): it serves the vex_triage, vex_investigate, vex_tags and
// vex_watchlist tables to osqueryd over its extension socket.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	vexosquery "github.com/vex-ioc/vex/adapters/osquery"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
)

// version is set at build time by mk/osquery.mk with -ldflags -X.
var version = "dev"

func main() {
	// osqueryd stops extensions with SIGTERM; SIGINT covers a run by hand.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	home, _ := os.UserHomeDir()
	code := vexosquery.Main(ctx, os.Args[1:], vexosquery.Env{
		Getenv:     os.Getenv,
		Home:       home,
		Stderr:     os.Stderr,
		Version:    version,
		OpenEngine: openEngine,
	})
	stop()
	os.Exit(code)
}

func openEngine(ctx context.Context, cfg *config.Config, key secret.String, local enrich.LocalStore, logger *slog.Logger) (vexosquery.Engine, func() error, error) {
	e, err := enrich.Open(ctx, cfg, key, enrich.OpenOptions{Logger: logger, UserAgent: "vex/" + version, KB: local})
	if err != nil {
		return nil, nil, err
	}
	return e, e.Close, nil
}
