package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/vt/vttest"
)

// serveKey is the VirusTotal key of the fake; serveToken a gateway token.
const (
	serveKey   = "vt-key-serve-test-4b8e1f0a9c7d3e5b2a6f-secret"
	serveToken = "gw-token-serve-test-0123"
)

// lockedBuffer collects stderr written by the serve goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func writeServeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServe runs `vex serve` in-process against the fake and returns the
// base URL it prints, its stderr and a stop function returning the exit
// code.
func startServe(t *testing.T, fakeURL string) (string, *lockedBuffer, func() int) {
	t.Helper()
	cfg := writeServeConfig(t, fmt.Sprintf(`
[api]
key = %q
base_url = %q
tier = "premium"
per_minute = 100
per_day = 1000

[serve]
addr = "127.0.0.1:0"
drain = "0s"

[[serve.tokens]]
name = "fleet"
token = %q
`, serveKey, fakeURL, serveToken))

	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	stderr := &lockedBuffer{}
	codec := make(chan int, 1)
	go func() {
		// net/http's Shutdown treats a connection that never sent a
		// request as busy for its first 5 s, and the CLI's HTTP client may
		// leave such a spare connection behind, so 5 s could time out.
		code := Run(ctx, []string{"-c", cfg, "serve", "--shutdown-timeout", "15s"}, IO{In: strings.NewReader(""), Out: outW, Err: stderr}, Env{Getenv: func(k string) string { return map[string]string{"VEX_LOG": "debug"}[k] }})
		outW.Close()
		codec <- code
	}()

	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("vex serve printed no URL (exit %d): %v\nstderr:\n%s", <-codec, err, stderr.String())
	}
	go io.Copy(io.Discard, outR)
	stop := func() int {
		cancel()
		select {
		case code := <-codec:
			return code
		case <-time.After(15 * time.Second):
			t.Fatal("vex serve did not stop within 15s")
			return -1
		}
	}
	t.Cleanup(func() { cancel() })
	return strings.TrimSpace(line), stderr, stop
}

// runLookup runs a vex command with a client config pointing at baseURL
// with key, in its own data directory.
func runLookup(t *testing.T, baseURL, key string, args ...string) (int, string, string) {
	t.Helper()
	cfg := writeServeConfig(t, fmt.Sprintf(`
[api]
key = %q
base_url = %q
tier = "premium"
per_minute = 100
per_day = 1000
`, key, baseURL))
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"-c", cfg}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errb}, Env{})
	return code, out.String(), errb.String()
}

// stableJSON drops the fields that differ between two runs of the same
// lookup (when it ran, how long it took), so results can be compared.
func stableJSON(t *testing.T, out string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	var strip func(any) any
	strip = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k := range x {
				switch k {
				case "fetched_at", "generated_at", "looked_up_at", "duration_ms", "elapsed_ms":
					delete(x, k)
				default:
					x[k] = strip(x[k])
				}
			}
		case []any:
			for i := range x {
				x[i] = strip(x[i])
			}
		}
		return x
	}
	b, _ := json.MarshalIndent(strip(v), "", " ")
	return string(b)
}

// TestServeMatchesDirectLookups triages and investigates the same IOCs
// directly against the fake VirusTotal and through `vex serve`: the
// results must be the same, and the gateway's stderr must carry access
// logs but never the VirusTotal key.
func TestServeMatchesDirectLookups(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, Seed: 3, APIKey: serveKey})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	gatewayURL, stderr, stop := startServe(t, fake.URL())

	iocs := []string{
		"44d88612fea8a8f36de82e1278abb02f",
		"8.8.4.4",
		"example-gateway.com",
		"https://example-gateway.com/login.php",
	}
	for _, mode := range [][]string{{"triage"}, {"investigate"}} {
		args := append(append(append([]string{}, mode...), "-o", "json", "-q"), iocs...)
		dcode, direct, derr := runLookup(t, fake.URL(), serveKey, args...)
		gcode, viaGateway, gerr := runLookup(t, gatewayURL, serveToken, args...)
		if dcode != gcode {
			t.Errorf("%s exit code: direct %d, via gateway %d\nstderr direct: %s\nstderr gateway: %s", mode[0], dcode, gcode, derr, gerr)
		}
		if n := strings.Count(direct, `"status": "ok"`); n < len(iocs) {
			t.Errorf("%s direct: %d results with status ok, want %d; the comparison would prove little\n%.2000s", mode[0], n, len(iocs), direct)
		}
		if d, g := stableJSON(t, direct), stableJSON(t, viaGateway); d != g {
			t.Errorf("%s results differ\ndirect:\n%s\nvia gateway:\n%s", mode[0], d, g)
		}
	}

	// Investigate's relationship and behaviour requests reached the fake
	// once from the direct run and once from the gateway, never more.
	sections := map[string]int{}
	for _, r := range fake.Requests() {
		if strings.Count(r.Path, "/") == 3 {
			sections[r.Path+"?"+r.Query]++
		}
	}
	if len(sections) == 0 {
		t.Error("investigate sent no relationship requests")
	}
	for p, n := range sections {
		if n != 2 {
			t.Errorf("%s reached VirusTotal %d times, want 2 (direct and gateway)", p, n)
		}
	}

	// The gateway rejects the VirusTotal key as a client token.
	code, _, errOut := runLookup(t, gatewayURL, serveKey, "triage", "-q", "8.8.4.4")
	if code != ExitConfig {
		t.Errorf("triage with the VirusTotal key as gateway token: exit %d, want %d\n%s", code, ExitConfig, errOut)
	}

	resp, err := http.Get(strings.TrimSuffix(gatewayURL, "/api/v3") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: status %d", resp.StatusCode)
	}

	if code := stop(); code != 0 {
		t.Errorf("vex serve exit code after cancel = %d, want 0\n%s", code, stderr.String())
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"client":"fleet"`) {
		t.Errorf("no access log lines with the client name in stderr:\n%.2000s", logs)
	}
	if strings.Contains(logs, serveKey) || strings.Contains(logs, serveToken) {
		t.Error("the gateway's stderr contains the VirusTotal key or a client token")
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if n := strings.Count(line, `"component":`); n != 1 {
			t.Errorf("log line has %d component keys, want 1: %s", n, line)
		}
	}
}

// TestServeNeedsTokens refuses to start a gateway that anyone could use.
func TestServeNeedsTokens(t *testing.T) {
	cfg := writeServeConfig(t, `
[api]
key = "some-virustotal-key"
[serve]
addr = "127.0.0.1:0"
`)
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"-c", cfg, "serve"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb}, Env{})
	if code != ExitConfig || !strings.Contains(errb.String(), "no gateway tokens") {
		t.Errorf("serve without tokens: exit %d, stderr %q; want %d and a message about tokens", code, errb.String(), ExitConfig)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want empty", out.String())
	}
}

// TestServeChecksTLSFilesFirst starts the gateway with a TLS key file any
// user can read, and with files that are not PEM: each start fails with a
// configuration error before the base URL is printed.
func TestServeChecksTLSFilesFirst(t *testing.T) {
	cases := []struct {
		name    string
		keyMode os.FileMode
		want    string
	}{
		{"key readable by others", 0o644, "chmod 600"},
		{"not PEM", 0o600, "load TLS certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "gw.crt"), filepath.Join(dir, "gw.key")
			if err := os.WriteFile(certFile, []byte("not a certificate\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyFile, []byte("not a key\n"), c.keyMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(keyFile, c.keyMode); err != nil {
				t.Fatal(err)
			}
			cfg := writeServeConfig(t, fmt.Sprintf(`
[api]
key = %q
[serve]
addr = "127.0.0.1:0"
tls_cert = %q
tls_key = %q
[[serve.tokens]]
name = "fleet"
token = %q
`, serveKey, certFile, keyFile, serveToken))
			var out, errb bytes.Buffer
			code := Run(context.Background(), []string{"-c", cfg, "serve"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb}, Env{})
			if code != ExitConfig {
				t.Errorf("exit %d, want %d\nstderr: %s", code, ExitConfig, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want no base URL", out.String())
			}
		})
	}
}
