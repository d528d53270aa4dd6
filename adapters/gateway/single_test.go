package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/gateway"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// TestSingleInstanceSharesOneLookup sends 50 concurrent requests for one
// IOC to a gateway on SQLite state: one upstream request, and after a
// restart on the same data directory the response comes from the cache file.
func TestSingleInstanceSharesOneLookup(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, APIKey: vtKey, Latency: 100 * time.Millisecond})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	dir := tempDir(t)
	r := startReplica(t, replicaConfig{fake: fake, dataDir: dir, perMinute: 4})
	hc := newHTTPClient()
	path := iocPaths(1)[0]

	var wg sync.WaitGroup
	sources := make([]string, 50)
	for i := range sources {
		wg.Go(func() {
			status, body, h := get(t, hc, r.url(), path, tokenBob)
			if status != http.StatusOK {
				t.Errorf("request %d: status %d: %s", i, status, body)
			}
			sources[i] = h.Get("X-Vex-Cache")
		})
	}
	wg.Wait()
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("upstream requests = %d, want 1", n)
	}
	misses := 0
	for _, s := range sources {
		if s == "miss" {
			misses++
		}
	}
	if misses != 1 {
		t.Errorf("%d answers marked miss, want 1 (the rest shared or hit): %v", misses, sources)
	}

	r.stop()
	again := startReplica(t, replicaConfig{fake: fake, dataDir: dir, perMinute: 4})
	status, _, h := get(t, hc, again.url(), path, tokenBob)
	if status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" {
		t.Errorf("after restart: status %d cache %q, want 200 hit from the SQLite cache", status, h.Get("X-Vex-Cache"))
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("upstream requests after restart = %d, want still 1", n)
	}
}

// TestAPIShapes checks the responses a vex client classifies: not found
// (cached), relationships and behaviour documents, premium-only 403, and
// requests outside the served subset.
func TestAPIShapes(t *testing.T) {
	fake := startFake(t, 0)
	paths := iocPaths(3)
	hash := paths[0][len("/files/"):]
	fake.Inject(vttest.Fault{Match: "host-2.example.com", Kind: vttest.Status, Status: 404,
		Body: vttest.ErrorBody("NotFoundError", "Domain not found")})
	fake.Inject(vttest.Fault{Match: "/execution_parents", Kind: vttest.Status, Status: 403,
		Body: vttest.ErrorBody("ForbiddenError", "premium only")})
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100})
	hc := newHTTPClient()

	for i := range 2 {
		status, body, h := get(t, hc, r.url(), paths[2], tokenBob)
		if status != http.StatusNotFound || !strings.Contains(string(body), `"code":"NotFoundError"`) {
			t.Errorf("not found, request %d: status %d body %s", i+1, status, body)
		}
		if want := []string{"miss", "hit"}[i]; h.Get("X-Vex-Cache") != want {
			t.Errorf("not found, request %d: cache %q, want %q", i+1, h.Get("X-Vex-Cache"), want)
		}
	}
	if n := upstreamCounts(fake)[paths[2]]; n != 1 {
		t.Errorf("not-found IOC went upstream %d times, want 1 (negative cache)", n)
	}

	rel := paths[0] + "/contacted_domains?limit=10"
	for i := range 2 {
		status, body, _ := get(t, hc, r.url(), rel, tokenBob)
		if status != http.StatusOK || !strings.Contains(string(body), `"data"`) {
			t.Errorf("relationship request %d: status %d body %.200s", i+1, status, body)
		}
	}
	if n := upstreamCounts(fake)[paths[0]+"/contacted_domains"]; n != 1 {
		t.Errorf("relationship went upstream %d times, want 1", n)
	}
	var upstreamQuery string
	for _, q := range fake.Requests() {
		if q.Path == paths[0]+"/contacted_domains" {
			upstreamQuery = q.Query
		}
	}
	if upstreamQuery != "limit=10" {
		t.Errorf("upstream query = %q, want limit=10", upstreamQuery)
	}
	if status, body, _ := get(t, hc, r.url(), paths[0]+"/behaviour_summary", tokenBob); status != http.StatusOK {
		t.Errorf("behaviour_summary: status %d body %s", status, body)
	}
	status, body, _ := get(t, hc, r.url(), paths[0]+"/execution_parents", tokenBob)
	if status != http.StatusForbidden || !strings.Contains(string(body), `"code":"ForbiddenError"`) {
		t.Errorf("premium-only section: status %d body %s, want 403 ForbiddenError", status, body)
	}

	// An upper-case hash and a domain with a trailing dot share the entry
	// of their canonical form.
	get(t, hc, r.url(), paths[0], tokenBob)
	if status, _, h := get(t, hc, r.url(), "/files/"+strings.ToUpper(hash), tokenBob); status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" {
		t.Errorf("upper-case hash: status %d cache %q, want a 200 hit", status, h.Get("X-Vex-Cache"))
	}
	if status, _, h := get(t, hc, r.url(), "/domains/HOST-2.example.com.", tokenBob); status != http.StatusNotFound || h.Get("X-Vex-Cache") != "hit" {
		t.Errorf("domain with upper case and a trailing dot: status %d cache %q, want a cached 404", status, h.Get("X-Vex-Cache"))
	}
	if n := upstreamCounts(fake)[paths[0]]; n != 1 {
		t.Errorf("%s went upstream %d times, want 1", paths[0], n)
	}

	bad := []struct{ path, code string }{
		{"/files/xyz", "BadRequestError"},
		{"/ip_addresses/999.1.1.1", "BadRequestError"},
		{"/domains/bad_domain!", "BadRequestError"},
		{"/files/" + hash + "/comments", "BadRequestError"},
		{"/files/" + hash + "/contacted_domains?limit=500", "BadRequestError"},
		{"/analyses/abc", "BadRequestError"},
		{"/intelligence/search", "BadRequestError"},
	}
	for _, b := range bad {
		status, body, _ := get(t, hc, r.url(), b.path, tokenBob)
		if status != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+b.code+`"`) {
			t.Errorf("GET %s: status %d body %s, want 400 %s", b.path, status, body, b.code)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, r.url()+"/urls", strings.NewReader("url=http://x.test"))
	req.Header.Set("x-apikey", tokenBob)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /urls: status %d, want 405 (the gateway never submits URLs)", resp.StatusCode)
	}
}

// TestServeTLSMetricsAndShutdown serves over TLS, reads /healthz and
// /metrics, and shuts down while a slow lookup is in flight: the lookup
// still gets its response.
func TestServeTLSMetricsAndShutdown(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, APIKey: vtKey, Latency: 700 * time.Millisecond})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	certFile, keyFile, pool := selfSignedCert(t)

	cfg := testConfig(replicaConfig{fake: fake, dataDir: tempDir(t), perMinute: 10, perDay: 500})
	g, err := gateway.Open(context.Background(), cfg, secretKey(), gateway.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	addr, cancel, served := serveOnLoopback(t, g, gateway.ServeOptions{TLSCert: certFile, TLSKey: keyFile, ShutdownTimeout: 10 * time.Second})
	base := "https://" + addr
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	status, body, _ := get(t, hc, base, "/healthz", "")
	if status != http.StatusOK || string(body) != `{"status":"ok","checks":{}}` {
		t.Errorf("healthz: %d %s", status, body)
	}

	// Shut down while a lookup waits on the slow upstream.
	path := iocPaths(1)[0]
	type result struct {
		status int
		body   []byte
	}
	inflight := make(chan result, 1)
	go func() {
		s, b, _ := get(t, hc, base+"/api/v3", path, tokenBob)
		inflight <- result{s, b}
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	res := <-inflight
	if res.status != http.StatusOK {
		t.Errorf("request in flight at shutdown: status %d body %s, want 200", res.status, res.body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v, want nil after a graceful shutdown", err)
	}
	if _, err := hc.Get(base + "/healthz"); err == nil {
		t.Error("the server still accepts connections after shutdown")
	}
}

// TestMetrics reads the counters after a miss, a hit and a quota check.
func TestMetrics(t *testing.T) {
	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 10, perDay: 500})
	hc := newHTTPClient()
	path := iocPaths(1)[0]
	get(t, hc, r.url(), path, tokenBob)
	get(t, hc, r.url(), path, tokenBob)
	_, body, _ := get(t, hc, r.srv.URL, "/metrics", "")
	m := string(body)
	for _, want := range []string{
		`vex_gateway_cache_requests_total{result="hit"} 1`,
		`vex_gateway_cache_requests_total{result="miss"} 1`,
		`vex_gateway_upstream_requests_total{code="200"} 1`,
		`vex_gateway_requests_total{client="bob",code="200"} 2`,
		`vex_gateway_quota_remaining 499`,
		`vex_gateway_quota_used_today 1`,
		`vex_gateway_request_duration_seconds_count{cache="hit"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(m, "vex_gateway"))
		}
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and
// returns a pool that trusts it.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vex gateway test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestUpstreamQuotaSpent lets VirusTotal report the key's daily quota as
// spent: the client gets a 429 with Retry-After, and the gateway stops
// sending requests instead of spending more 429s.
func TestUpstreamQuotaSpent(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, APIKey: vtKey, DailyQuota: 1})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100})
	hc := newHTTPClient()
	paths := iocPaths(3)

	if status, body, _ := get(t, hc, r.url(), paths[0], tokenBob); status != http.StatusOK {
		t.Fatalf("first lookup: status %d: %s", status, body)
	}
	for _, p := range paths[1:] {
		status, body, h := get(t, hc, r.url(), p, tokenBob)
		if status != http.StatusTooManyRequests || !strings.Contains(string(body), `"code":"QuotaExceededError"`) {
			t.Errorf("GET %s after the quota ran out: status %d body %s, want 429 QuotaExceededError", p, status, body)
		}
		if h.Get("Retry-After") == "" {
			t.Errorf("GET %s: 429 without Retry-After", p)
		}
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("upstream requests = %d, want 2: the third lookup must not go upstream once VirusTotal reported the quota spent", n)
	}
	if status, _, h := get(t, hc, r.url(), paths[0], tokenBob); status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" {
		t.Errorf("cached IOC after the quota ran out: status %d cache %q, want a 200 hit", status, h.Get("X-Vex-Cache"))
	}
}

// An upstream 429 without Retry-After reaches the client as a quick 429:
// the client waits it out itself, so the gateway must not hold the request
// through a long back-off until its deadline turns it into a 504.
func TestUpstream429PassesOnQuickly(t *testing.T) {
	fake := vttest.New(vttest.Options{Synthesize: true, APIKey: vtKey})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.Inject(vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests})
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100})

	start := time.Now()
	status, body, h := get(t, newHTTPClient(), r.url(), iocPaths(1)[0], tokenBob)
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("the gateway held the request %v, want a few seconds at most", took)
	}
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q body %s, want 429 with Retry-After", status, h.Get("Retry-After"), body)
	}
}

func TestOpenWithoutTokensCreatesNothing(t *testing.T) {
	fake := startFake(t, 0)
	dir := t.TempDir()
	cfg := testConfig(replicaConfig{fake: fake, perMinute: 100, dataDir: dir})
	cfg.Serve.Tokens = nil
	if _, err := gateway.Open(context.Background(), cfg, secret.New(vtKey), gateway.OpenOptions{}); err == nil {
		t.Fatal("Open without tokens succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("data directory holds %d entries after a rejected config, want none", len(entries))
	}
}
