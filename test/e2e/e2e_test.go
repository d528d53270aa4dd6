// Package e2e builds the vex binary and runs it as separate processes
// against a fake VirusTotal on loopback, for what in-process tests cannot
// show: processes sharing one data directory, and real signals.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

const apiKey = "e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0"

var (
	buildOnce sync.Once
	vexBin    string
	buildErr  error
)

// vexBinary builds cmd/vex once per test run.
func vexBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vex-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		vexBin = filepath.Join(dir, "vex")
		cmd := exec.Command("go", "build", "-o", vexBin, "./cmd/vex")
		cmd.Dir = fixtures.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vex: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return vexBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if vexBin != "" {
		os.RemoveAll(filepath.Dir(vexBin))
	}
	os.Exit(code)
}

// home is a config file and data directory for vex processes.
type home struct {
	dir    string
	config string
	fake   *vttest.Server
}

func newHome(t *testing.T, fake *vttest.Server, perMinute, perDay int) home {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("[api]\ntier = \"premium\"\nper_minute = %d\nper_day = %d\n\n[cache]\ndata_dir = %q\n",
		perMinute, perDay, filepath.Join(dir, "data"))
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return home{dir: dir, config: config, fake: fake}
}

// command returns a vex process for args with only the variables it needs.
func (h home) command(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, vexBinary(t), args...)
	cmd.Env = []string{
		"HOME=" + h.dir,
		"PATH=" + os.Getenv("PATH"),
		"VT_API_KEY=" + apiKey,
		"VEX_VT_BASE_URL=" + h.fake.URL(),
		"VEX_CONFIG=" + h.config,
	}
	return cmd
}

type procResult struct {
	code           int
	stdout, stderr string
}

func wait(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) procResult {
	t.Helper()
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("vex did not exit: %v\nstderr:\n%s", err, stderr)
	}
	return procResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func startFake(t *testing.T, opts vttest.Options) *vttest.Server {
	t.Helper()
	opts.APIKey = apiKey
	fake := vttest.New(opts)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	return fake
}

func parseNDJSON(t *testing.T, stdout string) []enrich.Result {
	t.Helper()
	var out []enrich.Result
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r enrich.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stdout line is not a JSON result: %v\n%s", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// hashes returns n distinct SHA-256 values starting at base.
func hashes(base, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%064x", base+i))
	}
	return out
}

// startTriage starts vex triage on inputs with NDJSON output.
func startTriage(ctx context.Context, t *testing.T, h home, inputs []string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := h.command(ctx, t, append([]string{"triage", "-o", "ndjson"}, inputs...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

func TestTwoProcessesShareDailyQuota(t *testing.T) {
	// Unknown hashes get 404 from the fake: not found, so UNKNOWN, which
	// keeps the exit code at 3 for the IOCs the quota left out.
	fake := startFake(t, vttest.Options{})
	h := newHome(t, fake, 1000, 8)
	ctx := context.Background()

	a, aOut, aErr := startTriage(ctx, t, h, hashes(0x1000, 10))
	b, bOut, bErr := startTriage(ctx, t, h, hashes(0x2000, 10))
	results := []procResult{wait(t, a, aOut, aErr), wait(t, b, bOut, bErr)}

	if n := fake.Count(""); n != 8 {
		t.Errorf("fake received %d requests from both processes, want the daily quota of 8", n)
	}
	statuses := map[enrich.Status]int{}
	for i, r := range results {
		if r.code != 3 {
			t.Errorf("process %d: exit %d, want 3; stderr:\n%s", i, r.code, r.stderr)
		}
		got := parseNDJSON(t, r.stdout)
		if len(got) != 10 {
			t.Errorf("process %d: %d results, want 10", i, len(got))
		}
		for _, res := range got {
			statuses[res.Status]++
		}
	}
	if statuses[enrich.StatusNotFound] != 8 || statuses[enrich.StatusQuota] != 12 {
		t.Errorf("statuses %v, want 8 not_found and 12 quota_exhausted", statuses)
	}
}

func TestTwoProcessesSharePerMinuteLimit(t *testing.T) {
	// 4 requests a minute and 6 distinct IOCs: the first 4 go out at once
	// and the other 2 must wait for the window, whichever process holds
	// them. After a few seconds both are interrupted.
	const perMinute = 4
	fake := startFake(t, vttest.Options{RPM: perMinute})
	h := newHome(t, fake, perMinute, 500)
	ctx := context.Background()

	a, aOut, aErr := startTriage(ctx, t, h, hashes(0x3000, 3))
	b, bOut, bErr := startTriage(ctx, t, h, hashes(0x4000, 3))
	deadline := time.Now().Add(20 * time.Second)
	for fake.Count("") < perMinute && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Give a limiter that is not shared time to send more.
	time.Sleep(2 * time.Second)
	for _, p := range []*exec.Cmd{a, b} {
		if err := p.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	results := []procResult{wait(t, a, aOut, aErr), wait(t, b, bOut, bErr)}

	reqs := fake.Requests()
	if len(reqs) != perMinute {
		t.Errorf("fake received %d requests in the first minute, want %d", len(reqs), perMinute)
	}
	for _, q := range reqs {
		if q.Status == 429 {
			t.Errorf("request %s got 429: the processes exceeded the limit together", q.Path)
		}
	}
	statuses := map[enrich.Status]int{}
	for i, r := range results {
		got := parseNDJSON(t, r.stdout)
		if len(got) != 3 {
			t.Errorf("process %d: %d results after SIGINT, want all 3:\n%s", i, len(got), r.stdout)
		}
		cancelled := 0
		for _, res := range got {
			statuses[res.Status]++
			if res.Status == enrich.StatusCancelled {
				cancelled++
			}
		}
		// A process whose lookups all finished before the signal exits 0.
		wantCode := 0
		if cancelled > 0 {
			wantCode = 130
			if !strings.Contains(r.stderr, "interrupted") {
				t.Errorf("process %d: stderr does not say it was interrupted:\n%s", i, r.stderr)
			}
		}
		if r.code != wantCode {
			t.Errorf("process %d: exit %d with %d cancelled, want %d; stderr:\n%s", i, r.code, cancelled, wantCode, r.stderr)
		}
	}
	if statuses[enrich.StatusNotFound] != perMinute || statuses[enrich.StatusCancelled] != 2 {
		t.Errorf("statuses %v, want %d not_found and 2 cancelled", statuses, perMinute)
	}
}

// extracted returns the distinct type:normalized values vex extract finds
// in file.
func extracted(t *testing.T, h home, file string) map[string]bool {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := h.command(context.Background(), t, "extract", "-o", "ndjson", file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vex extract %s: %v\n%s", file, err, stderr.String())
	}
	set := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var rec struct{ Type, Normalized string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("vex extract line: %v\n%s", err, sc.Text())
		}
		set[rec.Type+":"+rec.Normalized] = true
	}
	return set
}

// withoutComments copies file without the lines that triage skips as
// comments (those starting with #), for vex extract, which reads every line.
func withoutComments(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformanceVendorLists(t *testing.T) {
	dir := fixtures.Dir(t, "iocs")
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "PROVENANCE.md" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no IOC lists under %s", dir)
	}
	fake := startFake(t, vttest.Options{Synthesize: true})

	for _, file := range files {
		rel, _ := filepath.Rel(dir, file)
		t.Run(rel, func(t *testing.T) {
			h := newHome(t, fake, 100000, 1000000)
			want := extracted(t, h, withoutComments(t, file))

			var stdout, stderr bytes.Buffer
			cmd := h.command(context.Background(), t, "triage", "-o", "ndjson", "-f", file)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := wait(t, cmd, &stdout, &stderr)

			if r.code < 0 || r.code > 3 {
				t.Fatalf("exit %d, want 0 to 3; stderr:\n%s", r.code, r.stderr)
			}
			results := parseNDJSON(t, r.stdout)
			got := map[string]bool{}
			statuses := map[enrich.Status]int{}
			for _, res := range results {
				statuses[res.Status]++
				switch res.Status {
				case enrich.StatusOK, enrich.StatusNotFound, enrich.StatusNonRoutable:
					got[string(res.Type)+":"+res.Normalized] = true
				case enrich.StatusInvalid:
					if res.Error == "" {
						t.Errorf("invalid input %q has no reason", res.Input)
					}
				default:
					t.Errorf("input %q: status %s (%s), want enriched, not found, non-routable or invalid",
						res.Input, res.Status, res.Error)
				}
			}
			for k := range want {
				if !got[k] {
					t.Errorf("vex extract found %s but triage did not enrich it", k)
				}
			}
			for k := range got {
				if !want[k] {
					t.Errorf("triage enriched %s, which vex extract does not list", k)
				}
			}
			if len(got) != len(want) {
				t.Errorf("triage accounted for %d distinct indicators, vex extract found %d", len(got), len(want))
			}
			t.Logf("%d results, %d distinct indicators, statuses %v", len(results), len(got), statuses)
		})
	}
}
