package vt_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

const testKey = "k3y-0123456789abcdef0123456789abcdef"

const sha = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

// sleepRecorder is a Config.Sleep that returns at once and remembers the
// requested delays.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Duration
	for _, d := range s.delays {
		t += d
	}
	return t
}

func startFake(t *testing.T, opts vttest.Options) *vttest.Server {
	t.Helper()
	srv := vttest.New(opts)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newClient(t *testing.T, cfg vt.Config) (*vt.Client, *sleepRecorder) {
	t.Helper()
	rec := &sleepRecorder{}
	if cfg.Sleep == nil {
		cfg.Sleep = rec.sleep
	}
	if cfg.APIKey.IsZero() {
		cfg.APIKey = secret.New(testKey)
	}
	c, err := vt.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "ftp://example.com/api/v3", "file:///etc/passwd", "http://", "http://u:p@127.0.0.1/api/v3", "http://127.0.0.1/api/v3?x=1", "::"} {
		if _, err := vt.New(vt.Config{BaseURL: base}); err == nil {
			t.Errorf("New(%q) succeeded, want an error", base)
		}
	}
	if _, err := vt.New(vt.Config{BaseURL: "https://127.0.0.1:8443/api/v3/"}); err != nil {
		t.Errorf("New with an https base URL: %v", err)
	}
}

func TestGetObjectPaths(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL()})
	cases := []struct {
		typ   ioc.Type
		value string
		path  string
	}{
		{ioc.SHA256, sha, "/files/" + sha},
		{ioc.MD5, "44d88612fea8a8f36de82e1278abb02f", "/files/44d88612fea8a8f36de82e1278abb02f"},
		{ioc.SHA1, "3395856ce81f2b7382dee72602f798b642f14140", "/files/3395856ce81f2b7382dee72602f798b642f14140"},
		{ioc.IPv4, "203.0.113.9", "/ip_addresses/203.0.113.9"},
		{ioc.IPv6, "2001:db8::1", "/ip_addresses/2001:db8::1"},
		{ioc.Domain, "example.com", "/domains/example.com"},
		{ioc.URL, "http://example.com/", "/urls/aHR0cDovL2V4YW1wbGUuY29tLw"},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ), func(t *testing.T) {
			o, err := c.GetObject(context.Background(), tc.typ, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			reqs := srv.Requests()
			if got := reqs[len(reqs)-1].Path; got != tc.path {
				t.Errorf("request path = %q, want %q", got, tc.path)
			}
			if o.ID == "" || o.Type == "" || o.Attributes == nil {
				t.Errorf("object missing type, id or attributes: %+v", o)
			}
		})
	}
	if _, err := c.GetObject(context.Background(), ioc.Type("email"), "a@b.c"); err == nil {
		t.Error("GetObject accepted an unknown ioc type")
	}
}

func TestErrorKinds(t *testing.T) {
	sentinels := []error{vt.ErrNotFound, vt.ErrQuotaExceeded, vt.ErrUnauthorized, vt.ErrForbidden, vt.ErrBadRequest, vt.ErrServer}
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"not found", 404, `{"error":{"code":"NotFoundError","message":"File \"x\" not found"}}`, vt.ErrNotFound},
		{"quota", 429, `{"error":{"code":"QuotaExceededError","message":"Quota exceeded"}}`, vt.ErrQuotaExceeded},
		{"too many", 429, `{"error":{"code":"TooManyRequestsError","message":"slow down"}}`, vt.ErrQuotaExceeded},
		{"wrong key", 401, `{"error":{"code":"WrongCredentialsError","message":"The provided API key is incorrect."}}`, vt.ErrUnauthorized},
		{"missing key", 401, `{"error":{"code":"AuthenticationRequiredError","message":"X-Apikey header is missing"}}`, vt.ErrUnauthorized},
		{"forbidden", 403, `{"error":{"code":"ForbiddenError","message":"premium only"}}`, vt.ErrForbidden},
		{"bad request", 400, `{"error":{"code":"InvalidArgumentError","message":"bad id"}}`, vt.ErrBadRequest},
		{"server", 500, `{"error":{"code":"","message":"boom"}}`, vt.ErrServer},
		{"transient", 503, `{"error":{"code":"TransientError","message":"try later"}}`, vt.ErrServer},
		{"html 404 is no answer", 404, `<html><body>Not Found</body></html>`, nil},
		{"404 without code", 404, `{"error":{"message":"no route"}}`, nil},
		{"empty 502", 502, ``, vt.ErrServer},
		{"code wrong type", 400, `{"error":{"code":7,"message":["x"]}}`, vt.ErrBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, vttest.Options{Synthesize: true})
			srv.Inject(vttest.Fault{Kind: vttest.Status, Status: tc.status, Body: []byte(tc.body)})
			c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), MaxRetries: -1})
			_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
			var verr *vt.Error
			if !errors.As(err, &verr) {
				t.Fatalf("error %v is not a *vt.Error", err)
			}
			if verr.Status != tc.status || verr.Path != "/files/"+sha {
				t.Errorf("Error = %+v, want status %d on /files/%s", verr, tc.status, sha)
			}
			if verr.Message == "" {
				t.Error("Error.Message is empty")
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tc.want) {
					t.Errorf("errors.Is(err, %v) = %v", s, got)
				}
			}
		})
	}
}

func TestRetriesBoundedOnServerError(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 500})
	c, rec := newClient(t, vt.Config{BaseURL: srv.URL(), MaxRetries: 3})

	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	if !errors.Is(err, vt.ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
	if n := srv.Count("/files/"); n != 4 {
		t.Errorf("requests = %d, want 4 (1 + 3 retries)", n)
	}
	if len(rec.delays) != 3 {
		t.Fatalf("sleeps = %v, want 3", rec.delays)
	}
	// Backoff doubles from 1s with the upper half jittered.
	for i, d := range rec.delays {
		lo, hi := time.Second<<i/2, time.Second<<i
		if d < lo || d > hi {
			t.Errorf("delay %d = %v, want within [%v, %v]", i, d, lo, hi)
		}
	}
	if total := rec.total(); total > 7*time.Second {
		t.Errorf("total backoff %v exceeds 7s", total)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 429, RetryAfter: 7 * time.Second, Times: 1})
	c, rec := newClient(t, vt.Config{BaseURL: srv.URL()})

	if _, err := c.GetObject(context.Background(), ioc.SHA256, sha); err != nil {
		t.Fatalf("GetObject after one 429: %v", err)
	}
	if len(rec.delays) != 1 || rec.delays[0] < 7*time.Second || rec.delays[0] > 7700*time.Millisecond {
		t.Errorf("delays = %v, want one of 7s plus at most 10%%", rec.delays)
	}
	if n := srv.Count(""); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	when := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 503, RetryAfterHeader: when, Times: 1})
	c, rec := newClient(t, vt.Config{BaseURL: srv.URL()})

	if _, err := c.GetObject(context.Background(), ioc.SHA256, sha); err != nil {
		t.Fatal(err)
	}
	if len(rec.delays) != 1 || rec.delays[0] < 15*time.Second || rec.delays[0] > 23*time.Second {
		t.Errorf("delays = %v, want about 20s", rec.delays)
	}
}

func TestRetryAfterBeyondCapNotRetried(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 429, RetryAfter: time.Hour})
	c, rec := newClient(t, vt.Config{BaseURL: srv.URL()})

	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	var verr *vt.Error
	if !errors.As(err, &verr) || !errors.Is(err, vt.ErrQuotaExceeded) {
		t.Fatalf("err = %v, want a quota *vt.Error", err)
	}
	if verr.RetryAfter != time.Hour {
		t.Errorf("RetryAfter = %v, want 1h", verr.RetryAfter)
	}
	if n := srv.Count(""); n != 1 || len(rec.delays) != 0 {
		t.Errorf("requests = %d, sleeps = %v; want 1 request and no sleep", n, rec.delays)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := startFake(t, vttest.Options{Synthesize: true})
			srv.Inject(vttest.Fault{Kind: vttest.Status, Status: status})
			c, rec := newClient(t, vt.Config{BaseURL: srv.URL(), MaxRetries: 5})
			if _, err := c.GetObject(context.Background(), ioc.Domain, "example.com"); err == nil {
				t.Fatal("GetObject succeeded")
			}
			if n := srv.Count(""); n != 1 || len(rec.delays) != 0 {
				t.Errorf("requests = %d, sleeps = %v; want exactly 1 request", n, rec.delays)
			}
		})
	}
}

func TestRetriesTransientFaults(t *testing.T) {
	for _, kind := range []vttest.FaultKind{vttest.Reset, vttest.Truncated, vttest.HTML} {
		t.Run(kind.String(), func(t *testing.T) {
			srv := startFake(t, vttest.Options{Synthesize: true})
			srv.Inject(vttest.Fault{Kind: kind, Times: 2})
			c, rec := newClient(t, vt.Config{BaseURL: srv.URL()})
			o, err := c.GetObject(context.Background(), ioc.SHA256, sha)
			if err != nil {
				t.Fatalf("GetObject after 2 faults: %v", err)
			}
			if o.ID != sha {
				t.Errorf("id = %q", o.ID)
			}
			if n := srv.Count(""); n != 3 || len(rec.delays) != 2 {
				t.Errorf("requests = %d, sleeps = %d; want 3 and 2", n, len(rec.delays))
			}
		})
	}
}

func TestTruncatedExhaustsRetries(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Truncated})
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), MaxRetries: 2})
	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	if !errors.Is(err, vt.ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if n := srv.Count(""); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
}

func TestDecodeErrorsNotRetried(t *testing.T) {
	for _, kind := range []vttest.FaultKind{vttest.Malformed, vttest.WrongShape} {
		t.Run(kind.String(), func(t *testing.T) {
			srv := startFake(t, vttest.Options{Synthesize: true})
			srv.Inject(vttest.Fault{Kind: kind})
			c, _ := newClient(t, vt.Config{BaseURL: srv.URL()})
			_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
			if !errors.Is(err, vt.ErrDecode) {
				t.Fatalf("err = %v, want ErrDecode", err)
			}
			if n := srv.Count(""); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

func TestSlowBodyTimesOut(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Slow, Delay: 10 * time.Second})
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), Timeout: 150 * time.Millisecond, MaxRetries: 1})

	start := time.Now()
	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %v, want about 2 x 150ms", el)
	}
	if n := srv.Count(""); n != 2 {
		t.Errorf("requests = %d, want 2 (one retry)", n)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Slow, Delay: 10 * time.Second})
	c, rec := newClient(t, vt.Config{BaseURL: srv.URL()})

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := c.GetObject(ctx, ioc.SHA256, sha)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancel took %v", el)
	}
	if n := srv.Count(""); n != 1 || len(rec.delays) != 0 {
		t.Errorf("requests = %d, sleeps = %v; want 1 and none", n, rec.delays)
	}
}

func TestBodyLimit(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), MaxBodyBytes: 512})
	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	if !errors.Is(err, vt.ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
	if n := srv.Count(""); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

type countingLimiter struct {
	calls atomic.Int32
	err   error
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.calls.Add(1)
	return l.err
}

func TestLimiterBeforeEveryAttempt(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 502, Times: 2})
	lim := &countingLimiter{}
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), Limiter: lim})
	if _, err := c.GetObject(context.Background(), ioc.SHA256, sha); err != nil {
		t.Fatal(err)
	}
	if got := lim.calls.Load(); got != 3 {
		t.Errorf("limiter calls = %d, want 3 (one per attempt)", got)
	}
}

func TestLimiterErrorStopsRequest(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	spent := errors.New("daily quota spent")
	lim := &countingLimiter{err: spent}
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), Limiter: lim})
	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	if !errors.Is(err, spent) {
		t.Fatalf("err = %v, want the limiter's error wrapped", err)
	}
	if n := srv.Count(""); n != 0 || lim.calls.Load() != 1 {
		t.Errorf("requests = %d, limiter calls = %d; want 0 and 1", n, lim.calls.Load())
	}
}

func TestHeadersAndNoRedirect(t *testing.T) {
	var other atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Add(1)
	}))
	defer target.Close()
	var gotKey, gotUA string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey, gotUA = r.Header.Get("x-apikey"), r.Header.Get("User-Agent")
		if r.URL.RawQuery != "" {
			t.Errorf("query %q sent, want none", r.URL.RawQuery)
		}
		// A GET goes out without a body or body framing.
		if r.ContentLength != 0 || len(r.TransferEncoding) != 0 || r.Header.Get("Content-Length") != "" {
			t.Errorf("body framing sent: length %d, transfer-encoding %v", r.ContentLength, r.TransferEncoding)
		}
		http.Redirect(w, r, target.URL+"/steal", http.StatusFound)
	}))
	defer srv.Close()

	c, _ := newClient(t, vt.Config{BaseURL: srv.URL + "/api/v3", UserAgent: "vex/1.2.3"})
	_, err := c.GetObject(context.Background(), ioc.Domain, "example.com")
	var verr *vt.Error
	if !errors.As(err, &verr) || verr.Status != http.StatusFound {
		t.Fatalf("err = %v, want a 302 *vt.Error", err)
	}
	if gotKey != testKey || gotUA != "vex/1.2.3" {
		t.Errorf("x-apikey = %q, User-Agent = %q", gotKey, gotUA)
	}
	if other.Load() != 0 {
		t.Error("the client followed a redirect, forwarding the key header")
	}
}

func TestKeyNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startFake(t, vttest.Options{Synthesize: true})
	echo := []byte(`{"error":{"code":"WrongCredentialsError","message":"key ` + testKey + ` is wrong \u001b[31m"}}`)
	srv.Inject(vttest.Fault{Match: "/domains/", Kind: vttest.Status, Status: 401, Body: echo})
	srv.Inject(vttest.Fault{Match: "/ip_addresses/", Kind: vttest.Status, Status: 500, Body: echo})
	srv.Inject(vttest.Fault{Match: "/urls/", Kind: vttest.Reset})
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), Logger: logger, MaxRetries: 1})

	var errs []string
	for _, q := range []struct {
		t ioc.Type
		v string
	}{{ioc.Domain, "example.com"}, {ioc.IPv4, "203.0.113.1"}, {ioc.URL, "http://example.com/"}} {
		_, err := c.GetObject(context.Background(), q.t, q.v)
		if err == nil {
			t.Fatalf("GetObject(%s) succeeded despite the fault", q.v)
		}
		errs = append(errs, err.Error())
	}
	all := strings.Join(errs, "\n") + logs.String()
	if strings.Contains(all, testKey) {
		t.Errorf("the API key leaked:\n%s", all)
	}
	if strings.Contains(all, "\x1b") {
		t.Errorf("a terminal escape from the server reached an error or log: %q", all)
	}
	if !strings.Contains(logs.String(), "virustotal request") || !strings.Contains(logs.String(), "status=401") {
		t.Errorf("debug log lacks per-request records:\n%s", logs.String())
	}
}

func TestKeyRedactedFromEchoingBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"type":"domain","id":"example.com","attributes":{"whois":"key ` + r.Header.Get("x-apikey") + `"}}}`))
	}))
	defer srv.Close()
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL})
	o, err := c.GetObject(context.Background(), ioc.Domain, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(o.Raw), testKey) || strings.Contains(o.Attributes.String("whois"), testKey) {
		t.Errorf("echoed key kept in the body: %s", o.Raw)
	}
}

func TestFakeAuthWithClient(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true, APIKey: testKey})
	good, _ := newClient(t, vt.Config{BaseURL: srv.URL()})
	if _, err := good.GetObject(context.Background(), ioc.IPv4, "203.0.113.7"); err != nil {
		t.Fatalf("right key rejected: %v", err)
	}
	bad, _ := newClient(t, vt.Config{BaseURL: srv.URL(), APIKey: secret.New("wrong-key-9999999999")})
	_, err := bad.GetObject(context.Background(), ioc.IPv4, "203.0.113.7")
	var verr *vt.Error
	if !errors.As(err, &verr) || verr.Code != "WrongCredentialsError" || !errors.Is(err, vt.ErrUnauthorized) {
		t.Errorf("wrong key: err = %v", err)
	}
}

func TestClientOverTLS(t *testing.T) {
	srv := vttest.New(vttest.Options{Synthesize: true})
	if err := srv.StartTLS(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %q, want https on loopback", srv.URL())
	}
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), HTTPClient: srv.TLSClient()})
	if _, err := c.GetObject(context.Background(), ioc.IPv6, "2001:db8::2"); err != nil {
		t.Fatalf("GetObject over TLS: %v", err)
	}
	before := srv.Count("")
	untrusting, rec := newClient(t, vt.Config{BaseURL: srv.URL()})
	if _, err := untrusting.GetObject(context.Background(), ioc.IPv6, "2001:db8::2"); err == nil {
		t.Error("a client without the test certificate connected")
	}
	if len(rec.delays) != 0 || srv.Count("") != before {
		t.Errorf("certificate failure retried %d times", len(rec.delays))
	}
}

// A 429 without Retry-After is the per-minute limit until proven
// otherwise: the retries must reach past the next minute, not give up
// within seconds and report the daily quota spent.
func TestRetry429WithoutRetryAfterSpansAMinute(t *testing.T) {
	srv := vttest.New(vttest.Options{Synthesize: true})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 429, Times: 2})

	var mu sync.Mutex
	var delays []time.Duration
	c, err := vt.New(vt.Config{BaseURL: srv.URL(), APIKey: secret.New("k"), Sleep: func(_ context.Context, d time.Duration) error {
		mu.Lock()
		delays = append(delays, d)
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetObject(context.Background(), ioc.Domain, "example.com"); err != nil {
		t.Fatalf("GetObject after two 429s: %v", err)
	}
	var total time.Duration
	for _, d := range delays {
		total += d
	}
	if len(delays) != 2 || total < 45*time.Second {
		t.Errorf("delays %v (total %v), want two waits adding up to at least 45s", delays, total)
	}
}

// TestResetNotReplayedOutsideLimiter checks that every request reaching
// VirusTotal went through the limiter. net/http's Transport resends a GET
// by itself when a reused keep-alive connection closes before the first
// response byte, and with a pool of idle connections it may do so many
// times; each such resend costs quota that the limiter never counted.
func TestResetNotReplayedOutsideLimiter(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	lim := &countingLimiter{}
	c, _ := newClient(t, vt.Config{BaseURL: srv.URL(), Limiter: lim, MaxRetries: -1})
	// The first lookup leaves a keep-alive connection in the pool.
	if _, err := c.GetObject(context.Background(), ioc.SHA256, sha); err != nil {
		t.Fatal(err)
	}
	srv.Inject(vttest.Fault{Kind: vttest.Reset})
	if _, err := c.GetObject(context.Background(), ioc.Domain, "example.org"); err == nil {
		t.Fatal("GetObject over a reset connection succeeded")
	}
	if n, calls := srv.Count(""), lim.calls.Load(); int32(n) != calls {
		t.Errorf("requests = %d, limiter calls = %d; want them equal", n, calls)
	}
}
