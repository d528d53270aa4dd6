package gateway_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/gateway"
	"github.com/vex-ioc/vex/core/secret"
)

// TestServeDrainsBeforeClosing stops a gateway with a drain period: during
// the drain /healthz answers 503 and API requests are still served, and
// the listener closes afterwards.
func TestServeDrainsBeforeClosing(t *testing.T) {
	fake := startFake(t, 0)
	cfg := testConfig(replicaConfig{fake: fake, dataDir: tempDir(t), perMinute: 100})
	g, err := gateway.Open(context.Background(), cfg, secretKey(), gateway.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	addr, cancel, served := serveOnLoopback(t, g, gateway.ServeOptions{Drain: 4 * time.Second, ShutdownTimeout: 5 * time.Second})
	base := "http://" + addr
	hc := newHTTPClient()

	if status, _, _ := get(t, hc, base, "/healthz", ""); status != http.StatusOK {
		t.Fatalf("healthz before the stop: status %d, want 200", status)
	}
	cancel()
	// The drain starts right after cancel; poll until healthz reports it.
	status, body := 0, []byte(nil)
	for range 200 {
		status, body, _ = get(t, hc, base, "/healthz", "")
		if status != http.StatusOK {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"shutting_down"`) {
		t.Errorf("healthz during the drain: status %d body %s, want 503 shutting_down", status, body)
	}
	if status, body, _ := get(t, hc, base+"/api/v3", iocPaths(1)[0], tokenBob); status != http.StatusOK {
		t.Errorf("API request during the drain: status %d body %s, want 200", status, body)
	}

	if err := <-served; err != nil {
		t.Errorf("Serve returned %v, want nil after the drain", err)
	}
	if _, err := hc.Get(base + "/healthz"); err == nil {
		t.Error("the server still accepts connections after the drain")
	}
}

// serveOnLoopback runs gateway.Serve for g on a free loopback port and
// returns its address, the function that stops it and the channel that
// receives Serve's result.
func serveOnLoopback(t *testing.T, g *gateway.Gateway, opts gateway.ServeOptions) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() { served <- gateway.Serve(ctx, ln, g, opts) }()
	return ln.Addr().String(), cancel, served
}

// TestMetricsToken requires the bearer token on /metrics when one is set,
// and leaves /healthz open for load balancers.
func TestMetricsToken(t *testing.T) {
	const metricsToken = "metrics-token-0123456789abcdef"
	fake := startFake(t, 0)
	cfg := testConfig(replicaConfig{fake: fake, dataDir: tempDir(t), perMinute: 100})
	cfg.Serve.MetricsToken = secret.New(metricsToken)
	g, err := gateway.Open(context.Background(), cfg, secretKey(), gateway.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	cases := []struct {
		name, authorization string
		want                int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer metrics-token-wrong", http.StatusUnauthorized},
		{"client token", "Bearer " + tokenBob, http.StatusUnauthorized},
		{"without Bearer", metricsToken, http.StatusUnauthorized},
		{"metrics token", "Bearer " + metricsToken, http.StatusOK},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
		if c.authorization != "" {
			req.Header.Set("Authorization", c.authorization)
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s: status %d, want %d", c.name, rec.Code, c.want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "/healthz", nil)
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("healthz without a token: status %d, want 200", rec.Code)
	}
}

// TestMetricsTokenNotAClientToken checks that the metrics token cannot be
// a client's token, which would let every host of that client read the
// deployment's counters.
func TestMetricsTokenNotAClientToken(t *testing.T) {
	fake := startFake(t, 0)
	cfg := testConfig(replicaConfig{fake: fake, dataDir: tempDir(t), perMinute: 100})
	cfg.Serve.MetricsToken = cfg.Serve.Tokens[0].Token
	g, err := gateway.Open(context.Background(), cfg, secretKey(), gateway.OpenOptions{})
	if err == nil {
		g.Close()
		t.Fatal("Open with a client token as metrics token succeeded")
	}
	if !strings.Contains(err.Error(), "metrics_token") || strings.Contains(err.Error(), cfg.Serve.Tokens[0].Token.Reveal()) {
		t.Errorf("error %q: want it to name metrics_token and not show the token", err)
	}
}
