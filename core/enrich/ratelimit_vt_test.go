package enrich_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fakeClock is one time source for the fake VirusTotal, the ledger, the
// cache and the engine. Sleep advances it instead of waiting.
//
// A real request reaches VirusTotal a few milliseconds after the ledger
// reserved it, which is nothing against a 60 s window. A fake clock can jump
// a whole minute while a reserved request is still on its way, and the fake
// would then stamp it a minute late. So Sleep first waits, in real time,
// until every reserved request has reached the fake. It also waits for
// goroutines inside the limiter that are not sleeping, because one of them
// may have reserved a request and not yet counted it in flight.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	inFlight  atomic.Int64 // requests the limiter let go that have no response yet
	reserving atomic.Int64 // goroutines in the limiter's Wait, less those in Sleep
}

// limiterSleep marks the context of a limiter's Wait, so Sleep knows its
// caller is not about to send a request.
type limiterSleep struct{}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if ctx.Value(limiterSleep{}) != nil {
		c.reserving.Add(-1)
		defer c.reserving.Add(1)
	}
	target := c.Now().Add(d)
	for c.inFlight.Load() > 0 || c.reserving.Load() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(50 * time.Microsecond)
	}
	c.mu.Lock()
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
	return ctx.Err()
}

// trackedLimiter counts a request as in flight once the limiter lets it go.
type trackedLimiter struct {
	ratelimit.Quota
	clock *fakeClock
}

func (l trackedLimiter) Wait(ctx context.Context) error {
	l.clock.reserving.Add(1)
	defer l.clock.reserving.Add(-1)
	err := l.Quota.Wait(context.WithValue(ctx, limiterSleep{}, true))
	if err == nil {
		l.clock.inFlight.Add(1)
	}
	return err
}

// landedTransport marks a request as no longer in flight once the fake has
// responded, which it does after recording the request.
type landedTransport struct{ clock *fakeClock }

func (t landedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	t.clock.inFlight.Add(-1)
	return resp, err
}

// rig is an engine wired to the real VirusTotal client, a SQLite ledger and
// a SQLite cache in one data directory, against a fake VirusTotal.
type rig struct {
	clock  *fakeClock
	fake   *vttest.Server
	engine *enrich.Engine
}

func newRig(t *testing.T, fakeOpts vttest.Options, limits ratelimit.Limits) *rig {
	t.Helper()
	ctx := context.Background()
	clock := newFakeClock()
	fakeOpts.Clock = clock.Now
	fakeOpts.APIKey = testKey
	fake := vttest.New(fakeOpts)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })

	dir := t.TempDir()
	ledger, err := ratelimit.Open(ctx, filepath.Join(dir, "ledger.db"), limits,
		ratelimit.Options{Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ledger.Close() })
	store, err := cache.Open(ctx, filepath.Join(dir, "cache.db"), cache.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	client, err := vt.New(vt.Config{
		BaseURL:    fake.URL(),
		APIKey:     secret.New(testKey),
		HTTPClient: &http.Client{Transport: landedTransport{clock}},
		Limiter:    trackedLimiter{Quota: ledger, clock: clock},
		Sleep:      clock.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	engine := enrich.New(enrich.Options{
		Enrichers:   []enrich.Enricher{&enrich.VirusTotal{Client: client}},
		Cache:       store,
		Concurrency: 4,
		Now:         clock.Now,
	})
	return &rig{clock: clock, fake: fake, engine: engine}
}

// batch runs inputs and returns the results in emit order.
func (r *rig) batch(t *testing.T, inputs []string) []enrich.Result {
	t.Helper()
	var got []enrich.Result
	r.engine.Batch(context.Background(), inputs, enrich.Request{}, func(i int, res enrich.Result) {
		if i != len(got) {
			t.Errorf("emitted index %d, want %d", i, len(got))
		}
		got = append(got, res)
	})
	if len(got) != len(inputs) {
		t.Fatalf("got %d results for %d inputs", len(got), len(inputs))
	}
	return got
}

// distinctIOCs returns n routable indicators of every lookup type.
func distinctIOCs(n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		switch i % 5 {
		case 0:
			out = append(out, fmt.Sprintf("%064x", 0xfeed0000+i))
		case 1:
			out = append(out, fmt.Sprintf("%032x", 0xbeef0000+i))
		case 2:
			out = append(out, fmt.Sprintf("45.83.140.%d", 10+i))
		case 3:
			out = append(out, fmt.Sprintf("host%d.example-c2.com", i))
		case 4:
			out = append(out, fmt.Sprintf("http://host%d.example-c2.net/gate.php", i))
		}
	}
	return out
}

// maxInWindow returns the maximum number of requests the fake received in any 60 s
// window.
func maxInWindow(reqs []vttest.Request) int {
	maxCount := 0
	for i, first := range reqs {
		n := 0
		for _, r := range reqs[i:] {
			if r.Time.Sub(first.Time) < time.Minute {
				n++
			}
		}
		maxCount = max(maxCount, n)
	}
	return maxCount
}

func TestBatchStaysUnderFakeRateLimit(t *testing.T) {
	const perMinute = 4
	r := newRig(t, vttest.Options{Synthesize: true, RPM: perMinute},
		ratelimit.Limits{PerMinute: perMinute, PerDay: 500})
	inputs := distinctIOCs(20)
	start := r.clock.Now()

	results := r.batch(t, inputs)

	for i, res := range results {
		if res.Input != inputs[i] {
			t.Errorf("result %d is for %q, want %q (input order)", i, res.Input, inputs[i])
		}
		if res.Status != enrich.StatusOK || res.Source != enrich.SourceAPI {
			t.Errorf("%s: status %s from %s (%s), want ok from api", res.Input, res.Status, res.Source, res.Error)
		}
	}
	reqs := r.fake.Requests()
	if len(reqs) != 20 {
		t.Errorf("fake received %d requests, want exactly 20", len(reqs))
	}
	for _, q := range reqs {
		if q.Status != http.StatusOK {
			t.Errorf("request %s got status %d, want 200 (no 429)", q.Path, q.Status)
		}
	}
	if got := maxInWindow(reqs); got > perMinute {
		t.Errorf("fake received %d requests in one 60 s window, limit %d", got, perMinute)
	}
	// 20 requests at 4 a minute need four full windows after the first.
	if elapsed := r.clock.Now().Sub(start); elapsed < 4*time.Minute {
		t.Errorf("batch took %v of fake time, want at least 4m under a limit of 4/min", elapsed)
	}
}

func TestBatchDuplicatesSpendOneRequest(t *testing.T) {
	r := newRig(t, vttest.Options{Synthesize: true, RPM: 4}, ratelimit.Limits{PerMinute: 4, PerDay: 500})
	forms := []string{"evil-dup.example.com", "EVIL-DUP.example.com", "evil-dup[.]example[.]com", "evil-dup.example.com."}
	var inputs []string
	for i := range 20 {
		inputs = append(inputs, forms[i%len(forms)])
	}

	results := r.batch(t, inputs)

	for i, res := range results {
		if res.Input != inputs[i] || res.Normalized != "evil-dup.example.com" || res.Status != enrich.StatusOK {
			t.Errorf("result %d: input %q normalized %q status %s, want %q evil-dup.example.com ok",
				i, res.Input, res.Normalized, res.Status, inputs[i])
		}
	}
	if n := r.fake.Count(""); n != 1 {
		t.Errorf("fake received %d requests for 20 duplicates, want 1", n)
	}
}

func TestBatchSecondRunServedFromCache(t *testing.T) {
	r := newRig(t, vttest.Options{Synthesize: true, RPM: 4}, ratelimit.Limits{PerMinute: 4, PerDay: 500})
	inputs := distinctIOCs(20)
	first := r.batch(t, inputs)
	if n := r.fake.Count(""); n != 20 {
		t.Fatalf("first run: fake received %d requests, want 20", n)
	}
	r.fake.ResetRequests()

	second := r.batch(t, inputs)

	if n := r.fake.Count(""); n != 0 {
		t.Errorf("second run: fake received %d requests, want 0 (cache)", n)
	}
	for i, res := range second {
		if res.Source != enrich.SourceCache {
			t.Errorf("%s: source %s, want cache", res.Input, res.Source)
		}
		if res.Verdict != first[i].Verdict || res.Stats != first[i].Stats {
			t.Errorf("%s: cached verdict %s %+v differs from fetched %s %+v",
				res.Input, res.Verdict, res.Stats, first[i].Verdict, first[i].Stats)
		}
	}
}

func TestBatchQuotaFromLedgerStopsRequests(t *testing.T) {
	r := newRig(t, vttest.Options{Synthesize: true}, ratelimit.Limits{PerMinute: 100, PerDay: 5})
	inputs := distinctIOCs(12)

	results := r.batch(t, inputs)

	statuses := map[enrich.Status]int{}
	for _, res := range results {
		statuses[res.Status]++
		if res.Status == enrich.StatusQuota && res.Error != "not looked up: quota exhausted" {
			t.Errorf("%s: error %q, want \"not looked up: quota exhausted\"", res.Input, res.Error)
		}
	}
	if statuses[enrich.StatusOK] != 5 || statuses[enrich.StatusQuota] != 7 {
		t.Errorf("statuses %v, want 5 ok and 7 quota_exhausted", statuses)
	}
	if n := r.fake.Count(""); n != 5 {
		t.Errorf("fake received %d requests, want the daily quota of 5", n)
	}
	if !slices.ContainsFunc(results[:5], func(res enrich.Result) bool { return res.Status == enrich.StatusOK }) {
		t.Errorf("no early result kept: %v", statuses)
	}
}
