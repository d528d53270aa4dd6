package vttest_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/vt/vttest"
)

func TestCheckLoopback(t *testing.T) {
	ok := []string{"127.0.0.1:0", "127.8.9.1:80", "[::1]:8080", "localhost:1", "[::ffff:127.0.0.1]:9"}
	bad := []string{":8080", "0.0.0.0:1", "[::]:1", "192.0.2.1:80", "example.com:80", "nonsense"}
	for _, a := range ok {
		if err := vttest.CheckLoopback(a); err != nil {
			t.Errorf("CheckLoopback(%q) = %v, want nil", a, err)
		}
	}
	for _, a := range bad {
		if err := vttest.CheckLoopback(a); err == nil {
			t.Errorf("CheckLoopback(%q) accepted a non-loopback address", a)
		}
	}
}

func TestRunCommandServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- vttest.RunCommand(ctx, []string{"-synthesize", "-rpm", "2", "-key", "demo-key"}, outW, &stderr)
		outW.Close()
	}()

	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("read base URL: %v (stderr: %s)", err, stderr.String())
	}
	base := strings.TrimSpace(line)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/api/v3") {
		t.Fatalf("first stdout line = %q, want a loopback base URL", base)
	}
	go io.Copy(io.Discard, outR)

	statuses := []int{}
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, base+"/domains/example.com", nil)
		req.Header.Set("x-apikey", "demo-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Errorf("statuses = %v, want 200 200 429 with -rpm 2", statuses)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunCommand did not stop after cancel")
	}
	if strings.Contains(stderr.String(), "demo-key") {
		t.Error("the key was logged")
	}
}

func TestRunCommandUsageErrors(t *testing.T) {
	cases := [][]string{
		{"-addr", "0.0.0.0:0"},
		{"-addr", ":0"},
		{"-rpm", "-1"},
		{"extra"},
		{"-nosuchflag"},
	}
	for _, args := range cases {
		var out, errb bytes.Buffer
		if code := vttest.RunCommand(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if out.Len() != 0 {
			t.Errorf("%v: wrote %q to stdout", args, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := vttest.RunCommand(context.Background(), []string{"-fixtures", t.TempDir() + "/missing"}, &out, &errb); code != 1 {
		t.Errorf("missing fixtures folder: exit %d, want 1", code)
	}
}
