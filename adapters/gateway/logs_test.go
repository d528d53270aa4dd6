package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/adapters/gateway"
)

// TestComponentHandlerOneKey logs through nested component loggers and
// checks that each JSON line has one "component" key with the joined path
// and keeps the other attributes.
func TestComponentHandlerOneKey(t *testing.T) {
	var buf bytes.Buffer
	root := slog.New(gateway.NewComponentHandler(slog.NewJSONHandler(&buf, nil), "vex-serve"))
	root.Info("access")
	up := root.With("replica", 2).With("component", "upstream").With("attempt", 1)
	up.Info("virustotal request", "path", "/files/x")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), buf.String())
	}
	want := []string{"vex-serve", "vex-serve/upstream"}
	for i, line := range lines {
		if n := strings.Count(line, `"component":`); n != 1 {
			t.Errorf("line %d has %d component keys, want 1: %s", i+1, n, line)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if v["component"] != want[i] {
			t.Errorf("line %d component = %v, want %q", i+1, v["component"], want[i])
		}
	}
	for _, attr := range []string{`"replica":2`, `"attempt":1`, `"path":"/files/x"`} {
		if !strings.Contains(lines[1], attr) {
			t.Errorf("line 2 lacks %s: %s", attr, lines[1])
		}
	}
}
