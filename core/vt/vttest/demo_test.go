package vttest_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

// TestDemoData triages every line of the demo list against the fake
// serving the demo folder, and checks the outcome the demo promises.
func TestDemoData(t *testing.T) {
	dir := filepath.Join(fixtures.RepoRoot(), "testdata", "demo")
	s := start(t, vttest.Options{FixturesDir: dir})
	c, err := vt.New(vt.Config{BaseURL: s.URL(), APIKey: secret.New("demo-key"), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(filepath.Join(dir, "iocs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	got := map[string]int{}
	types := map[ioc.Type]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i, err := ioc.Parse(line)
		if err != nil {
			got["invalid"]++
			continue
		}
		types[i.Type] = true
		if i.Has(ioc.FlagNonRoutable) {
			got["non_routable"]++
			continue
		}
		o, err := c.GetObject(context.Background(), i.Type, i.Value)
		switch {
		case errors.Is(err, vt.ErrNotFound):
			got["not_found"]++
		case err != nil:
			t.Errorf("%s (%s %s): %v", line, i.Type, i.Value, err)
		default:
			got[verdict.Of(o.Stats(), verdict.DefaultThresholds).String()]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	want := map[string]int{"MALICIOUS": 1, "SUSPICIOUS": 2, "CLEAN": 3, "UNKNOWN": 1, "not_found": 1, "non_routable": 1, "invalid": 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for _, typ := range ioc.Types {
		if !types[typ] {
			t.Errorf("demo list has no %s", typ)
		}
	}
}
