package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/vex-ioc/vex/core/vt/vttest"
)

// utf16File encodes s as UTF-16 with a byte order mark, the way Windows
// PowerShell's Out-File and Notepad's "Unicode" option save a list.
func utf16File(s string, order binary.ByteOrder) []byte {
	units := utf16.Encode([]rune("\ufeff" + s))
	out := make([]byte, 2*len(units))
	for i, u := range units {
		order.PutUint16(out[2*i:], u)
	}
	return out
}

// checkLookupRun checks a lookup run's exit code, the normalised values it
// printed, in order, and a part of its stderr.
func checkLookupRun(t *testing.T, r runResult, code int, inputs []string, inErr string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, code, r.stderr)
	}
	var got []string
	for _, res := range parseNDJSON(t, r.stdout) {
		got = append(got, res.Normalized)
	}
	if strings.Join(got, " ") != strings.Join(inputs, " ") {
		t.Errorf("looked up %q, want %q", got, inputs)
	}
	if !strings.Contains(r.stderr, inErr) {
		t.Errorf("stderr lacks %q:\n%s", inErr, r.stderr)
	}
}

// TestTriageInputEncodings checks lists saved as UTF-16 on Windows, which
// are read as text, and binary files, which are refused instead of being
// read as thousands of garbage lines.
func TestTriageInputEncodings(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	dir := t.TempDir()
	list := cleanIP + "\r\n" + suspiciousDom + "\r\n"
	le := writeFile(t, dir, "le.txt", utf16File(list, binary.LittleEndian))
	be := writeFile(t, dir, "be.txt", utf16File(list, binary.BigEndian))
	bin := writeFile(t, dir, "sample.bin", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), []byte("\n"+cleanIP+"\n")...))

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		inputs []string
		inErr  string
	}{
		{name: "utf-16le", args: []string{"-f", le}, code: ExitSuspicious, inputs: []string{cleanIP, suspiciousDom}},
		{name: "utf-16be", args: []string{"-f", be}, code: ExitSuspicious, inputs: []string{cleanIP, suspiciousDom}},
		{name: "binary", args: []string{"-f", bin}, code: ExitIOError, inErr: "sample.bin: a binary file"},
		{name: "binary then text", args: []string{"-f", bin, "-f", le}, code: ExitIOError, inErr: "vex extract"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := te.run("", nil, append([]string{"triage", "-o", "ndjson"}, tc.args...)...)
			checkLookupRun(t, r, tc.code, tc.inputs, tc.inErr)
		})
	}
}

// TestTriageUnreadableFileFirst checks that a missing -f file fails the run
// before any lookup, so the inputs before it spend no quota.
func TestTriageUnreadableFileFirst(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	r := te.run("", nil, "triage", "-o", "ndjson", cleanIP, "-f", filepath.Join(t.TempDir(), "absent.txt"))
	if r.code != ExitIOError || !strings.Contains(r.stderr, "absent.txt") {
		t.Errorf("exit %d, want %d naming the file; stderr:\n%s", r.code, ExitIOError, r.stderr)
	}
	if n := te.fake.Count(""); n != 0 || r.stdout != "" {
		t.Errorf("%d requests and output %q before the error, want none", n, r.stdout)
	}
}

// TestNoKeyHint checks that only commands with --offline suggest it when no
// key is configured: vex serve has no --offline.
func TestNoKeyHint(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		offline bool
	}{
		{[]string{"triage", "-q", "8.8.8.8"}, true},
		{[]string{"investigate", "-q", "8.8.8.8"}, true},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, false},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), tc.args, IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
			Env{Home: t.TempDir(), Getenv: func(string) string { return "" }})
		if code != ExitConfig || !strings.Contains(errOut.String(), "--set-api-key") {
			t.Errorf("%v: exit %d, stderr %q; want %d and a key hint", tc.args, code, errOut.String(), ExitConfig)
		}
		if got := strings.Contains(errOut.String(), "--offline"); got != tc.offline {
			t.Errorf("%v: hint mentions --offline = %v, want %v:\n%s", tc.args, got, tc.offline, errOut.String())
		}
	}
}

// TestWatchlistRunInterrupted checks that Ctrl-C during a watchlist run
// exits 130 and reports the history as unchanged, instead of exit 3 and an
// error that blamed the knowledge base.
func TestWatchlistRunInterrupted(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{concurrency: 1})
	if r := te.run("", nil, "watchlist", "w", "--add", cleanIP, "--add", unseenHash); r.code != ExitOK {
		t.Fatalf("watchlist --add: exit %d, stderr %q", r.code, r.stderr)
	}
	te.fake.Inject(vttest.Fault{Match: unseenHash, Kind: vttest.Slow, Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for te.fake.Count("") < 2 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	r := te.runCtx(ctx, "", nil, "watchlist", "w", "--run")
	if r.code != ExitInterrupted || !strings.Contains(r.stderr, "interrupted") || strings.Contains(r.stderr, "knowledge base") {
		t.Errorf("exit %d, stderr %q; want %d saying it was interrupted", r.code, r.stderr, ExitInterrupted)
	}
}

// TestExtractAndImportReadUTF16 checks that vex extract and watchlist
// --import decode a UTF-16 file as triage -f does.
func TestExtractAndImportReadUTF16(t *testing.T) {
	te := newTriageEnv(t, vttest.Options{}, triageConfig{})
	file := writeFile(t, t.TempDir(), "report.txt", utf16File("C2 at "+suspiciousDom+" and "+cleanIP+"\r\n", binary.LittleEndian))
	r := te.run("", nil, "extract", "-o", "ndjson", file)
	if r.code != ExitOK || !strings.Contains(r.stdout, suspiciousDom) || !strings.Contains(r.stdout, cleanIP) {
		t.Errorf("extract: exit %d, stdout %q, stderr %q; want both indicators", r.code, r.stdout, r.stderr)
	}
	r = te.run("", nil, "watchlist", "w", "--import", file)
	if r.code != ExitOK {
		t.Errorf("import: exit %d, stderr %q", r.code, r.stderr)
	}
	r = te.run("", nil, "watchlist", "w", "--export")
	if !strings.Contains(r.stdout, suspiciousDom) || !strings.Contains(r.stdout, cleanIP) {
		t.Errorf("export after import: %q, want both indicators", r.stdout)
	}
}

// TestLoopback checks which listeners vex serve warns about when they
// serve plain HTTP: every address but a loopback one.
func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "0.0.0.0:1": false, "[::]:1": false, "192.0.2.1:1": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopback(a); got != want {
			t.Errorf("loopback(%s) = %v, want %v", addr, got, want)
		}
	}
}
