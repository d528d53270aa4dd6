package vttest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// RunCommand is the vex-vtfake program: it parses args, serves a fake
// VirusTotal until ctx ends, and returns the exit code (0 on a clean stop,
// 1 on a runtime error, 2 on a usage error). The base URL is the first line
// written to stdout; logs go to stderr.
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vex-vtfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vex-vtfake [flags]\n\nServes a fake VirusTotal API v3 for demos and integration tests.\nThe first line on stdout is the base URL; stop it with SIGINT or SIGTERM.\n\nflags:")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:0", "`host:port` to listen on; port 0 picks a free port")
	public := fs.Bool("public", false, "allow a non-loopback -addr, exposing the fake to the network")
	dir := fs.String("fixtures", "", "`folder` of VirusTotal JSON, with an optional INDEX.tsv")
	rpm := fs.Int("rpm", 0, "requests allowed per sliding minute; 0 means no limit (VirusTotal's free tier allows 4)")
	daily := fs.Int("daily", 0, "requests allowed per UTC day; 0 means no limit (free tier: 500)")
	seed := fs.Int64("seed", 0, "seed for synthesised objects")
	synth := fs.Bool("synthesize", false, "answer unknown files, IPs, domains and URLs with synthesised objects")
	latency := fs.Duration("latency", 0, "delay added to every answer, e.g. 200ms")
	key := fs.String("key", "", "accept only this x-apikey value; note that other users can read it from ps")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vex-vtfake: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *rpm < 0 || *daily < 0 || *latency < 0 {
		fmt.Fprintln(stderr, "vex-vtfake: -rpm, -daily and -latency must not be negative")
		return 2
	}
	if !*public {
		if err := CheckLoopback(*addr); err != nil {
			fmt.Fprintf(stderr, "vex-vtfake: %v; pass -public to listen there anyway\n", err)
			return 2
		}
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv := New(Options{
		FixturesDir: *dir, Synthesize: *synth, Seed: *seed, RPM: *rpm, DailyQuota: *daily,
		APIKey: *key, Latency: *latency, Logger: logger,
	})
	if err := srv.Listen(*addr); err != nil {
		logger.Error("fake virustotal failed to start", "error", err)
		return 1
	}
	if _, err := fmt.Fprintln(stdout, srv.URL()); err != nil {
		srv.Close()
		logger.Error("write base url to stdout", "error", err)
		return 1
	}
	logger.Info("fake virustotal listening", "url", srv.URL(), "routes", srv.Routes(),
		"synthesize", *synth, "rpm", *rpm, "daily", *daily)

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		logger.Error("fake virustotal stopped with an error", "error", err)
		return 1
	}
	logger.Info("fake virustotal stopped", "requests", srv.Count(""))
	return 0
}

// CheckLoopback returns an error unless addr's host is a loopback address
// or "localhost". An empty host means every interface, so it is rejected.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("listen address %q is not loopback", addr)
	}
	return nil
}
