package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/gateway"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
)

// manualClock is a clock that moves only when a test advances it.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestUpstreamKeyRejectionRemembered runs a gateway whose VirusTotal key
// the fake rejects: the first miss sends one request upstream, the misses
// that follow within AuthFailureHold get the same 502 without one, and
// after the hold the gateway tries the key again.
func TestUpstreamKeyRejectionRemembered(t *testing.T) {
	fake := startFake(t, 0)
	quota, err := ratelimit.NewMemory(ratelimit.Limits{PerMinute: 100, PerDay: 1000}, ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	g, err := gateway.New(gateway.Options{
		UpstreamURL:     fake.URL(),
		APIKey:          secret.New("wrong-virustotal-key-0123456789abcdef"),
		MaxRetries:      -1,
		Quota:           quota,
		Clients:         []gateway.Client{{Name: "bob", Token: secret.New(tokenBob)}},
		AuthFailureHold: time.Minute,
		Now:             clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })
	hc := newHTTPClient()
	paths := iocPaths(4)

	expectUpstreamKeyError := func(path string) {
		t.Helper()
		status, body, _ := get(t, hc, srv.URL+"/api/v3", path, tokenBob)
		if status != http.StatusBadGateway || !strings.Contains(string(body), `"code":"UpstreamAuthenticationError"`) {
			t.Errorf("GET %s: status %d body %s, want 502 UpstreamAuthenticationError", path, status, body)
		}
	}

	expectUpstreamKeyError(paths[0])
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("upstream requests after the first miss = %d, want 1", n)
	}
	expectUpstreamKeyError(paths[1])
	clock.Advance(59 * time.Second)
	expectUpstreamKeyError(paths[2])
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("upstream requests within the hold = %d, want still 1", n)
	}

	clock.Advance(2 * time.Second)
	expectUpstreamKeyError(paths[3])
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("upstream requests after the hold = %d, want 2", n)
	}
}
