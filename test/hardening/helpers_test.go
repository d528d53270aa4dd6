package hardening

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vex-ioc/vex/adapters/cli"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// testKey is the API key every test uses. It is long and distinctive so a
// leak shows up in a plain substring search of any output or file.
const testKey = "c0ffee5ecre7c0ffee5ecre7c0ffee5ecre7c0ffee5ecre7c0ffee5ecre7a1b2"

// binDir holds the binaries built for process-level tests.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// Most of these tests wait on sockets, timeouts and child processes
	// rather than use the CPU, so run more of them at once than the
	// default of GOMAXPROCS, unless -parallel was given.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}

	dir, err := os.MkdirTemp("", "vex-hardening-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by all, so a test can run a binary as another user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildMu    sync.Mutex
	buildOnce  = map[string]*sync.Once{}
	buildError = map[string]error{}
)

// binary builds ./cmd/name once per test run and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	once, ok := buildOnce[name]
	if !ok {
		once = &sync.Once{}
		buildOnce[name] = once
	}
	buildMu.Unlock()

	path := filepath.Join(binDir, name)
	once.Do(func() {
		cmd := exec.Command("go", "build", "-o", path, "github.com/vex-ioc/vex/cmd/"+name)
		out, err := cmd.CombinedOutput()
		buildMu.Lock()
		if err != nil {
			buildError[name] = fmt.Errorf("go build %s: %w\n%s", name, err, out)
		}
		buildMu.Unlock()
	})
	buildMu.Lock()
	err := buildError[name]
	buildMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// startFake starts a fake VirusTotal that synthesises objects and accepts
// only testKey.
func startFake(t *testing.T, opts vttest.Options) *vttest.Server {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	if opts.FixturesDir == "" {
		opts.Synthesize = true
	}
	fake := vttest.New(opts)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	return fake
}

// home is a vex home directory with a config file and a data directory.
type home struct {
	dir     string
	dataDir string
	config  string
	env     map[string]string
}

// apiConfig sets the [api] table of the config file newHome writes.
type apiConfig struct {
	perMinute   int    // default 100000
	perDay      int    // default 1000000
	concurrency int    // default 4
	maxRetries  int    // default 1; -1 writes 0
	timeout     string // default "2s"
	extra       string // more TOML appended to the file
}

// newHome writes a config for baseURL (the key is not in it: it comes
// from VT_API_KEY) and returns the environment a vex process needs.
func newHome(t *testing.T, baseURL string, c apiConfig) *home {
	t.Helper()
	if c.perMinute == 0 {
		c.perMinute = 100000
	}
	if c.perDay == 0 {
		c.perDay = 1000000
	}
	if c.concurrency == 0 {
		c.concurrency = 4
	}
	switch c.maxRetries {
	case 0:
		c.maxRetries = 1
	case -1:
		c.maxRetries = 0
	}
	if c.timeout == "" {
		c.timeout = "2s"
	}
	dir := t.TempDir()
	h := &home{dir: dir, dataDir: filepath.Join(dir, "data"), config: filepath.Join(dir, "config.toml")}
	// rate_limit_wait keeps a 429 without Retry-After from waiting the
	// 20 s a real per-minute window needs.
	text := fmt.Sprintf("[api]\nbase_url = %q\ntier = \"premium\"\nper_minute = %d\nper_day = %d\nconcurrency = %d\nmax_retries = %d\ntimeout = %q\nrate_limit_wait = \"1s\"\n\n[cache]\ndata_dir = %q\n%s",
		baseURL, c.perMinute, c.perDay, c.concurrency, c.maxRetries, c.timeout, h.dataDir, c.extra)
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{"VT_API_KEY": testKey, "VEX_CONFIG": h.config, "NO_COLOR": "1"}
	return h
}

// runResult is what one vex run produced.
type runResult struct {
	code   int
	stdout string
	stderr string
}

// run runs the vex CLI in-process with h's environment plus extra, where
// an empty value unsets a variable.
func (h *home) run(t *testing.T, stdin string, extra map[string]string, args ...string) runResult {
	t.Helper()
	return h.runCtx(t, context.Background(), stdin, extra, args...)
}

func (h *home) runCtx(t *testing.T, ctx context.Context, stdin string, extra map[string]string, args ...string) runResult {
	t.Helper()
	env := map[string]string{}
	for k, v := range h.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, cli.Env{
		Getenv: func(k string) string { return env[k] },
		Home:   h.dir,
	})
	return runResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// processEnv returns h's environment for a child process.
func (h *home) processEnv(extra ...string) []string {
	env := []string{"HOME=" + h.dir, "PATH=" + os.Getenv("PATH")}
	for k, v := range h.env {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// parseNDJSON decodes one result per line.
func parseNDJSON(t *testing.T, s string) []enrich.Result {
	t.Helper()
	var out []enrich.Result
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r enrich.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stdout line is not a JSON result: %v\n%.300s", err, sc.Text())
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectedExit applies the documented exit-code rule to results: the worst
// verdict wins, then any IOC not enriched gives 3.
func expectedExit(results []enrich.Result) int {
	worst, incomplete := 0, false
	for _, r := range results {
		switch r.Verdict {
		case verdict.Malicious:
			worst = max(worst, 2)
		case verdict.Suspicious:
			worst = max(worst, 1)
		}
		switch r.Status {
		case enrich.StatusOK, enrich.StatusNotFound, enrich.StatusNonRoutable:
		default:
			incomplete = true
		}
	}
	if worst == 0 && incomplete {
		return 3
	}
	return worst
}
