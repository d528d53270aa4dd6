package cli

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCAFileTrustsGateway checks a gateway whose certificate the system
// does not trust. Without api.ca_file the run names the setting that fixes
// it, and with it the lookups succeed.
func TestCAFileTrustsGateway(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"id":"9.9.9.9","type":"ip_address","attributes":` +
			`{"last_analysis_stats":{"malicious":0,"suspicious":0,"undetected":10,"harmless":60}}}}`))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "gateway-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, block, 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(extra string) (int, string, string) {
		cfg := filepath.Join(dir, "config.toml")
		body := "[api]\nbase_url = \"" + srv.URL + "/api/v3\"\nmax_retries = 0\n" + extra + "[cache]\ndata_dir = \"" + filepath.Join(dir, "data") + "\"\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"VT_API_KEY": strings.Repeat("ab", 32)}
		var out, errOut bytes.Buffer
		code := Run(context.Background(), []string{"-c", cfg, "triage", "-q", "--no-cache", "-o", "csv", "9.9.9.9"},
			IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
			Env{Home: dir, Getenv: func(k string) string { return env[k] }})
		return code, out.String(), errOut.String()
	}

	code, _, stderr := run("")
	if code != ExitIncomplete || !strings.Contains(stderr, "api.ca_file") {
		t.Errorf("untrusted gateway: exit %d, stderr %q; want %d and a hint naming api.ca_file", code, stderr, ExitIncomplete)
	}
	code, out, stderr := run("ca_file = \"gateway-ca.pem\"\n")
	if code != ExitOK || !strings.Contains(out, "CLEAN") {
		t.Errorf("with api.ca_file: exit %d, output %q, stderr %q; want %d and a CLEAN row", code, out, stderr, ExitOK)
	}
	code, _, stderr = run("ca_file = \"config.toml\"\n")
	if code != ExitConfig || !strings.Contains(stderr, "no PEM certificate") {
		t.Errorf("ca_file without a certificate: exit %d, stderr %q; want %d", code, stderr, ExitConfig)
	}
}
