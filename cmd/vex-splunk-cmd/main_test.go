package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/splunk"
	"github.com/vex-ioc/vex/adapters/splunk/splunktest"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

const (
	session = "e2e-session-key"
	apiKey  = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// buildBinary compiles the command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vex")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

type world struct {
	bin     string
	vt      *vttest.Server
	splunkd *splunktest.Server
	env     []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{bin: buildBinary(t)}
	w.vt = vttest.New(vttest.Options{Synthesize: true, Seed: 7, APIKey: apiKey})
	if err := w.vt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.vt.Close() })
	w.splunkd = splunktest.New(t, splunktest.Options{
		SessionKey:  session,
		Credentials: []splunktest.Credential{{Realm: "vex", Username: "api_key", Password: apiKey}},
		Collections: []string{splunk.Collection},
	})

	home := t.TempDir()
	cfg := fmt.Sprintf(`[api]
base_url = %q
tier = "premium"
per_minute = 1000
per_day = 100000

[cache]
data_dir = %q

[splunk]
allow_self_signed_loopback = true
`, w.vt.URL(), filepath.Join(home, "data"))
	path := filepath.Join(home, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = []string{"HOME=" + home, "VEX_CONFIG=" + path, "PATH=" + os.Getenv("PATH")}
	return w
}

// run feeds input to the binary and returns its stdout, stderr and error.
func (w *world) run(t *testing.T, input string) ([]byte, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader(input)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.Bytes(), errOut.String(), err
}

func frame(meta, body string) string {
	return fmt.Sprintf("chunked 1.0,%d,%d\n%s%s", len(meta), len(body), meta, body)
}

func getinfo(t *testing.T, uri string, args ...string) string {
	return getinfoWith(t, uri, session, args...)
}

func getinfoWith(t *testing.T, uri, sessionKey string, args ...string) string {
	meta, err := json.Marshal(map[string]any{"action": "getinfo", "searchinfo": map[string]any{
		"args": args, "splunkd_uri": uri, "session_key": sessionKey, "sid": "e2e.1", "app": "search", "maxresultrows": 50000,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return frame(string(meta), "")
}

func execute(finished bool, body string) string {
	return frame(fmt.Sprintf(`{"action":"execute","finished":%t}`, finished), body)
}

type reply struct {
	meta   map[string]any
	header []string
	rows   [][]string
}

func (r reply) get(t *testing.T, row int, name string) string {
	t.Helper()
	for i, h := range r.header {
		if h == name {
			return r.rows[row][i]
		}
	}
	t.Fatalf("no column %q in %q", name, r.header)
	return ""
}

// decode reads the binary's stdout as chunks; any other byte fails.
func decode(t *testing.T, out []byte) []reply {
	t.Helper()
	rd := splunk.NewReader(bytes.NewReader(out), splunk.DefaultLimits)
	var replies []reply
	for {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return replies
		}
		if err != nil {
			t.Fatalf("stdout is not a clean chunk stream after %d replies: %v", len(replies), err)
		}
		var r reply
		if err := json.Unmarshal(ch.Metadata, &r.meta); err != nil {
			t.Fatal(err)
		}
		if len(ch.Body) > 0 {
			recs, err := splunkCSV(ch.Body)
			if err != nil {
				t.Fatal(err)
			}
			r.header, r.rows = recs[0], recs[1:]
		}
		replies = append(replies, r)
	}
}

func TestBinaryEnrichesSearch(t *testing.T) {
	w := newWorld(t)
	body := "_serial,src_ip,__mv_src_ip,host\n" +
		"0,8.8.8.8,,web1\n" +
		"1,1.1.1.1,,web2\n" +
		"2,8.8.8.8,,\"web,3\"\n" +
		"3,\"8.8.8.8\n1.1.1.1\",$8.8.8.8$;$1.1.1.1$,web4\n" +
		"4,not an ioc,,web5\n"
	input := getinfo(t, w.splunkd.URL(), "field=src_ip") + execute(false, body) + execute(true, "_serial,src_ip\n5,1.1.1.1\n")

	out, stderr, err := w.run(t, input)
	if err != nil {
		t.Fatalf("binary failed: %v\nstderr:\n%s", err, stderr)
	}
	replies := decode(t, out)
	if len(replies) != 3 {
		t.Fatalf("got %d replies, want 3\nstderr:\n%s", len(replies), stderr)
	}
	if replies[0].meta["type"] != "stateful" {
		t.Errorf("getinfo reply = %v", replies[0].meta)
	}
	r := replies[1]
	if len(r.rows) != 5 {
		t.Fatalf("%d rows, want 5", len(r.rows))
	}
	verdicts := map[string]bool{"MALICIOUS": true, "SUSPICIOUS": true, "CLEAN": true, "UNKNOWN": true}
	for i := range 3 {
		if v := r.get(t, i, "vt_verdict"); !verdicts[v] {
			t.Errorf("row %d vt_verdict = %q, want a verdict", i, v)
		}
		if s := r.get(t, i, "vt_status"); s != "ok" {
			t.Errorf("row %d vt_status = %q, want ok", i, s)
		}
		if e := r.get(t, i, "vt_engines"); e == "" {
			t.Errorf("row %d vt_engines is empty, want the engine count", i)
		}
		if p := r.get(t, i, "vt_permalink"); !strings.HasPrefix(p, "https://www.virustotal.com/") {
			t.Errorf("row %d vt_permalink = %q", i, p)
		}
	}
	if got := r.get(t, 2, "host"); got != "web,3" {
		t.Errorf("host = %q, want the input kept", got)
	}
	if got := r.get(t, 3, "__mv_vt_status"); got != "$ok$;$ok$" {
		t.Errorf("__mv_vt_status = %q, want one status per value", got)
	}
	if got := r.get(t, 4, "vt_status"); got != "invalid" {
		t.Errorf("vt_status for text = %q, want invalid", got)
	}
	if got := replies[2].get(t, 0, "vt_source"); got != "api" {
		t.Errorf("vt_source in the last chunk = %q, want api from the first lookup", got)
	}

	// Two distinct IPs: two VirusTotal requests, shared through the KV store.
	if n := w.vt.Count("/ip_addresses/"); n != 2 {
		t.Errorf("%d VirusTotal IP requests, want 2", n)
	}
	if n := w.splunkd.Documents(splunk.Collection); n != 2 {
		t.Errorf("KV store holds %d documents, want 2", n)
	}
	if strings.Contains(stderr, apiKey) || strings.Contains(stderr, session) {
		t.Error("stderr contains the API key or the session key")
	}

	// The same search again is served from the caches.
	out, stderr, err = w.run(t, input)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr)
	}
	if got := decode(t, out)[1].get(t, 0, "vt_source"); got != "cache" {
		t.Errorf("second run vt_source = %q, want cache", got)
	}
	if n := w.vt.Count("/ip_addresses/"); n != 2 {
		t.Errorf("%d VirusTotal IP requests after the second run, want still 2", n)
	}
}

func TestBinaryReplaysRecording(t *testing.T) {
	w := newWorld(t)
	dir := os.Getenv("VEX_FIXTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "fixtures")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "splunk", "recordings", "ndietrich", "doubleage_streaming.input"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("recording not found: %v", err)
	}
	// Replace the recorded getinfo with one for vex, keep the execute
	// chunks byte for byte.
	rd := splunk.NewReader(bytes.NewReader(raw), splunk.DefaultLimits)
	var input strings.Builder
	input.WriteString(getinfo(t, w.splunkd.URL(), "field=age"))
	for i := 0; ; i++ {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			input.WriteString(frame(string(ch.Metadata), string(ch.Body)))
		}
	}

	out, stderr, err := w.run(t, input.String())
	if err != nil {
		t.Fatalf("binary failed: %v\n%s", err, stderr)
	}
	replies := decode(t, out)
	if len(replies) != 3 {
		t.Fatalf("got %d replies, want 3", len(replies))
	}
	if replies[1].meta["finished"] != false || replies[2].meta["finished"] != true {
		t.Errorf("finished flags = %v, %v; want false, true", replies[1].meta["finished"], replies[2].meta["finished"])
	}
	for i, age := range []string{"66", "18", "25", "96", "52"} {
		if got := replies[1].get(t, i, "age"); got != age {
			t.Errorf("row %d age = %q, want %q", i, got, age)
		}
		if got := replies[1].get(t, i, "_chunked_idx"); got != fmt.Sprint(i) {
			t.Errorf("row %d _chunked_idx = %q", i, got)
		}
		if got := replies[1].get(t, i, "vt_status"); got != "invalid" {
			t.Errorf("row %d vt_status = %q, want invalid for a number", i, got)
		}
	}
	if n := len(w.vt.Requests()); n != 0 {
		t.Errorf("%d VirusTotal requests for invalid values, want 0", n)
	}
}

func TestBinaryWrongSessionKey(t *testing.T) {
	w := newWorld(t)
	gi := getinfoWith(t, w.splunkd.URL(), "expired-key", "field=ip")
	out, stderr, err := w.run(t, gi+execute(true, "ip\n8.8.8.8\n"))
	if err == nil {
		t.Fatal("binary exited 0, want a failure")
	}
	replies := decode(t, out)
	msg, _ := replies[len(replies)-1].meta["error"].(string)
	if !strings.Contains(msg, "rejected the session key") {
		t.Errorf("error reply = %q\nstderr:\n%s", msg, stderr)
	}
}

func TestBinaryUnreachableSplunkd(t *testing.T) {
	w := newWorld(t)
	out, _, err := w.run(t, getinfo(t, splunktest.UnreachableURL(t), "field=ip")+execute(true, "ip\n8.8.8.8\n"))
	if err == nil {
		t.Fatal("binary exited 0, want a failure")
	}
	replies := decode(t, out)
	msg, _ := replies[len(replies)-1].meta["error"].(string)
	if !strings.Contains(msg, "splunkd unreachable") {
		t.Errorf("error reply = %q", msg)
	}
}

// An offline search needs no key, so it answers even when splunkd's REST
// port, where the key lives, is unreachable.
func TestBinaryOfflineWithoutSplunkd(t *testing.T) {
	w := newWorld(t)
	out, stderr, err := w.run(t, getinfo(t, splunktest.UnreachableURL(t), "field=ip", "offline=true", "kvstore=false")+execute(true, "ip\n8.8.8.8\n"))
	if err != nil {
		t.Fatalf("binary failed: %v\nstderr:\n%s", err, stderr)
	}
	replies := decode(t, out)
	for _, r := range replies {
		if msg, ok := r.meta["error"].(string); ok {
			t.Errorf("error reply %q, want rows", msg)
		}
	}
	last := replies[len(replies)-1]
	if len(last.rows) != 1 || !slices.Contains(last.header, "vt_status") {
		t.Errorf("last reply header %v rows %v, want one row with vt_* columns", last.header, last.rows)
	}
}

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	debug.SetMemoryLimit(math.MaxInt64)
	if got := setMemoryLimit(func(string) string { return "" }); got != memoryLimit {
		t.Errorf("setMemoryLimit returned %d, want %d", got, memoryLimit)
	}
	if got := debug.SetMemoryLimit(-1); got != memoryLimit {
		t.Errorf("runtime memory limit = %d, want %d", got, memoryLimit)
	}

	// A GOMEMLIMIT set by the user wins, because the runtime applied it at start.
	debug.SetMemoryLimit(1 << 30)
	withEnv := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	if got := setMemoryLimit(withEnv); got != 1<<30 {
		t.Errorf("setMemoryLimit with GOMEMLIMIT set returned %d, want %d", got, 1<<30)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("runtime memory limit = %d, want GOMEMLIMIT's %d", got, 1<<30)
	}
}

func TestBinarySetsMemoryLimit(t *testing.T) {
	w := newWorld(t)
	input := getinfo(t, w.splunkd.URL(), "field=src_ip")
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"VEX_LOG=debug"}, fmt.Sprintf("memory_limit=%d", memoryLimit)},
		{[]string{"VEX_LOG=debug", "GOMEMLIMIT=200MiB"}, fmt.Sprintf("memory_limit=%d", 200<<20)},
	} {
		env := w.env
		w.env = append(slices.Clip(env), tc.env...)
		_, stderr, err := w.run(t, input)
		w.env = env
		if err != nil {
			t.Fatalf("binary with %v failed: %v\nstderr:\n%s", tc.env, err, stderr)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("binary with %v: stderr lacks %q:\n%s", tc.env, tc.want, stderr)
		}
	}
}
