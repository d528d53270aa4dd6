package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// render writes results through a new writer of format and returns the
// output.
func render(t *testing.T, format string, opt Options, results []enrich.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(format, &buf, opt)
	if err != nil {
		t.Fatalf("NewWriter(%q): %v", format, err)
	}
	for _, r := range results {
		if err := w.Write(r); err != nil {
			t.Fatalf("Write(%q): %v", r.Input, err)
		}
	}
	if err := w.Close(Count(results)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// checkGolden compares got with testdata/name, or rewrites the file under
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update after checking the change)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	plain := Options{Width: 100, Now: func() time.Time { return testNow }}
	defanged := plain
	defanged.Defang = true
	colored := plain
	colored.Color = true
	narrow := plain
	narrow.Width = 80
	// Width 0 is output to a file or pipe, which fits DefaultWidth.
	notTerminal := plain
	notTerminal.Width = 0

	cases := []struct {
		name   string
		format string
		opt    Options
	}{
		{"json.golden", FormatJSON, plain},
		{"json_defang.golden", FormatJSON, defanged},
		{"ndjson.golden", FormatNDJSON, plain},
		{"csv.golden", FormatCSV, plain},
		{"csv_defang.golden", FormatCSV, defanged},
		{"console.golden", FormatConsole, plain},
		{"console_defang.golden", FormatConsole, defanged},
		{"console_color.golden", FormatConsole, colored},
		{"rich.golden", FormatRich, plain},
		{"rich_color.golden", FormatRich, colored},
		{"rich_80.golden", FormatRich, narrow},
		{"rich_not_terminal.golden", FormatRich, notTerminal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkGolden(t, c.name, render(t, c.format, c.opt, sampleResults()))
		})
	}
}
