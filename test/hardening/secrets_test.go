package hardening

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/stix"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// echoDomain gets a success body that quotes the API key, as a hostile or
// buggy server might send, and echoErrDomain an error that quotes it.
const (
	echoDomain    = "echo.example.com"
	echoErrDomain = "echo-error.example.com"
)

// startEchoFake serves synthesised objects, plus two responses that quote
// the API key back.
func startEchoFake(t *testing.T) *vttest.Server {
	t.Helper()
	fake := startFake(t, vttest.Options{Seed: 11})
	body, err := json.Marshal(map[string]any{"data": map[string]any{
		"type": "domain", "id": echoDomain,
		"attributes": map[string]any{
			"tags":                []string{"key:" + testKey},
			"registrar":           testKey,
			"last_analysis_stats": map[string]int{"malicious": 0, "suspicious": 0, "undetected": 20, "harmless": 50},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	fake.Inject(vttest.Fault{Match: "/domains/" + echoDomain, Kind: vttest.Status, Status: http.StatusOK, Body: body})
	fake.Inject(vttest.Fault{Match: "/domains/" + echoErrDomain, Kind: vttest.Status, Status: http.StatusBadRequest,
		Body: vttest.ErrorBody("BadRequestError", "invalid key "+testKey)})
	return fake
}

// TestKeyNeverInOutputOrFiles runs triage and investigate with debug logs,
// tags and notes the KB, and then searches stdout, stderr, every file in
// the data directory and a STIX bundle for the key.
func TestKeyNeverInOutputOrFiles(t *testing.T) {
	fake := startEchoFake(t)
	h := newHome(t, fake.URL(), apiConfig{})
	debug := map[string]string{"VEX_LOG": "debug"}
	iocs := []string{"8.8.8.8", echoDomain, echoErrDomain, "44d88612fea8a8f36de82e1278abb02f", "http://example.net/x"}

	var outputs []runResult
	for _, args := range [][]string{
		append([]string{"triage", "-o", "json"}, iocs...),
		append([]string{"triage", "-o", "rich", "--timeline"}, iocs...),
		append([]string{"triage", "-o", "csv", "--no-cache"}, iocs...),
		append([]string{"investigate", "-o", "ndjson"}, iocs...),
		{"tag", echoDomain, "--add", "phishing"},
		{"note", echoDomain, "--add", "seen in a mail"},
		{"config", "--show"},
		{"triage", "--offline", "-o", "ndjson", echoDomain},
	} {
		res := h.run(t, "", debug, args...)
		outputs = append(outputs, res)
		if strings.Contains(res.stdout, testKey) {
			t.Errorf("vex %s: the key is on stdout", strings.Join(args, " "))
		}
		if strings.Contains(res.stderr, testKey) {
			t.Errorf("vex %s: the key is on stderr (VEX_LOG=debug)", strings.Join(args, " "))
		}
	}
	if !strings.Contains(outputs[0].stderr, "level=DEBUG") {
		t.Errorf("VEX_LOG=debug wrote no debug record, so the log check proves nothing; stderr:\n%s", outputs[0].stderr)
	}

	// The cache, ledger and KB files, WAL files included, never hold it.
	n := 0
	err := filepath.WalkDir(h.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(testKey)) {
			t.Errorf("%s contains the API key", filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{config.CacheFile, config.LedgerFile, config.KBFile} {
		if _, err := os.Stat(filepath.Join(h.dataDir, name)); err != nil {
			t.Errorf("%s was not written, so searching it proves nothing: %v", name, err)
		}
	}

	checkOnlyGET(t, fake)

	// Nor does a STIX bundle of the results.
	results := parseNDJSON(t, h.run(t, "", nil, append([]string{"investigate", "-o", "ndjson"}, iocs...)...).stdout)
	bundle, err := stix.Build(results, stix.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := stix.Write(&buf, bundle); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), testKey) {
		t.Error("the STIX bundle contains the API key")
	}
}

// TestKeyNotInConfigDumps formats a loaded config the ways a panic, a
// debug print or a structured log would, and finds no key.
func TestKeyNotInConfigDumps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("[api]\nkey = %q\n\n[serve]\nredis_url = \"redis://user:%s@127.0.0.1:6379/0\"\n", testKey, testKey)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Key.Reveal() != testKey {
		t.Fatal("the config did not load the key, so the check proves nothing")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", cfg, "key", cfg.API.Key)
	jsonText, _ := json.Marshal(cfg)
	for name, s := range map[string]string{
		"%v":    fmt.Sprintf("%v", cfg),
		"%+v":   fmt.Sprintf("%+v", cfg),
		"%#v":   fmt.Sprintf("%#v", *cfg),
		"slog":  logged.String(),
		"json":  string(jsonText),
		"panic": panicText(cfg),
	} {
		if strings.Contains(s, testKey) {
			t.Errorf("%s of the config shows the key", name)
		}
	}
}

// panicText returns what a panic with v as its value prints.
func panicText(v any) (text string) {
	defer func() { text = fmt.Sprint(recover()) }()
	panic(fmt.Sprintf("config: %+v", v))
}

// TestWorldReadableKeyRefused writes the key into a config readable by
// group and others, as ssh refuses such a private key.
func TestWorldReadableKeyRefused(t *testing.T) {
	fake := startFake(t, vttest.Options{})
	h := newHome(t, fake.URL(), apiConfig{})
	text, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("[api]\n"), fmt.Appendf(nil, "[api]\nkey = %q\n", testKey), 1)
	if err := os.WriteFile(h.config, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.config, 0o644); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, "", map[string]string{"VT_API_KEY": ""}, "triage", "example.com")
	if res.code != 78 {
		t.Errorf("exit code %d, want 78", res.code)
	}
	if !strings.Contains(res.stderr, "chmod 600") {
		t.Errorf("stderr has no fix hint with chmod 600:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr+res.stdout, testKey) {
		t.Error("the refusal prints the key")
	}
	if n := fake.Count(""); n != 0 {
		t.Errorf("%d requests sent with an insecure config, want 0", n)
	}
}

// TestKeyFlagWarnsAboutHistory passes the key with -k.
func TestKeyFlagWarnsAboutHistory(t *testing.T) {
	fake := startFake(t, vttest.Options{})
	h := newHome(t, fake.URL(), apiConfig{})
	res := h.run(t, "", map[string]string{"VT_API_KEY": ""}, "-k", testKey, "triage", "-o", "json", "example.com")
	if res.code > 2 {
		t.Errorf("exit code %d; stderr:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "shell history") {
		t.Errorf("no shell-history warning on stderr:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr+res.stdout, testKey) {
		t.Error("the output shows the key")
	}
}

// TestChildProcessesCarryNoKey starts the Splunk command and the osquery
// extension the way splunkd and osqueryd do, with the key in splunkd's
// storage and in the config file, and reads /proc/<pid>/cmdline and
// environ while they run.
func TestChildProcessesCarryNoKey(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc on this system")
	}
	fake := startFake(t, vttest.Options{})

	// The osquery extension, key in the 0600 config file, none in env.
	h := newHome(t, fake.URL(), apiConfig{})
	text, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("[api]\n"), fmt.Appendf(nil, "[api]\nkey = %q\n", testKey), 1)
	if err := os.WriteFile(h.config, text, 0o600); err != nil {
		t.Fatal(err)
	}
	delete(h.env, "VT_API_KEY")
	ext := startOsqueryExtIn(t, h)
	if rows := ext.query(t, []string{"example.com"}); len(rows) != 1 || rows[0]["status"] != "ok" {
		t.Fatalf("extension rows %v, want one ok row", rows)
	}
	checkProcNoKey(t, "osquery extension", ext.cmd.Process.Pid)

	// The Splunk command, key from the fake splunkd.
	w := newSplunkWorld(t, fake)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := w.command(ctx)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The key is in memory once the reply to the first execute chunk is
	// out. The process then waits for the next chunk, and /proc is read
	// meanwhile.
	if _, err := stdin.Write([]byte(getinfoChunk(t, w.splunkd.URL(), "field=ioc") + executeChunk(false, "_serial,ioc\n0,example.com\n"))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "vt_verdict") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "vt_verdict") {
		t.Fatalf("the Splunk command answered no execute chunk; stderr:\n%s", errOut.String())
	}
	checkProcNoKey(t, "splunk command", cmd.Process.Pid)
	if _, err := stdin.Write([]byte(executeChunk(true, ""))); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("splunk command: %v\nstderr:\n%s", err, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), testKey) {
		t.Error("the Splunk command wrote the key")
	}
}

// checkProcNoKey reads the argv and environment of a running process.
func checkProcNoKey(t *testing.T, name string, pid int) {
	t.Helper()
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			t.Fatalf("read %s of the %s: %v", f, name, err)
		}
		if len(b) == 0 {
			t.Errorf("%s of the %s is empty; the process may have exited", f, name)
		}
		if bytes.Contains(b, []byte(testKey)) {
			t.Errorf("the key is in /proc/<pid>/%s of the %s", f, name)
		}
	}
}
