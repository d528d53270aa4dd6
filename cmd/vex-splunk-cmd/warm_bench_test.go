package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/adapters/splunk"
	"github.com/vex-ioc/vex/adapters/splunk/splunktest"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// BenchmarkWarmCache runs the command's real backend (fake splunkd for the
// key, SQLite cache, fake VirusTotal) in process on 200,000 events over
// 10,000 distinct public IPs, after one run has filled the cache. It is the
// inner loop of the P1 row of `make bench`, small enough to profile.
func BenchmarkWarmCache(b *testing.B) {
	vt := vttest.New(vttest.Options{Synthesize: true, Seed: 7, APIKey: apiKey})
	if err := vt.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { vt.Close() })
	sd := splunktest.New(b, splunktest.Options{
		SessionKey:  session,
		Credentials: []splunktest.Credential{{Realm: "vex", Username: "api_key", Password: apiKey}},
	})
	home := b.TempDir()
	cfgText := fmt.Sprintf("[api]\nbase_url = %q\ntier = \"premium\"\nper_minute = 100000\nper_day = 1000000\nconcurrency = 16\n\n[cache]\ndata_dir = %q\n\n[splunk]\nallow_self_signed_loopback = true\n",
		vt.URL(), filepath.Join(home, "data"))
	path := filepath.Join(home, "config.toml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("VEX_CONFIG", path)
	b.Setenv("HOME", home)
	cfg, err := loadConfig()
	if err != nil {
		b.Fatal(err)
	}
	s := setup{Config: cfg, UserAgent: "vex/bench"}

	var in strings.Builder
	in.WriteString(getinfoWith(&testing.T{}, sd.URL(), session, "field=src_ip"))
	const chunks, rows, distinct = 4, 50_000, 10_000
	n := 0
	for c := range chunks {
		var body strings.Builder
		body.WriteString("_serial,_time,src_ip,__mv_src_ip,host,_raw\n")
		for range rows {
			i := n % distinct
			ip := fmt.Sprintf("45.%d.%d.%d", 10+i/62500, i/250%250, 1+i%250)
			fmt.Fprintf(&body, "%d,1700000000,%s,,web%d,\"GET /index.html HTTP/1.1 200 from %s\"\n", n, ip, n%7, ip)
			n++
		}
		in.WriteString(execute(c == chunks-1, body.String()))
	}
	input := []byte(in.String())
	run := func() {
		err := splunk.Run(context.Background(), bytes.NewReader(input), io.Discard, splunk.Config{
			Open: s.open, CacheKey: splunk.IOCCacheKey, SharedTTL: cfg.Cache.TTL,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	run() // fill the cache
	if got := vt.Count(""); got != distinct {
		b.Fatalf("warm-up sent %d requests to the fake VirusTotal, want %d", got, distinct)
	}

	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.ReportMetric(float64(chunks*rows*b.N)/b.Elapsed().Seconds(), "events/s")
	if got := vt.Count(""); got != distinct {
		b.Errorf("measured runs sent %d requests in all, want %d: the cache was not warm", got, distinct)
	}
}
