package cli

import (
	"bytes"
	"context"
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
