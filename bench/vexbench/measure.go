package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// procResult is the cost of one finished process.
type procResult struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes, from getrusage
}

// procSpec describes one process run.
type procSpec struct {
	Path   string
	Args   []string
	Env    []string  // nil inherits the harness's environment
	Stdin  string    // file to read as stdin; empty means none
	Stdout io.Writer // nil discards
}

// runProc runs one process to completion and measures it. stderr is kept
// and its end is shown in the error when the process fails.
func runProc(ctx context.Context, p procSpec) (procResult, error) {
	cmd := exec.CommandContext(ctx, p.Path, p.Args...)
	cmd.Env = p.Env
	if p.Stdin != "" {
		f, err := os.Open(p.Stdin)
		if err != nil {
			return procResult{}, fmt.Errorf("open stdin of %s: %w", p.Path, err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	cmd.Stdout = p.Stdout
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr

	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		// A process that ran and exited non-zero still has its figures,
		// which callers that accept some exit codes use.
		var res procResult
		if cmd.ProcessState != nil {
			res = usage(cmd.ProcessState, wall)
		}
		return res, fmt.Errorf("run %s %s: %w; stderr ends: %s", p.Path, strings.Join(p.Args, " "), err, stderr.String())
	}
	return usage(cmd.ProcessState, wall), nil
}

func usage(ps *os.ProcessState, wall time.Duration) procResult {
	r := procResult{Wall: wall, CPU: ps.UserTime() + ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss * 1024 // Linux reports kilobytes
	}
	return r
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(bytes.ToValidUTF8(t.b, nil))) }

// median returns the middle value (the mean of the two middle values for
// an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method; 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// joinRuns formats every run's figure, so the spread is visible beside
// the median.
func joinRuns(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " / ")
}

// ms formats a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// metWhen returns "yes" or "no".
func metWhen(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// writeFile0600 writes a file that may hold a test key.
func writeFile0600(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}
