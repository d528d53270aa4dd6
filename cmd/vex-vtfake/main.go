// Command vex-vtfake serves a fake VirusTotal API v3 on loopback for demos
// and integration tests. See vex-vtfake -h.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vex-ioc/vex/core/vt/vttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := vttest.RunCommand(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
