package enrich_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// A 429 whose Retry-After runs for hours means the daily quota is spent.
// The engine records it in the shared ledger, so the next process on the
// same data directory sends nothing until the UTC day ends.
func TestDailyQuota429MarksLedger(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, Seed: 1})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	fake.Inject(vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Hour, Times: 1})

	dir := t.TempDir()
	cfg := config.DefaultFor(dir)
	cfg.Cache.DataDir = filepath.Join(dir, "data")
	cfg.API.BaseURL = fake.URL()
	cfg.API.PerMinute, cfg.API.PerDay = 1000, 1000
	open := func() *enrich.Engine {
		e, err := enrich.Open(context.Background(), cfg, secret.New("test-key-0123456789"), enrich.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}

	first := open().Lookup(context.Background(), "evil.example.com", enrich.Request{})
	if first.Status != enrich.StatusQuota {
		t.Fatalf("first lookup status = %s (%s), want %s", first.Status, first.Error, enrich.StatusQuota)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("fake saw %d requests for the daily-quota 429, want 1 (no retry)", n)
	}

	second := open().Lookup(context.Background(), "other.example.com", enrich.Request{})
	if second.Status != enrich.StatusQuota {
		t.Errorf("second process status = %s, want %s", second.Status, enrich.StatusQuota)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("fake saw %d requests, want 1: the second process should not ask once the quota is marked spent", n)
	}
}

// A per-minute 429 (short Retry-After) must not mark the whole day spent.
func TestMinute429DoesNotMarkLedger(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, Seed: 1})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	fake.Inject(vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 1})

	dir := t.TempDir()
	cfg := config.DefaultFor(dir)
	cfg.Cache.DataDir = filepath.Join(dir, "data")
	cfg.API.BaseURL = fake.URL()
	cfg.API.PerMinute, cfg.API.PerDay = 1000, 1000
	e, err := enrich.Open(context.Background(), cfg, secret.New("test-key-0123456789"), enrich.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if r := e.Lookup(context.Background(), "evil.example.com", enrich.Request{}); r.Status != enrich.StatusOK {
		t.Fatalf("status = %s (%s), want ok after one retry", r.Status, r.Error)
	}
	if r := e.Lookup(context.Background(), "other.example.com", enrich.Request{}); r.Status != enrich.StatusOK {
		t.Errorf("next lookup status = %s (%s), want ok", r.Status, r.Error)
	}
}
