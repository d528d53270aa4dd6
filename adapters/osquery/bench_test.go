package osquery_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	vexosq "github.com/vex-ioc/vex/adapters/osquery"
	"github.com/vex-ioc/vex/adapters/osquery/osquerytest"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// BenchmarkTriageINCached runs `SELECT ... FROM vex_triage WHERE ioc IN
// (<1,000 cached IOCs>)` over Thrift against the extension in process, with
// the real engine, SQLite cache and knowledge base: the P3 row of `make
// bench` without the process boundary, small enough to profile.
func BenchmarkTriageINCached(b *testing.B) {
	fake := vttest.New(vttest.Options{Synthesize: true, Seed: 7})
	if err := fake.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fake.Close() })
	dir := b.TempDir()
	cfg := config.DefaultFor(dir)
	cfg.Cache.DataDir = filepath.Join(dir, "data")
	cfg.API.BaseURL = fake.URL()
	cfg.API.PerMinute, cfg.API.PerDay = 100000, 1000000
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
	h := start(b, vexosq.Options{Engine: e, KB: k})

	const n = 1000
	iocs := make([]string, n)
	for i := range iocs {
		iocs[i] = fmt.Sprintf("45.%d.%d.%d", 10+i/62500, i/250%250, 1+i%250)
	}
	q := osquerytest.Query{Table: "vex_triage", Columns: []string{"ioc", "verdict", "source", "error"},
		Where: []osquerytest.Cond{osquerytest.In("ioc", iocs...)}}
	opt := osquerytest.Options{IN: osquerytest.INOptimized}
	if _, _, err := h.m.Query(ctx, q, opt); err != nil { // fills the cache
		b.Fatal(err)
	}

	b.ReportAllocs()
	for b.Loop() {
		rows, _, err := h.m.Query(ctx, q, opt)
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) != n {
			b.Fatalf("got %d rows, want %d", len(rows), n)
		}
		for _, r := range rows {
			if r["source"] != "cache" {
				b.Fatalf("row %v is not a cache hit", r)
			}
		}
	}
}
