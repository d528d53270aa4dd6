package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// Indicators served by testdata/triage.
const (
	maliciousHash = "d1a0000000000000000000000000000000000000000000000000000000000001"
	hostileHash   = "bad0000000000000000000000000000000000000000000000000000000000bad"
	suspiciousDom = "login-verify.example.com"
	cleanIP       = "45.83.140.7"
	// unseenHash is not in testdata/triage, so the fake responds 404.
	unseenHash = "5eed0000000000000000000000000000000000000000000000000000000000aa"
)

// triageEnv is a vex home whose config points the CLI at a fake VirusTotal
// on loopback, with its data directory under t.TempDir().
type triageEnv struct {
	t       *testing.T
	fake    *vttest.Server
	home    string
	dataDir string
	config  string
	env     map[string]string
}

// triageConfig sets the [api] values of the config file a triageEnv writes.
type triageConfig struct {
	perMinute   int // default 1000, so no real waits
	perDay      int // default 100000
	concurrency int // default 4
}

// newTriageEnv starts a fake VirusTotal with opts (FixturesDir defaults to
// testdata/triage, APIKey to cfgTestKey) and writes a config for it.
func newTriageEnv(t *testing.T, opts vttest.Options, tc triageConfig) *triageEnv {
	t.Helper()
	if opts.FixturesDir == "" {
		opts.FixturesDir = filepath.Join("testdata", "triage")
	}
	if opts.APIKey == "" {
		opts.APIKey = cfgTestKey
	}
	fake := vttest.New(opts)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })

	if tc.perMinute == 0 {
		tc.perMinute = 1000
	}
	if tc.perDay == 0 {
		tc.perDay = 100000
	}
	if tc.concurrency == 0 {
		tc.concurrency = 4
	}
	home := t.TempDir()
	dataDir := filepath.Join(home, "data")
	config := filepath.Join(home, "vex.toml")
	text := fmt.Sprintf("[api]\ntier = \"premium\"\nper_minute = %d\nper_day = %d\nconcurrency = %d\n\n[cache]\ndata_dir = %q\n",
		tc.perMinute, tc.perDay, tc.concurrency, dataDir)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return &triageEnv{
		t: t, fake: fake, home: home, dataDir: dataDir, config: config,
		env: map[string]string{
			"VT_API_KEY":      cfgTestKey,
			"VEX_VT_BASE_URL": fake.URL(),
			"VEX_CONFIG":      config,
		},
	}
}

// run runs vex in-process with the environment's variables plus extra,
// where an empty value unsets a variable.
func (e *triageEnv) run(stdin string, extra map[string]string, args ...string) runResult {
	e.t.Helper()
	return e.runCtx(context.Background(), stdin, extra, args...)
}

func (e *triageEnv) runCtx(ctx context.Context, stdin string, extra map[string]string, args ...string) runResult {
	e.t.Helper()
	env := map[string]string{}
	for k, v := range e.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	var out, errOut bytes.Buffer
	code := Run(ctx, args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, Env{
		Getenv: func(k string) string { return env[k] },
		Home:   e.home,
	})
	r := runResult{code: code, stdout: out.String(), stderr: errOut.String(), home: e.home}
	for name, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		if strings.Contains(s, cfgTestKey) {
			e.t.Errorf("vex %v printed the API key on %s", args, name)
		}
	}
	return r
}

// parseNDJSON decodes one result per line of stdout.
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

// countStatuses returns how many results have each status.
func countStatuses(results []enrich.Result) map[enrich.Status]int {
	m := map[enrich.Status]int{}
	for _, r := range results {
		m[r.Status]++
	}
	return m
}

// noonClock is a fake VirusTotal clock fixed at noon UTC, so a spent daily
// quota always gets a Retry-After of hours, never seconds.
func noonClock() time.Time { return time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) }

// writeFile writes data to name under dir and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
