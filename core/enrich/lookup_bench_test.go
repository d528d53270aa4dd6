package enrich_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// BenchmarkLookupCached measures one Lookup answered from the SQLite cache,
// with a knowledge base attached, as the osquery table and the Splunk
// command do for every distinct IOC they have seen before.
func BenchmarkLookupCached(b *testing.B) {
	fake := vttest.New(vttest.Options{Synthesize: true, Seed: 7})
	if err := fake.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fake.Close() })
	dir := b.TempDir()
	cfg := config.DefaultFor(dir)
	cfg.Cache.DataDir = filepath.Join(dir, "data")
	cfg.API.BaseURL = fake.URL()
	cfg.API.PerMinute, cfg.API.PerDay = 100000, 100000
	ctx := context.Background()
	k, err := kb.Open(ctx, filepath.Join(dir, "kb.db"), kb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { k.Close() })
	e, err := enrich.Open(ctx, cfg, secret.New("bench-key-0123456789"), enrich.OpenOptions{KB: k})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })

	const n = 1000
	iocs := make([]string, n)
	for i := range iocs {
		iocs[i] = fmt.Sprintf("45.%d.%d.%d", 10+i/62500, i/250%250, 1+i%250)
		if r := e.Lookup(ctx, iocs[i], enrich.Request{}); r.Source != enrich.SourceAPI {
			b.Fatalf("warm-up lookup of %s: source %q, error %q", iocs[i], r.Source, r.Error)
		}
	}

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := e.Lookup(ctx, iocs[i%n], enrich.Request{})
		if r.Source != enrich.SourceCache {
			b.Fatalf("lookup of %s: source %q, want cache", iocs[i%n], r.Source)
		}
		i++
	}
}
