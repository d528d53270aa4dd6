package ratelimit

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLedgerFileOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), filepath.Join(dir, "ledger.db"), FreeTier, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ledger.db", "ledger.db-wal", "ledger.db-shm"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %o, want no access for group and others", name, mode)
		}
	}
}
