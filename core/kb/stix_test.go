package kb_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/kb"
)

// TestSTIXCreatedKeepsFirstExport checks that a second export of an object
// gets the created time of the first, while a new object gets its own.
func TestSTIXCreatedKeepsFirstExport(t *testing.T) {
	ctx := context.Background()
	k, err := kb.Open(ctx, filepath.Join(t.TempDir(), "kb.db"), kb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	first := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	later := first.Add(72 * time.Hour)

	got, err := k.STIXCreated(ctx, map[string]time.Time{"indicator--a": first})
	if err != nil || !got["indicator--a"].Equal(first) {
		t.Fatalf("first export: %v, %v; want %v", got, err, first)
	}
	got, err = k.STIXCreated(ctx, map[string]time.Time{"indicator--a": later, "indicator--b": later})
	if err != nil || !got["indicator--a"].Equal(first) || !got["indicator--b"].Equal(later) {
		t.Errorf("second export: %v, %v; want a at %v and b at %v", got, err, first, later)
	}
}
