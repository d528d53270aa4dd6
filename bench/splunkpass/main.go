// Command splunkpass is a Splunk chunked-protocol command that passes every
// event through unchanged, using the vex command's own protocol code
// (splunk.PassThrough). The benchmark runs it on the same stream as the vex
// command to measure the cost of enrichment against pure protocol work.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vex-ioc/vex/adapters/splunk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := splunk.PassThrough(ctx, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "splunkpass:", err)
		os.Exit(1)
	}
}
