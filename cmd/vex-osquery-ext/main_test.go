package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/osquery/osquerytest"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// binPath is vex.ext built once for all tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vexext")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "vex.ext")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build vex.ext: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// ext is one running vex.ext under a fake osqueryd and a fake VirusTotal.
type ext struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	vt     *vttest.Server
	m      *osquerytest.Manager
	exited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type extOptions struct {
	rpm       int    // fake VirusTotal's and vex's per-minute limit
	osqueryTO string // [osquery] timeout
	keyInEnv  bool   // pass the key in VT_API_KEY instead of the file
}

// startExt starts the fake VirusTotal and the fake osqueryd, then vex.ext
// with the exact argv osqueryd uses for an autoloaded extension.
func startExt(t *testing.T, o extOptions) *ext {
	t.Helper()
	if o.rpm == 0 {
		o.rpm = 60
	}
	if o.osqueryTO == "" {
		o.osqueryTO = "30s"
	}

	vt := vttest.New(vttest.Options{Synthesize: true, Seed: 7, RPM: o.rpm, APIKey: testKey})
	if err := vt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vt.Close() })

	dir, err := os.MkdirTemp("", "vxe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	keyLine := fmt.Sprintf("key = %q\n", testKey)
	if o.keyInEnv {
		keyLine = ""
	}
	cfg := fmt.Sprintf("[api]\n%sbase_url = %q\ntier = \"premium\"\nper_minute = %d\nper_day = 10000\nmax_retries = 0\n\n[cache]\ndata_dir = %q\n\n[osquery]\ntimeout = %q\n",
		keyLine, vt.URL(), o.rpm, filepath.Join(dir, "data"), o.osqueryTO)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	m := osquerytest.New(filepath.Join(dir, "osquery.em"))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)

	// osqueryd's ExtensionRunner: path, --socket, --timeout, --interval,
	// and --verbose when osqueryd itself is verbose.
	e := &ext{stderr: &syncBuffer{}, vt: vt, m: m, exited: make(chan error, 1)}
	e.cmd = exec.Command(binPath, "--socket", m.Path(), "--timeout", "3", "--interval", "1", "--verbose")
	e.cmd.Env = []string{"HOME=" + dir, "VEX_CONFIG=" + cfgPath, "PATH=" + os.Getenv("PATH")}
	if o.keyInEnv {
		e.cmd.Env = append(e.cmd.Env, "VT_API_KEY="+testKey)
	}
	e.cmd.Stderr = e.stderr
	stdout := &syncBuffer{}
	e.cmd.Stdout = stdout
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.exited <- e.cmd.Wait() }()
	t.Cleanup(func() {
		_ = e.cmd.Process.Kill()
		<-e.exited
		if s := stdout.String(); s != "" {
			t.Errorf("vex.ext wrote to stdout: %q", s)
		}
		if strings.Contains(e.stderr.String(), testKey) {
			t.Error("vex.ext logged the API key")
		}
		if t.Failed() {
			t.Logf("vex.ext stderr:\n%s", e.stderr.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := m.WaitExtension(ctx, "vex"); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, e.stderr.String())
	}
	return e
}

func (e *ext) query(t *testing.T, q osquerytest.Query, opt osquerytest.Options) []map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, _, err := e.m.Query(ctx, q, opt)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	return rows
}

// waitExit waits for the process to exit and returns its exit code.
func (e *ext) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-e.exited:
		e.exited <- err // for the cleanup
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(within):
		t.Fatalf("vex.ext still running after %s", within)
	}
	return -1
}

// TestExampleQueryOneIOC runs the basic lookup query:
// SELECT * FROM vex_triage WHERE ioc = '8.8.8.8'.
func TestExampleQueryOneIOC(t *testing.T) {
	e := startExt(t, extOptions{})

	rows := e.query(t, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.8.8")}}, osquerytest.Options{})
	if len(rows) != 1 {
		t.Fatalf("rows = %v, want 1", rows)
	}
	r := rows[0]
	if r["ioc"] != "8.8.8.8" || r["ioc_type"] != "ipv4" || r["status"] != "ok" || r["source"] != "api" || r["error"] != "" {
		t.Errorf("row = %v", r)
	}
	if r["engines"] == "" || r["verdict"] == "" || !strings.Contains(r["permalink"], "8.8.8.8") {
		t.Errorf("row lacks VirusTotal data: %v", r)
	}
	if n := e.vt.Count("/ip_addresses/8.8.8.8"); n != 1 {
		t.Errorf("fake VirusTotal saw %d requests for 8.8.8.8, want 1", n)
	}

	// The cache serves the second query.
	rows = e.query(t, osquerytest.Query{Table: "vex_triage", Columns: []string{"ioc", "source"}, Where: []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.8.8")}}, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["source"] != "cache" {
		t.Errorf("second query = %v, want source cache", rows)
	}
	if n := e.vt.Count("/ip_addresses/8.8.8.8"); n != 1 {
		t.Errorf("fake VirusTotal saw %d requests after a cached query, want 1", n)
	}
}

// TestExampleQueryHashJoin runs the join of the hash table with vex_triage, SELECT h.path, v.verdict
// FROM hash h JOIN vex_triage v ON v.ioc = h.sha256 WHERE h.path = ...,
// the way osquery runs it: one vex_triage call per row of hash.
func TestExampleQueryHashJoin(t *testing.T) {
	e := startExt(t, extOptions{})

	hash := []map[string]string{
		{"path": "/usr/bin/ls", "sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, st, err := e.m.Join(ctx, hash, "sha256", osquerytest.Query{Table: "vex_triage", Columns: []string{"ioc", "verdict", "ioc_type"}}, "ioc", osquerytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 1 || len(rows) != 1 {
		t.Fatalf("calls = %d, rows = %v; want 1 call, 1 row", st.Calls, rows)
	}
	if rows[0].Outer["path"] != "/usr/bin/ls" || rows[0].Inner["ioc_type"] != "sha256" || rows[0].Inner["verdict"] == "" {
		t.Errorf("joined row = %+v", rows[0])
	}
	if n := e.vt.Count("/files/" + hash[0]["sha256"]); n != 1 {
		t.Errorf("fake VirusTotal saw %d file requests, want 1", n)
	}
}

func TestKeyFromEnvironment(t *testing.T) {
	e := startExt(t, extOptions{keyInEnv: true})
	rows := e.query(t, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", "example.com")}}, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["status"] != "ok" {
		t.Errorf("rows = %v, want one ok row", rows)
	}
}

// TestConcurrentCallsShareLimiter sends more IOCs than the per-minute
// limit in parallel calls. The calls share one limiter, so the fake
// VirusTotal, which enforces the same limit, never returns 429, and the
// IOCs over the limit time out as rows.
func TestConcurrentCallsShareLimiter(t *testing.T) {
	e := startExt(t, extOptions{rpm: 5, osqueryTO: "3s"})

	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []map[string]string
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			iocs := []string{fmt.Sprintf("host%d-a.example.com", i), fmt.Sprintf("host%d-b.example.com", i)}
			rows := e.query(t, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.In("ioc", iocs...)}}, osquerytest.Options{})
			mu.Lock()
			all = append(all, rows...)
			mu.Unlock()
		}()
	}
	wg.Wait()

	ok, timedOut := 0, 0
	for _, r := range all {
		switch {
		case r["status"] == "ok":
			ok++
		case strings.Contains(r["error"], "timed out"):
			timedOut++
		default:
			t.Errorf("unexpected row %v", r)
		}
	}
	if len(all) != 8 || ok != 5 || timedOut != 3 {
		t.Errorf("rows = %d, ok = %d, timed out = %d; want 8, 5, 3", len(all), ok, timedOut)
	}
	for _, req := range e.vt.Requests() {
		if req.Status == http.StatusTooManyRequests {
			t.Errorf("fake VirusTotal answered 429 to %s", req.Path)
		}
	}
}

func TestStaleCacheWhenRateLimited(t *testing.T) {
	e := startExt(t, extOptions{})

	q := osquerytest.Query{Table: "vex_triage", Columns: []string{"ioc", "source", "verdict", "status"}, Where: []osquerytest.Cond{osquerytest.Eq("ioc", "1.1.1.1")}}
	first := e.query(t, q, osquerytest.Options{})
	if len(first) != 1 || first[0]["source"] != "api" {
		t.Fatalf("first = %v", first)
	}

	// max_age = 1 makes the entry expired a second later; VirusTotal then
	// answers 429 and the expired entry is served.
	time.Sleep(1100 * time.Millisecond)
	e.vt.Inject(vttest.Fault{Match: "1.1.1.1", Kind: vttest.Status, Status: http.StatusTooManyRequests})
	q.Where = append(q.Where, osquerytest.Eq("max_age", "1"))
	rows := e.query(t, q, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["source"] != "stale_cache" || rows[0]["verdict"] != first[0]["verdict"] {
		t.Errorf("rows = %v, want the cached verdict with source stale_cache", rows)
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	e := startExt(t, extOptions{})
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// osqueryd sends SIGKILL about 11 s after SIGTERM.
	if code := e.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.m.WaitGone(ctx, "vex"); err != nil {
		t.Error(err)
	}
}

func TestThriftShutdown(t *testing.T) {
	e := startExt(t, extOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.m.ShutdownExtension(ctx, "vex"); err != nil {
		t.Fatal(err)
	}
	if code := e.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

func TestOsqueryRestart(t *testing.T) {
	e := startExt(t, extOptions{})
	e.m.Stop()
	time.Sleep(2 * time.Second) // a ping interval with osqueryd gone
	if err := e.m.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.m.WaitExtension(ctx, "vex"); err != nil {
		t.Fatal(err)
	}
	rows := e.query(t, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.4.4")}}, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["status"] != "ok" {
		t.Errorf("rows after restart = %v", rows)
	}
}

func TestRejectsUnknownFlagAndMissingSocket(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown flag", []string{"--socket", "/nonexistent/osquery.em", "--api-key", testKey}, 64},
		{"missing socket", []string{"--timeout", "3"}, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != tc.code {
				t.Errorf("err = %v, want exit code %d; stderr:\n%s", err, tc.code, stderr.String())
			}
		})
	}
}

// TestHelp checks that --help describes the binary and exits 0, as an
// osquery admin who runs it by hand expects.
func TestHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		cmd := exec.Command(binPath, flag)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: %v, want exit code 0; stderr:\n%s", flag, err, stderr.String())
		}
		out := stdout.String() + stderr.String()
		for _, want := range []string{"osquery extension", "vex_triage", "--socket"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", flag, want, out)
			}
		}
	}
}
