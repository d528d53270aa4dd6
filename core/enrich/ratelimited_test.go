package enrich_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// rateLimitEngine returns an engine on a fake VirusTotal whose client
// retries once without sleeping, and the quota it shares with VirusTotal.
func rateLimitEngine(t *testing.T, fake *vttest.Server, limits ratelimit.Limits) (*enrich.Engine, *ratelimit.Memory) {
	t.Helper()
	quota, err := ratelimit.NewMemory(limits, ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := vt.New(vt.Config{
		BaseURL:    fake.URL(),
		APIKey:     secret.New(testKey),
		MaxRetries: 1,
		Limiter:    quota,
		Sleep:      func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	e := enrich.New(enrich.Options{
		Enrichers:   []enrich.Enricher{&enrich.VirusTotal{Client: client, Quota: quota}},
		Concurrency: 1,
	})
	return e, quota
}

func startSynthFake(t *testing.T, opts vttest.Options) *vttest.Server {
	t.Helper()
	opts.Synthesize, opts.APIKey = true, testKey
	fake := vttest.New(opts)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	return fake
}

// A 429 for the per-minute rate is not a spent daily quota: the result names
// the rate limit and promises no reset time, and the quota shared
// with other processes stays open.
func TestPerMinute429IsRateLimited(t *testing.T) {
	perMinute := vttest.ErrorBody("QuotaExceededError", "Quota exceeded: more than 4 requests per minute")
	faults := map[string]vttest.Fault{
		"per_minute_message": {Kind: vttest.Status, Status: http.StatusTooManyRequests, Body: perMinute},
		"bare":               {Kind: vttest.Status, Status: http.StatusTooManyRequests},
		"short_retry_after":  {Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Second},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			fake := startSynthFake(t, vttest.Options{})
			fault.Match = "/domains/b.example.com"
			fake.Inject(fault)
			e, quota := rateLimitEngine(t, fake, ratelimit.Limits{PerMinute: 1000, PerDay: 1000})

			var results []enrich.Result
			stats := e.Batch(context.Background(), []string{"a.example.com", "b.example.com", "c.example.com"},
				enrich.Request{}, func(_ int, r enrich.Result) { results = append(results, r) })

			if results[0].Status != enrich.StatusOK {
				t.Errorf("first status = %s (%s), want ok", results[0].Status, results[0].Error)
			}
			for _, r := range results[1:] {
				if r.Status != enrich.StatusQuota {
					t.Errorf("%s status = %s, want %s", r.Input, r.Status, enrich.StatusQuota)
				}
				if !strings.Contains(r.Error, "rate-limited") || strings.Contains(r.Error, "quota exhausted") {
					t.Errorf("%s error = %q, want the rate limit named and no spent quota", r.Input, r.Error)
				}
			}
			if stats.Stopped != enrich.StatusQuota || !stats.RateLimited {
				t.Errorf("stats Stopped = %q RateLimited = %v, want %s and true", stats.Stopped, stats.RateLimited, enrich.StatusQuota)
			}
			st, err := quota.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Exhausted {
				t.Error("the per-minute 429 marked the daily quota spent")
			}
		})
	}
}

// A 429 for the daily quota, from VirusTotal or from the local count, keeps
// its "quota exhausted" result.
func TestDaily429IsQuotaExhausted(t *testing.T) {
	daily := map[string]struct {
		fault  *vttest.Fault
		limits ratelimit.Limits
	}{
		"long_retry_after": {fault: &vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Hour},
			limits: ratelimit.Limits{PerMinute: 1000, PerDay: 1000}},
		"daily_message": {fault: &vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests,
			Body: vttest.ErrorBody("QuotaExceededError", "Quota exceeded: daily quota of 500 requests used")},
			limits: ratelimit.Limits{PerMinute: 1000, PerDay: 1000}},
		"local_ledger": {limits: ratelimit.Limits{PerMinute: 1000, PerDay: 1}},
	}
	for name, c := range daily {
		t.Run(name, func(t *testing.T) {
			fake := startSynthFake(t, vttest.Options{})
			if c.fault != nil {
				f := *c.fault
				f.Match = "/domains/b.example.com"
				fake.Inject(f)
			}
			e, _ := rateLimitEngine(t, fake, c.limits)

			var results []enrich.Result
			stats := e.Batch(context.Background(), []string{"a.example.com", "b.example.com"},
				enrich.Request{}, func(_ int, r enrich.Result) { results = append(results, r) })

			if r := results[1]; r.Status != enrich.StatusQuota || r.Error != "not looked up: quota exhausted" {
				t.Errorf("status = %s (%q), want %s (not looked up: quota exhausted)", r.Status, r.Error, enrich.StatusQuota)
			}
			if stats.Stopped != enrich.StatusQuota || stats.RateLimited {
				t.Errorf("stats Stopped = %q RateLimited = %v, want %s and false", stats.Stopped, stats.RateLimited, enrich.StatusQuota)
			}
		})
	}
}
