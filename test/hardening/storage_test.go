package hardening

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// keptTag is the KB tag each storage test expects to survive.
const keptTag = "keep-me"

// warmHome returns a home whose cache holds example.com and whose KB tags
// example.com with keptTag.
func warmHome(t *testing.T) (*vttest.Server, *home) {
	t.Helper()
	fake := startFake(t, vttest.Options{Seed: 5})
	h := newHome(t, fake.URL(), apiConfig{})
	if res := h.run(t, "", nil, "tag", "example.com", "--add", keptTag); res.code != 0 {
		t.Fatalf("tag: exit %d: %s", res.code, res.stderr)
	}
	if res := h.run(t, "", nil, "triage", "-o", "ndjson", "example.com"); len(parseNDJSON(t, res.stdout)) != 1 {
		t.Fatalf("warm-up triage printed no result: %s", res.stderr)
	}
	return fake, h
}

// runBinary runs the vex binary with h's environment. wrap, when set,
// changes the command before it starts.
func runBinary(t *testing.T, h *home, wrap func(*exec.Cmd), args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "vex"), args...)
	cmd.Env = h.processEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if wrap != nil {
		wrap(cmd)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("vex %v was killed by %v; stderr:\n%s", args, ws.Signal(), errOut.String())
		}
	} else if err != nil {
		t.Fatalf("run vex %v: %v", args, err)
	}
	return runResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// checkDegradedRun checks a triage of example.com and 1.1.1.1 on a broken
// data directory: both results printed, the KB tag still attached where
// the KB is readable, a warning on stderr, and the documented exit code.
func checkDegradedRun(t *testing.T, res runResult, kbReadable bool) {
	t.Helper()
	results := parseNDJSON(t, res.stdout)
	if len(results) != 2 {
		t.Fatalf("%d results, want 2; exit %d; stderr:\n%s", len(results), res.code, res.stderr)
	}
	for _, r := range results {
		if r.Status != enrich.StatusOK {
			t.Errorf("%s: status %q (%s), want ok", r.Input, r.Status, r.Error)
		}
	}
	if kbReadable && !slices.Contains(results[0].Local.Tags, keptTag) {
		t.Errorf("example.com lost its KB tag: local %+v", results[0].Local)
	}
	if !strings.Contains(strings.ToLower(res.stderr), "warn") {
		t.Errorf("no warning on stderr about the broken data directory:\n%s", res.stderr)
	}
	if want := expectedExit(results); res.code != want {
		t.Errorf("exit code %d, want %d; stderr:\n%s", res.code, want, res.stderr)
	}
}

// checkTagKept lists the tags of example.com with a healthy data directory.
func checkTagKept(t *testing.T, h *home) {
	t.Helper()
	res := h.run(t, "", nil, "tag", "example.com")
	if res.code != 0 || !strings.Contains(res.stdout, keptTag) {
		t.Errorf("tag %q is gone from the KB: exit %d, stdout %q, stderr %q", keptTag, res.code, res.stdout, res.stderr)
	}
}

// TestReadOnlyDataDir makes the data directory and its files read-only.
// As root, which ignores file modes, vex runs as uid 65534 (nobody) instead.
func TestReadOnlyDataDir(t *testing.T) {
	_, h := warmHome(t)
	var wrap func(*exec.Cmd)
	restore := makeReadOnly(t, h, &wrap)

	// NOTE: the KB opens for writing, so a read-only one is skipped with
	// a warning and results carry no local tags; it is not emptied.
	res := runBinary(t, h, wrap, "triage", "-o", "ndjson", "example.com", "1.1.1.1")
	checkDegradedRun(t, res, false)
	if !strings.Contains(res.stderr, "knowledge base") {
		t.Errorf("no warning names the knowledge base:\n%s", res.stderr)
	}

	res = runBinary(t, h, wrap, "tag", "example.com", "--add", "new-tag")
	if res.code == 0 {
		t.Errorf("tag --add on a read-only KB succeeded")
	}
	if !strings.Contains(res.stderr, "writable") {
		t.Errorf("tag --add on a read-only KB: stderr has no hint to make it writable:\n%s", res.stderr)
	}
	restore()
	checkTagKept(t, h)
}

// makeReadOnly takes write permission away from h's data directory for the
// vex processes that wrap prepares, and returns a function that gives it
// back.
func makeReadOnly(t *testing.T, h *home, wrap *func(*exec.Cmd)) func() {
	t.Helper()
	entries, err := os.ReadDir(h.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o444)
	dirMode := os.FileMode(0o555)
	if os.Geteuid() == 0 {
		// uid 65534 must read the config and traverse the directories.
		// It may write nothing, because root owns them all.
		mode, dirMode = 0o644, 0o755
		for _, d := range []string{filepath.Dir(h.dir), h.dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(h.config, 0o644); err != nil {
			t.Fatal(err)
		}
		*wrap = func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(h.dataDir, e.Name()), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(h.dataDir, dirMode); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = os.Chmod(h.dataDir, 0o700)
		for _, e := range entries {
			_ = os.Chmod(filepath.Join(h.dataDir, e.Name()), 0o600)
		}
	}
}

// TestFullDisk runs vex with a file size limit of zero (RLIMIT_FSIZE), so
// every write that would grow a file fails with EFBIG the way a full disk
// fails with ENOSPC.
func TestFullDisk(t *testing.T) {
	_, h := warmHome(t)
	full := func(c *exec.Cmd) {
		c.Args = append([]string{"/bin/sh", "-c", `ulimit -f 0 && exec "$0" "$@"`, c.Path}, c.Args[1:]...)
		c.Path = "/bin/sh"
	}
	before := kbBytes(t, h)

	// SQLite cannot even read a WAL-mode file when it may not grow the
	// -shm file, so the KB is unavailable in this run: a warning, not a
	// silent empty KB.
	res := runBinary(t, h, full, "triage", "-o", "ndjson", "--no-cache", "example.com", "1.1.1.1")
	checkDegradedRun(t, res, false)
	if !strings.Contains(res.stderr, "knowledge base") {
		t.Errorf("no warning names the knowledge base:\n%s", res.stderr)
	}

	res = runBinary(t, h, full, "tag", "example.com", "--add", "new-tag")
	if res.code == 0 {
		t.Errorf("tag --add on a full disk succeeded")
	}
	if res.stderr == "" {
		t.Error("tag --add on a full disk printed no error")
	}
	if after := kbBytes(t, h); len(after) < len(before) {
		t.Errorf("KB shrank from %d to %d bytes on a full disk", len(before), len(after))
	}
	checkTagKept(t, h)
}

// kbBytes reads the KB file.
func kbBytes(t *testing.T, h *home) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dataDir, config.KBFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorruptCache overwrites the cache file with garbage.
func TestCorruptCache(t *testing.T) {
	_, h := warmHome(t)
	path := filepath.Join(h.dataDir, config.CacheFile)
	garbage := bytes.Repeat([]byte("not a database "), 512)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	res := h.run(t, "", nil, "triage", "-o", "ndjson", "example.com", "1.1.1.1")
	checkDegradedRun(t, runResult{code: res.code, stdout: res.stdout, stderr: res.stderr}, true)
	if !strings.Contains(res.stderr, "cache") {
		t.Errorf("the warning does not name the cache:\n%s", res.stderr)
	}
	checkTagKept(t, h)
}

// TestCorruptKB damages the KB two ways: garbage in place of the whole
// file, and one damaged page inside a real KB. Lookups still print their
// results, KB commands fail with a clear message, and the file is left
// byte for byte as it was.
func TestCorruptKB(t *testing.T) {
	cases := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"garbage_file", func(b []byte) []byte { return bytes.Repeat([]byte("garbage!"), len(b)/8+1) }},
		{"damaged_page", func(b []byte) []byte {
			out := slices.Clone(b)
			for i := 4096; i < len(out) && i < 8192; i++ {
				out[i] = 0xa5
			}
			return out
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, h := warmHome(t)
			for i := range 40 {
				if res := h.run(t, "", nil, "tag", "example.com", "--add", "extra-"+strings.Repeat("x", i)); res.code != 0 {
					t.Fatalf("tag: %s", res.stderr)
				}
			}
			path := filepath.Join(h.dataDir, config.KBFile)
			damaged := tc.damage(kbBytes(t, h))
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"-wal", "-shm"} {
				os.Remove(path + suffix)
			}

			res := h.run(t, "", nil, "triage", "-o", "ndjson", "example.com", "1.1.1.1")
			checkDegradedRun(t, res, false)

			for _, args := range [][]string{{"tag", "example.com", "--add", "x"}, {"tag", "example.com"}, {"note", "example.com", "--add", "x"}} {
				res := h.run(t, "", nil, args...)
				if res.code == 0 {
					t.Errorf("vex %v on a corrupt KB exited 0; stdout %q", args, res.stdout)
				}
				if !strings.Contains(res.stderr, "knowledge base") || !strings.Contains(res.stderr, "move the file aside") {
					t.Errorf("vex %v: stderr does not name the KB and the fix:\n%s", args, res.stderr)
				}
			}
			if now := kbBytes(t, h); !bytes.Equal(now, damaged) {
				t.Errorf("vex changed the corrupt KB file (%d bytes, was %d)", len(now), len(damaged))
			}
		})
	}
}
