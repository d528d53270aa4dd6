package kb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/kb"
)

// The test binary doubles as a helper process: with helperEnv set it runs
// one knowledge-base job and exits, which lets the tests exercise real
// cross-process locking and file permissions.
const helperEnv = "VEX_KB_TEST_HELPER"

// Exit codes of the helper process.
const (
	helperOK       = 0
	helperFailed   = 1
	helperReadOnly = 3
)

func TestMain(m *testing.M) {
	if job := os.Getenv(helperEnv); job != "" {
		os.Exit(runHelper(job, os.Args))
	}
	os.Exit(m.Run())
}

// runHelper runs a job named by helperEnv. Arguments follow "--" on the
// command line: the KB path, then job-specific values.
func runHelper(job string, args []string) int {
	var rest []string
	for i, a := range args {
		if a == "--" {
			rest = args[i+1:]
		}
	}
	ctx := context.Background()
	k, err := kb.Open(ctx, rest[0], kb.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, kb.ErrReadOnly) {
			return helperReadOnly
		}
		return helperFailed
	}
	defer k.Close()

	switch job {
	case "write":
		// Wait for the start file, so both writers begin together.
		for {
			if _, err := os.Stat(rest[2]); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := writeMany(ctx, k, rest[1], 100); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return helperFailed
		}
	case "tag":
		if _, err := k.AddTags(ctx, "evil.com", "from-helper"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if errors.Is(err, kb.ErrReadOnly) {
				return helperReadOnly
			}
			return helperFailed
		}
	}
	return helperOK
}

// writeMany makes n separate writes of each kind for worker w.
func writeMany(ctx context.Context, k *kb.KB, w string, n int) error {
	for i := range n {
		ip := "10." + w + "." + strconv.Itoa(i/200) + "." + strconv.Itoa(i%200+1)
		if _, err := k.AddTags(ctx, ip, "worker-"+w); err != nil {
			return err
		}
		if _, err := k.AddNote(ctx, ip, "note "+strconv.Itoa(i)); err != nil {
			return err
		}
		if _, err := k.AddToWatchlist(ctx, "shared", ip); err != nil {
			return err
		}
	}
	return nil
}

func helperCmd(t *testing.T, job string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+job)
	return cmd
}

func TestTwoProcessWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kb.db")
	start := filepath.Join(dir, "start")

	var wg sync.WaitGroup
	outputs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	cmds := make([]*exec.Cmd, 2)
	for w := range 2 {
		cmds[w] = helperCmd(t, "write", path, strconv.Itoa(w+1), start)
		cmds[w].Stderr = &outputs[w]
		if err := cmds[w].Start(); err != nil {
			t.Fatal(err)
		}
	}
	// Both processes open the new file (and race to create the schema)
	// before the start file lets them write.
	if err := os.WriteFile(start, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = cmds[w].Wait()
		}()
	}
	wg.Wait()
	for w := range 2 {
		if errs[w] != nil {
			t.Errorf("writer %d: %v: %s", w+1, errs[w], outputs[w].String())
		}
	}

	ctx := context.Background()
	k := mustOpen(t, path)
	members, err := k.Watchlist(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 200 {
		t.Errorf("watchlist members = %d, want 200 from both writers", len(members))
	}
	tags, err := k.ListTags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 200 {
		t.Errorf("tags = %d, want 200", len(tags))
	}
	for _, ip := range []string{"10.1.0.1", "10.2.0.100"} {
		notes, err := k.Notes(ctx, ip)
		if err != nil {
			t.Fatal(err)
		}
		if len(notes) != 1 {
			t.Errorf("notes of %s = %d, want 1", ip, len(notes))
		}
	}
}

// fileDigest returns the SHA-256 of a file, to prove a failed open left it
// byte-for-byte as it was.
func fileDigest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func seedKB(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	k, err := kb.Open(ctx, path, kb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		ip := "10.9." + strconv.Itoa(i/200) + "." + strconv.Itoa(i%200+1)
		if _, err := k.AddNote(ctx, ip, "a note long enough to fill several pages of the database file"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.AddTags(ctx, "evil.com", "keep"); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kb.db")
	seedKB(t, path)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before := fileDigest(t, path)

	// Root may write any file, so as root the open runs in a child process
	// under the nobody account, the way an unprivileged analyst meets it.
	cmd := helperCmd(t, "tag", path)
	if os.Geteuid() == 0 {
		exe := copyExecutable(t, dir)
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		openTree(t, dir)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != helperReadOnly {
		t.Fatalf("open of a read-only file: %v, stderr %q; want exit %d (ErrReadOnly)", err, stderr.String(), helperReadOnly)
	}
	if msg := stderr.String(); !bytes.Contains([]byte(msg), []byte(path)) || !bytes.Contains([]byte(msg), []byte("permission")) {
		t.Errorf("error %q does not name the file and the permission problem", msg)
	}
	if fileDigest(t, path) != before {
		t.Error("a failed open changed the read-only file")
	}

	// The data is still there for a user who may write.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := mustOpen(t, path).Tags(context.Background(), "evil.com")
	if err != nil || len(got) != 1 {
		t.Errorf("tags after the read-only attempt = %q, %v; want [keep]", got, err)
	}
}

// copyExecutable copies the test binary into dir, because the go tool's
// build folder is private to the user who ran the tests.
func copyExecutable(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "kb.test")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// openTree lets other users traverse dir and its parents up to the system
// temporary folder, which t.TempDir creates with mode 0700.
func openTree(t *testing.T, dir string) {
	t.Helper()
	root := filepath.Clean(os.TempDir())
	for d := dir; d != root && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCorruptFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"not a database", func(t *testing.T, path string) {
			junk := bytes.Repeat([]byte("this is not SQLite\n"), 500)
			if err := os.WriteFile(path, junk, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"damaged pages", func(t *testing.T, path string) {
			seedKB(t, path)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Page 1 (the header and schema) stays intact; pages 2 and 3
			// hold table b-trees, so overwriting them breaks the tables.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 8192), 4096); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kb.db")
			tc.damage(t, path)
			before := fileDigest(t, path)

			k, err := kb.Open(context.Background(), path, kb.Options{})
			if err == nil {
				k.Close()
				t.Fatal("Open of a corrupt file succeeded")
			}
			if !errors.Is(err, kb.ErrCorrupt) {
				t.Errorf("error %v, want ErrCorrupt", err)
			}
			if fileDigest(t, path) != before {
				t.Error("Open changed the corrupt file")
			}
		})
	}
}

func TestForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE entries (key TEXT PRIMARY KEY, body BLOB)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileDigest(t, path)

	_, err = kb.Open(context.Background(), path, kb.Options{})
	if !errors.Is(err, kb.ErrForeign) {
		t.Errorf("error %v, want ErrForeign", err)
	}
	if fileDigest(t, path) != before {
		t.Error("Open changed another program's database")
	}
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kb.db")
	seedKB(t, path)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied) VALUES (99, '0099_future.sql', '2030-01-01T00:00:00.000000000Z')"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = kb.Open(context.Background(), path, kb.Options{})
	if !errors.Is(err, kb.ErrTooNew) {
		t.Errorf("error %v, want ErrTooNew", err)
	}
}

func TestMigrationsAppliedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kb.db")
	seedKB(t, path)
	seedKB(t, path)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("schema_migrations rows = %d, want 3", n)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// A read must not take SQLite's write lock: the osquery extension and the
// Splunk command read the knowledge base for every lookup, while `vex tag`
// in another process may be writing it.
func TestReadWhileAnotherProcessWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kb.db")
	k := mustOpen(t, path)
	if _, err := k.AddTags(ctx, "8.8.8.8", "resolver"); err != nil {
		t.Fatal(err)
	}

	// The writer stands for another process. _busy_timeout=0 makes a lock
	// conflict fail at once instead of waiting.
	writer, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	conn, err := writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	l, err := k.Local(ctx, "8.8.8.8")
	if err != nil {
		t.Fatalf("Local while another connection holds the write lock: %v", err)
	}
	if !reflect.DeepEqual(l.Tags, []string{"resolver"}) {
		t.Errorf("tags = %q, want [resolver]", l.Tags)
	}
}
