// Command vexbench runs the vex benchmark suite (rows P1 to P7) side by side
// with the peers users would pick instead, and rewrites docs/benchmarks.md
// with the figures. `make bench` builds the binaries, installs the Python
// peers into a virtual environment and runs it; see bench/run.sh.
//
// Every server it talks to is one it starts itself on 127.0.0.1: the fake
// VirusTotal (core/vt/vttest), a fake splunkd, a fake osquery manager, a
// redis-server and the vex gateway. Nothing reaches the network.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// env is what every row needs: where the binaries and peers are, a scratch
// folder, and how much work to do.
type env struct {
	bin    string // folder with vex, vex-splunk-cmd, vex-osquery-ext, vex-vtfake and splunkpass
	python string // the venv's python with the peers installed; empty when there is none
	peers  string // folder of the Python peer drivers
	work   string // scratch folder, removed at the end
	quick  bool   // small inputs and few runs, to check the harness itself
	log    *slog.Logger
}

// path returns the path of a built binary.
func (e *env) path(name string) string { return filepath.Join(e.bin, name) }

// pick returns full in a real run and quick in a quick run.
func pick[T any](e *env, full, quick T) T {
	if e.quick {
		return quick
	}
	return full
}

// rowFunc measures one row. A returned error marks the row as not measured
// and is shown in the table as the reason.
type rowFunc func(ctx context.Context, e *env) (row, error)

type rowSpec struct {
	id   string
	what string
	run  rowFunc
}

var rows = []rowSpec{
	{"P1", "Splunk `| vex` events/s, 1M events, warm cache", runP1},
	{"P2", "batch triage of 600 IOCs at 1,000 requests/min", runP2},
	{"P3", "osquery `ioc IN (...)` and single lookups", runP3},
	{"P4", "extraction MB/s on 100 MB of mixed text", runP4},
	{"P5", "vex-splunk-cmd start-up and peak RSS", runP5},
	{"P6", "cache lookup latency with 1,000,000 entries", runP6},
	{"P7", "`vex serve` cache hits over loopback", runP7},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	var (
		e       env
		out     string
		only    string
		jsonOut string
	)
	flag.StringVar(&e.bin, "bin", "bin", "`folder` of the built binaries")
	flag.StringVar(&e.python, "python", "", "`path` of the Python interpreter with the peers installed; empty skips the Python peers")
	flag.StringVar(&e.peers, "peers", "bench/peers", "`folder` of the Python peer drivers")
	flag.StringVar(&out, "out", "docs/benchmarks.md", "Markdown `file` to rewrite; its extraction section is kept")
	flag.StringVar(&jsonOut, "json", "", "also write the rows as JSON to this `file`")
	flag.StringVar(&only, "rows", "", "comma-separated row ids to run, e.g. P1,P4; empty runs all")
	flag.BoolVar(&e.quick, "quick", false, "small inputs and few runs: checks the harness, the figures mean little")
	flag.Parse()

	e.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	work, err := os.MkdirTemp("", "vexbench")
	if err != nil {
		e.log.Error("create scratch folder", "error", err)
		return 1
	}
	defer os.RemoveAll(work)
	e.work = work
	if e.bin, err = filepath.Abs(e.bin); err != nil {
		e.log.Error("resolve -bin", "error", err)
		return 1
	}
	if e.peers, err = filepath.Abs(e.peers); err != nil {
		e.log.Error("resolve -peers", "error", err)
		return 1
	}

	m := describeMachine(ctx)
	var results []row
	for _, spec := range rows {
		if only != "" && !containsID(only, spec.id) {
			continue
		}
		e.log.Info("row start", "id", spec.id)
		start := time.Now()
		dir := filepath.Join(work, spec.id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			e.log.Error("create row folder", "id", spec.id, "error", err)
			return 1
		}
		re := e
		re.work = dir
		r, err := spec.run(ctx, &re)
		r.ID, r.What = spec.id, spec.what
		if err != nil {
			e.log.Error("row failed", "id", spec.id, "error", err)
			r.Met = "not measured"
			r.Why = err.Error()
		}
		r.Elapsed = time.Since(start)
		e.log.Info("row done", "id", spec.id, "met", r.Met, "elapsed", r.Elapsed.Round(time.Second))
		results = append(results, r)
		os.RemoveAll(dir)
		if ctx.Err() != nil {
			break
		}
	}
	m.LoadAfter = loadAverage()

	if jsonOut != "" {
		if err := writeJSON(jsonOut, m, results); err != nil {
			e.log.Error("write JSON results", "path", jsonOut, "error", err)
			return 1
		}
	}
	if err := writeMarkdown(out, m, results, e.quick); err != nil {
		e.log.Error("write benchmark page", "path", out, "error", err)
		return 1
	}
	e.log.Info("benchmark page written", "path", out, "rows", len(results))
	return 0
}

func containsID(list, id string) bool {
	for _, s := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(s), id) {
			return true
		}
	}
	return false
}
