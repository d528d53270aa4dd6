package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedianOddAndEven(t *testing.T) {
	if got := median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("median of 5 1 3 = %v, want 3", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4 1 3 2 = %v, want 2.5", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median of nothing = %v, want 0", got)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	cases := map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.001: time.Millisecond}
	for p, want := range cases {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentile sorted its input in place")
	}
}

func TestKeptSectionStopsAtNextHeading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	page := "# Benchmarks\n\n## Side by side\n\nold table\n\n## Extraction throughput\n\nkept text\n\n### sub\n\nmore\n\n## Later\n\ndropped\n"
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keptSection(path)
	want := "## Extraction throughput\n\nkept text\n\n### sub\n\nmore\n"
	if got != want {
		t.Errorf("kept = %q, want %q", got, want)
	}
}

func TestWriteMarkdownKeepsExtraction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(path, []byte("# Benchmarks\n\n## Extraction throughput\n\nhand-written figures\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := []row{{ID: "P9", What: "a | b", Vex: "1 op/s", Met: "no", Why: "slow"}}
	if err := writeMarkdown(path, machine{Cores: 2}, rows, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"| P9 | a \\| b | 1 op/s | – |", "Why it misses: slow", "## Extraction throughput\n\nhand-written figures\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	// A second run must keep the section exactly once.
	if err := writeMarkdown(path, machine{Cores: 2}, rows, false); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if n := strings.Count(string(b), "## Extraction throughput"); n != 1 {
		t.Errorf("extraction section appears %d times after a rewrite, want 1", n)
	}
}

func TestCountReplyRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	out := chunk(`{"type":"stateful"}`, "") +
		chunk(`{"finished":false}`, "a,vt_source\n1,cache\n2,api\n") +
		chunk(`{"finished":true}`, "a,vt_source,x\n3,cache,y\n")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, cached, err := countReplyRows(path, "cache")
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Errorf("rows = %d, want 3", rows)
	}
	if cached != 1 {
		t.Errorf("rows with ,cache, = %d, want 1 (a value at the end of a line has no comma after it)", cached)
	}
}
