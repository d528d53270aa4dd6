package hardening

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// Memory bounds of `vex triage --offline` over a long IOC file, as peak
// resident set of the vex process. A batch keeps a window of in-flight
// inputs and the last 8192 results, so memory does not grow with the
// number of lines. It also keeps one key per distinct IOC for
// de-duplication, about 185 bytes each: 1,000,000 distinct IOCs peaked at
// 226 MiB, measured once by hand on a shared 2-core machine.
var memoryCases = []struct {
	name     string
	lines    int
	distinct int
	maxRSS   int64
}{
	{"million_lines", 1_000_000, 4096, 96 << 20},
	{"200k_distinct", 200_000, 200_000, 128 << 20},
}

// TestLongFileBoundedMemory streams long IOC files through the vex binary
// and measures the child's peak RSS with getrusage.
func TestLongFileBoundedMemory(t *testing.T) {
	for _, mc := range memoryCases {
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			checkStreamingMemory(t, mc.lines, mc.distinct, mc.maxRSS)
		})
	}
}

func checkStreamingMemory(t *testing.T, lines, distinct int, maxRSS int64) {
	fake := startFake(t, vttest.Options{})
	h := newHome(t, fake.URL(), apiConfig{})
	list := filepath.Join(h.dir, "iocs.txt")
	f, err := os.Create(list)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range lines {
		fmt.Fprintf(w, "h%07d.example.com\n", i%distinct)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "vex"), "triage", "--offline", "-o", "csv", "-f", list)
	cmd.Env = h.processEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// getrusage's ru_maxrss of a child can report the parent's size from
	// before exec, so the child's own high-water mark VmHWM is polled from
	// /proc while it runs. It only grows, so the last read is the peak up
	// to the last 20 ms of the run.
	var peak int64
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			hwm, err := vmHWM(cmd.Process.Pid)
			if err != nil {
				return
			}
			peak = max(peak, hwm)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	got := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		got++
	}
	<-polled
	err = cmd.Wait()
	elapsed := time.Since(start)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("vex exited with %v, want exit code 3 (nothing cached); stderr:\n%.2000s", err, errOut.String())
	}
	// The CSV output has a header line.
	if got != lines+1 {
		t.Errorf("%d output lines, want %d", got, lines+1)
	}
	t.Logf("%d lines, %d distinct: %s, peak RSS %d MiB", lines, distinct, elapsed.Round(time.Second), peak>>20)
	if peak > maxRSS {
		t.Errorf("peak RSS %d MiB, want at most %d MiB", peak>>20, maxRSS>>20)
	}
	if n := fake.Count(""); n != 0 {
		t.Errorf("--offline sent %d requests, want 0", n)
	}
}

// vmHWM returns the peak resident set of a running process, in bytes, from
// the VmHWM line of /proc/<pid>/status. It fails once the process has
// exited.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", rest, err)
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status (a zombie has none)", pid)
}

// TestLongLineRejected puts a 10 MB line second in an IOC file. The line
// is skipped with its number on stderr, the batch goes on, and the exit
// code says the run was incomplete.
func TestLongLineRejected(t *testing.T) {
	fake := startFake(t, vttest.Options{})
	h := newHome(t, fake.URL(), apiConfig{})
	list := filepath.Join(h.dir, "long.txt")
	text := "example.com\n" + strings.Repeat("a", 10<<20) + "\n8.8.8.8\n"
	if err := os.WriteFile(list, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, "", nil, "triage", "-o", "ndjson", "-f", list)
	results := parseNDJSON(t, res.stdout)
	want := expectedExit(results)
	if want == 0 {
		want = 3 // a skipped line makes a clean run incomplete
	}
	if res.code != want {
		t.Errorf("exit code %d, want %d", res.code, want)
	}
	if !strings.Contains(res.stderr, "long.txt:2: line longer than") {
		t.Errorf("stderr does not name line 2:\n%.500s", res.stderr)
	}
	if len(res.stderr) > 4096 {
		t.Errorf("stderr is %d bytes; it must not echo the line", len(res.stderr))
	}
	// The lines before and after the long one get their results.
	if len(results) != 2 || results[0].Input != "example.com" || results[1].Input != "8.8.8.8" {
		t.Errorf("results %+v, want example.com and 8.8.8.8", results)
	}
}

// TestHugeBodyRejected serves a 40 MiB success body, beyond the client's
// 32 MiB limit, and checks the CLI fails that IOC without caching it.
func TestHugeBodyRejected(t *testing.T) {
	fake := startFake(t, vttest.Options{})
	body := append([]byte(`{"data":{"type":"domain","id":"huge.example.com","attributes":{"tags":["`), bytes.Repeat([]byte("x"), 40<<20)...)
	body = append(body, `"]}}}`...)
	fake.Inject(vttest.Fault{Match: "/domains/huge.example.com", Kind: vttest.Status, Status: http.StatusOK, Body: body})
	h := newHome(t, fake.URL(), apiConfig{})

	res := h.run(t, "", nil, "triage", "-o", "ndjson", "huge.example.com", "example.com")
	results := parseNDJSON(t, res.stdout)
	if len(results) != 2 {
		t.Fatalf("%d results, want 2; stderr:\n%s", len(results), res.stderr)
	}
	if r := results[0]; r.Status != enrich.StatusFailed || !strings.Contains(r.Error, "too large") {
		t.Errorf("huge body: status %q, error %q; want failed, too large", r.Status, r.Error)
	}
	if results[1].Status != enrich.StatusOK {
		t.Errorf("example.com: status %q, want ok", results[1].Status)
	}
	if want := expectedExit(results); res.code != want {
		t.Errorf("exit code %d, want %d", res.code, want)
	}
	if n := fake.Count("/domains/huge.example.com"); n != 1 {
		t.Errorf("%d requests for the huge body, want 1: a body over the limit is not retried", n)
	}
	checkCache(t, h, results)
}
