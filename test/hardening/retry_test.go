package hardening

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// TestRetryWaitsAreBounded checks the waits the client asks for between
// retries through its Sleep hook, so no test time is spent sleeping.
func TestRetryWaitsAreBounded(t *testing.T) {
	cases := []struct {
		name     string
		fault    vttest.Fault
		requests int
		waits    [][2]time.Duration // allowed range of each wait
		err      error
	}{
		{
			name:     "retry_after_honoured",
			fault:    vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second},
			requests: 4,
			waits:    [][2]time.Duration{{2 * time.Second, 2200 * time.Millisecond}, {2 * time.Second, 2200 * time.Millisecond}, {2 * time.Second, 2200 * time.Millisecond}},
			err:      vt.ErrQuotaExceeded,
		},
		{
			name:     "exponential_backoff",
			fault:    vttest.Fault{Kind: vttest.Status, Status: http.StatusServiceUnavailable},
			requests: 4,
			waits:    [][2]time.Duration{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}, {2 * time.Second, 4 * time.Second}},
			err:      vt.ErrServer,
		},
		{
			// A Retry-After beyond a minute means the quota is gone for
			// long, so the client gives up at once instead of holding the run.
			name:     "long_retry_after_not_waited",
			fault:    vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Hour},
			requests: 1,
			err:      vt.ErrQuotaExceeded,
		},
		{
			name:     "not_retried_on_401",
			fault:    vttest.Fault{Kind: vttest.Status, Status: http.StatusUnauthorized},
			requests: 1,
			err:      vt.ErrUnauthorized,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, vttest.Options{})
			fake.Inject(tc.fault)
			var mu sync.Mutex
			var waits []time.Duration
			c, err := vt.New(vt.Config{
				BaseURL: fake.URL(), APIKey: secret.New(testKey), MaxRetries: 3, Timeout: 2 * time.Second,
				Sleep: func(_ context.Context, d time.Duration) error {
					mu.Lock()
					waits = append(waits, d)
					mu.Unlock()
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetObject(context.Background(), ioc.Domain, "example.com")
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), testKey) {
				t.Error("the error text contains the API key")
			}
			if n := fake.Count(""); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %d of them", waits, len(tc.waits))
			}
			for i, w := range waits {
				if w < tc.waits[i][0] || w > tc.waits[i][1] {
					t.Errorf("wait %d is %s, want %s to %s", i+1, w, tc.waits[i][0], tc.waits[i][1])
				}
			}
		})
	}
}

// TestZeroRetriesMeansNone sets max_retries = 0 in the config and expects a
// failing request to be sent once.
func TestZeroRetriesMeansNone(t *testing.T) {
	fake := startFake(t, vttest.Options{})
	fake.Inject(vttest.Fault{Kind: vttest.Status, Status: http.StatusInternalServerError})
	h := newHome(t, fake.URL(), apiConfig{maxRetries: -1})
	res := h.run(t, "", nil, "triage", "example.com", "-o", "ndjson")
	if res.code != 3 {
		t.Errorf("exit code %d, want 3; stderr:\n%s", res.code, res.stderr)
	}
	if n := fake.Count("/domains/example.com"); n != 1 {
		t.Errorf("%d requests with max_retries = 0, want 1", n)
	}
}
