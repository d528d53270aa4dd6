package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirOpen checks the warning about a data directory that users
// other than its owner may write.
func TestDataDirOpen(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o700, false}, {0o755, false}, {0o775, true}, {0o777, true}, {0o1777, true}} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		c := &Config{}
		c.Cache.DataDir = dir
		got := c.DataDirOpen()
		if (got != "") != tc.warn || tc.warn && !strings.Contains(got, "chmod 700 "+dir) {
			t.Errorf("mode %04o: warning %q, want one: %v", tc.mode, got, tc.warn)
		}
	}
	c := &Config{}
	c.Cache.DataDir = filepath.Join(t.TempDir(), "absent")
	if got := c.DataDirOpen(); got != "" {
		t.Errorf("missing directory: warning %q, want none", got)
	}
}
