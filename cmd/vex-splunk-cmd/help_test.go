package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestHelpAndArguments checks the binary run by hand: splunkd passes no
// arguments, so --help prints what the command is and exits 0, and any
// other argument is a usage error rather than a silent wait on stdin.
func TestHelpAndArguments(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "chunked protocol"},
		{[]string{"-h"}, 0, "field="},
		{[]string{"--version"}, 0, "vex-splunk-cmd"},
		{[]string{"field=src_ip"}, 64, "--help"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Stdin = strings.NewReader("")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		out := stdout.String() + stderr.String()
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}
