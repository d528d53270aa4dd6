package kb

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestNewFileOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kb.db")
	k, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.AddNote(context.Background(), "evil.com", "case 4711"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kb.db", "kb.db-wal", "kb.db-shm"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %o, want no access for group and others", name, mode)
		}
	}
}
