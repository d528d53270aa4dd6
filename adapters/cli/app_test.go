package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUsageErrorsExit64(t *testing.T) {
	cases := []struct {
		args []string
		hint string
	}{
		{[]string{"bogus"}, "Run 'vex --help'"},
		{[]string{"version", "extra"}, "Run 'vex version --help'"},
		{[]string{"triage", "--bogus"}, "Run 'vex triage --help'"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(context.Background(), c.args, IO{In: strings.NewReader(""), Out: &out, Err: &errOut}, Env{Home: t.TempDir()})
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, errOut.String())
			}
			if !strings.Contains(errOut.String(), c.hint) {
				t.Errorf("stderr %q does not point to %q", errOut.String(), c.hint)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

func TestTriageEmptyInputIsIncomplete(t *testing.T) {
	var out, errOut bytes.Buffer
	home := t.TempDir()
	code := Run(context.Background(), []string{"triage", "--offline"}, IO{In: strings.NewReader("\n# only a comment\n"), Out: &out, Err: &errOut},
		Env{Home: home, Getenv: func(string) string { return "" }})
	if code != ExitIncomplete {
		t.Errorf("exit %d, want %d: an empty input checked nothing (stderr %q)", code, ExitIncomplete, errOut.String())
	}
	if !strings.Contains(errOut.String(), "no IOCs found") {
		t.Errorf("stderr %q lacks a warning", errOut.String())
	}
}

func TestTriageConflictingFlags(t *testing.T) {
	for _, args := range [][]string{
		{"triage", "--offline", "--no-cache", "8.8.8.8"},
		{"triage", "--offline", "--csv", "-o", "json", "8.8.8.8"},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
			Env{Home: t.TempDir(), Getenv: func(string) string { return "" }})
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errOut.String())
		}
	}
}

func TestSetAPIKeyEmptyValueFails(t *testing.T) {
	home := t.TempDir()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"config", "--set-api-key="}, IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
		Env{Home: home, Getenv: func(string) string { return "" }})
	if code != ExitUsage {
		t.Errorf("exit %d, want %d: an empty key must not pass as success (stderr %q)", code, ExitUsage, errOut.String())
	}
}

func TestGatewayTokenRejectedMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":"WrongCredentialsError","message":"send your vex gateway token"}}`)
	}))
	defer srv.Close()
	env := map[string]string{"VT_API_KEY": "wrong-token-123456", "VEX_VT_BASE_URL": srv.URL + "/api/v3"}
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"triage", "-q", "8.8.8.8"}, IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
		Env{Home: t.TempDir(), Getenv: func(k string) string { return env[k] }})
	if code != ExitConfig {
		t.Errorf("exit %d, want %d", code, ExitConfig)
	}
	if !strings.Contains(errOut.String(), "the API at "+srv.URL) || !strings.Contains(errOut.String(), "gateway") {
		t.Errorf("stderr %q does not name the server or mention gateway tokens", errOut.String())
	}
}
