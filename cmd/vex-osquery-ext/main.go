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
		Version: cli.Version,
	})
	stop()
	os.Exit(code)
}
