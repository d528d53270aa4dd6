// Command vex-osquery-ext is the vex osquery extension (installed as
// vex.ext): it serves the vex_triage, vex_tags and vex_watchlist tables to
// osqueryd over its extension socket.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vex-ioc/vex/adapters/cli"
	vexosquery "github.com/vex-ioc/vex/adapters/osquery"
)

func main() {
	// osqueryd stops extensions with SIGTERM; SIGINT covers a run by hand.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	home, _ := os.UserHomeDir()
	code := vexosquery.Main(ctx, os.Args[1:], vexosquery.Env{
		Getenv:  os.Getenv,
		Home:    home,
		Stderr:  os.Stderr,
		Version: version,
		OpenEngine: func(ctx context.Context, cfg *config.Config, key secret.String, local enrich.LocalStore, logger *slog.Logger) (vexosquery.Engine, func() error, error) {
			e, err := enrich.Open(ctx, cfg, key, enrich.OpenOptions{Logger: logger, UserAgent: "vex/" + version, KB: local})
			if err != nil {
				return nil, nil, err
			}
			return e, e.Close, nil
		},
	})
	stop()
	os.Exit(code)
}
