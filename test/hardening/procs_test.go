package hardening

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/osquery/osquerytest"
	"github.com/vex-ioc/vex/adapters/splunk"
	"github.com/vex-ioc/vex/adapters/splunk/splunktest"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// splunkSession is the session key the fake splunkd accepts.
const splunkSession = "hardening-session-key"

// splunkWorld is the Splunk command binary with a fake splunkd that holds
// the API key in storage/passwords, as a real search head does.
type splunkWorld struct {
	bin     string
	splunkd *splunktest.Server
	home    *home
}

func newSplunkWorld(t *testing.T, fake *vttest.Server) *splunkWorld {
	t.Helper()
	return newSplunkWorldIn(t, newHome(t, fake.URL(), apiConfig{extra: "\n[splunk]\nallow_self_signed_loopback = true\n"}))
}

// newSplunkWorldIn uses h's config, which must allow the fake splunkd's
// self-signed certificate.
func newSplunkWorldIn(t *testing.T, h *home) *splunkWorld {
	t.Helper()
	return &splunkWorld{
		bin: binary(t, "vex-splunk-cmd"),
		splunkd: splunktest.New(t, splunktest.Options{
			SessionKey:  splunkSession,
			Credentials: []splunktest.Credential{{Realm: "vex", Username: "api_key", Password: testKey}},
			Collections: []string{splunk.Collection},
		}),
		home: h,
	}
}

// command returns the command as splunkd starts it: no argument, and no
// API key in the environment.
func (w *splunkWorld) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.bin)
	env := []string{}
	for _, kv := range w.home.processEnv() {
		if !strings.HasPrefix(kv, "VT_API_KEY=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	return cmd
}

// run feeds input to the command and returns stdout and stderr.
func (w *splunkWorld) run(t *testing.T, input string) ([]byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := w.command(ctx)
	cmd.Stdin = strings.NewReader(input)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("splunk command failed: %v\nstderr:\n%s", err, errOut.String())
	}
	return out.Bytes(), errOut.String()
}

func chunk(meta, body string) string {
	return fmt.Sprintf("chunked 1.0,%d,%d\n%s%s", len(meta), len(body), meta, body)
}

// getinfoChunk is splunkd's first message for `| vex args...`.
func getinfoChunk(t *testing.T, uri string, args ...string) string {
	t.Helper()
	meta, err := json.Marshal(map[string]any{"action": "getinfo", "searchinfo": map[string]any{
		"args": args, "splunkd_uri": uri, "session_key": splunkSession, "sid": "hardening.1", "app": "search", "maxresultrows": 50000,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return chunk(string(meta), "")
}

func executeChunk(finished bool, body string) string {
	return chunk(fmt.Sprintf(`{"action":"execute","finished":%t}`, finished), body)
}

// splunkReply is one reply chunk: its metadata and its CSV records, the
// header first.
type splunkReply struct {
	meta map[string]any
	rows [][]string
}

func (r splunkReply) field(t *testing.T, row int, name string) string {
	t.Helper()
	for i, h := range r.rows[0] {
		if h == name {
			return r.rows[row+1][i]
		}
	}
	t.Fatalf("no column %q in %q", name, r.rows[0])
	return ""
}

// decodeChunks reads the command's stdout; any byte that is not part of a
// chunk fails the test.
func decodeChunks(t *testing.T, out []byte) []splunkReply {
	t.Helper()
	rd := splunk.NewReader(bytes.NewReader(out), splunk.DefaultLimits)
	var replies []splunkReply
	for {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return replies
		}
		if err != nil {
			t.Fatalf("stdout is not a clean chunk stream after %d replies: %v", len(replies), err)
		}
		var r splunkReply
		if err := json.Unmarshal(ch.Metadata, &r.meta); err != nil {
			t.Fatal(err)
		}
		if len(ch.Body) > 0 {
			if r.rows, err = csv.NewReader(bytes.NewReader(ch.Body)).ReadAll(); err != nil {
				t.Fatalf("reply body is not CSV: %v", err)
			}
		}
		replies = append(replies, r)
	}
}

// osqueryExt is the extension binary registered with a fake osqueryd.
type osqueryExt struct {
	cmd    *exec.Cmd
	m      *osquerytest.Manager
	stderr *lockedBuffer
	stdout *lockedBuffer
	exited chan error
}

// lockedBuffer is a bytes.Buffer safe for a child's output and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startOsqueryExt(t *testing.T, fake *vttest.Server) *osqueryExt {
	t.Helper()
	return startOsqueryExtIn(t, newHome(t, fake.URL(), apiConfig{}))
}

// startOsqueryExtIn starts the extension with h's config and the key in
// VT_API_KEY, with the argv osqueryd uses for an autoloaded extension.
func startOsqueryExtIn(t *testing.T, h *home) *osqueryExt {
	t.Helper()
	bin := binary(t, "vex-osquery-ext")
	// A unix socket path must stay under about 100 bytes, which
	// t.TempDir() under a long TMPDIR may exceed.
	sockDir, err := os.MkdirTemp("", "vxh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	m := osquerytest.New(filepath.Join(sockDir, "osquery.em"))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)

	e := &osqueryExt{m: m, stderr: &lockedBuffer{}, stdout: &lockedBuffer{}, exited: make(chan error, 1)}
	e.cmd = exec.Command(bin, "--socket", m.Path(), "--timeout", "3", "--interval", "1", "--verbose")
	e.cmd.Env = h.processEnv("VEX_LOG=debug")
	e.cmd.Stderr, e.cmd.Stdout = e.stderr, e.stdout
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.exited <- e.cmd.Wait() }()
	t.Cleanup(func() {
		_ = e.cmd.Process.Kill()
		<-e.exited
		if s := e.stdout.String(); s != "" {
			t.Errorf("the osquery extension wrote to stdout: %.200q", s)
		}
		if strings.Contains(e.stderr.String(), testKey) {
			t.Error("the osquery extension logged the API key")
		}
		if t.Failed() {
			t.Logf("extension stderr:\n%s", e.stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.WaitExtension(ctx, "vex"); err != nil {
		t.Fatalf("extension did not register: %v\nstderr:\n%s", err, e.stderr.String())
	}
	return e
}

// query selects every column of vex_triage for iocs in one call.
func (e *osqueryExt) query(t *testing.T, iocs []string) []map[string]string {
	t.Helper()
	rows, err := e.tryQuery(iocs)
	if err != nil {
		t.Fatalf("query vex_triage: %v", err)
	}
	return rows
}

func (e *osqueryExt) tryQuery(iocs []string) ([]map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, _, err := e.m.Query(ctx, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.In("ioc", iocs...)}}, osquerytest.Options{})
	return rows, err
}
