package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vex-ioc/vex/adapters/gateway"
	"github.com/vex-ioc/vex/adapters/gateway/redisstate"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// vtKey is the VirusTotal key the fake accepts. It is long and unusual so
// that a search for it in responses, logs and Redis cannot match by chance.
const vtKey = "vt-key-7f3c9a1e5b2d4f6a8c0e1b3d5f7a9c2e-do-not-leak"

// Gateway client tokens used by the tests.
const (
	tokenAlice = "gw-token-alice-0123456789"
	tokenBob   = "gw-token-bob-9876543210"
)

// redisServer is a redis-server process on a loopback port, owned by one
// test.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server without persistence on a free loopback
// port. The binary comes from VEX_REDIS_SERVER (set by .ci/install.d) or
// PATH; the test skips when there is none.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin := os.Getenv("VEX_REDIS_SERVER")
	if bin == "" {
		if p, err := exec.LookPath("redis-server"); err == nil {
			bin = p
		}
	}
	if bin == "" {
		t.Skip("redis-server not found: install Debian's redis-server or set VEX_REDIS_SERVER")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--loglevel", "warning")
	r.cmd.Stdout = io.Discard
	r.cmd.Stderr = io.Discard
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)

	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d did not answer PING: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server, as a crash or an operator restart would.
func (r *redisServer) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// client returns a go-redis client for inspecting the server.
func (r *redisServer) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	t.Cleanup(func() { c.Close() })
	return c
}

// startFake starts a fake VirusTotal that synthesises every object, accepts
// only vtKey and enforces rpm requests per minute like the real API.
func startFake(t *testing.T, rpm int) *vttest.Server {
	t.Helper()
	fake := vttest.New(vttest.Options{Synthesize: true, Seed: 7, RPM: rpm, APIKey: vtKey})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	return fake
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// replicaConfig describes one gateway replica of a test deployment.
type replicaConfig struct {
	fake      *vttest.Server
	redisURL  string // empty: SQLite state in dataDir
	dataDir   string
	perMinute int
	perDay    int
	replicas  int
	aliceRate int // Alice's rate_per_minute
	lockTTL   time.Duration
	prefix    string
	queueWait time.Duration
	// allowNonRoutable sets api.allow_non_routable.
	allowNonRoutable bool
}

// replica is one running gateway on an httptest server.
type replica struct {
	g    *gateway.Gateway
	srv  *httptest.Server
	logs *syncBuffer
	once sync.Once
}

func (r *replica) url() string { return r.srv.URL + "/api/v3" }

// stop kills the replica the way a crash would as far as others can
// tell: its connections drop, its fetches are cancelled and its Redis
// client closes without releasing the fetch locks it holds.
func (r *replica) stop() {
	r.once.Do(func() {
		r.srv.CloseClientConnections()
		r.g.Close()
		r.srv.Close()
	})
}

func testConfig(rc replicaConfig) *config.Config {
	cfg := config.Default()
	cfg.API.BaseURL = rc.fake.URL()
	cfg.API.PerMinute = rc.perMinute
	cfg.API.PerDay = rc.perDay
	if cfg.API.PerDay == 0 {
		cfg.API.PerDay = 100000
	}
	cfg.API.MaxRetries = 1
	cfg.API.Timeout = 5 * time.Second
	cfg.Cache.DataDir = rc.dataDir
	cfg.API.AllowNonRoutable = rc.allowNonRoutable
	if rc.redisURL != "" {
		cfg.Serve.RedisURL = secret.New(rc.redisURL)
	}
	cfg.Serve.Tokens = []config.Token{
		{Name: "alice", Token: secret.New(tokenAlice), RatePerMinute: rc.aliceRate},
		{Name: "bob", Token: secret.New(tokenBob)},
	}
	return cfg
}

func startReplica(t *testing.T, rc replicaConfig) *replica {
	t.Helper()
	if rc.dataDir == "" {
		rc.dataDir = t.TempDir()
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.Open(context.Background(), testConfig(rc), secret.New(vtKey), gateway.OpenOptions{
		Replicas:     rc.replicas,
		Logger:       logger,
		Flight:       redisstate.FlightOptions{LockTTL: rc.lockTTL},
		Redis:        redisstate.Options{Prefix: rc.prefix, Pause: 200 * time.Millisecond},
		MaxQueueWait: rc.queueWait,
	})
	if err != nil {
		t.Fatalf("open gateway: %v", err)
	}
	r := &replica{g: g, srv: httptest.NewServer(g), logs: logs}
	t.Cleanup(r.stop)
	return r
}

// get sends one API request with token and returns status, body and the
// X-Vex-Cache header.
func get(t testing.TB, hc *http.Client, base, path, token string) (int, []byte, http.Header) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("x-apikey", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
	}
	return resp.StatusCode, body, resp.Header
}

// iocPaths returns n distinct object paths: SHA-256 hashes, IPv4
// addresses and domains in turn.
func iocPaths(n int) []string {
	paths := make([]string, n)
	for i := range paths {
		switch i % 3 {
		case 0:
			h := sha256.Sum256([]byte(fmt.Sprintf("sample-%d", i)))
			paths[i] = "/files/" + hex.EncodeToString(h[:])
		case 1:
			paths[i] = fmt.Sprintf("/ip_addresses/45.%d.%d.%d", 10+i/200, (i/10)%20, i%250)
		default:
			paths[i] = fmt.Sprintf("/domains/host-%d.example.com", i)
		}
	}
	return paths
}

// upstreamCounts returns how many requests the fake got per path.
func upstreamCounts(fake *vttest.Server) map[string]int {
	m := map[string]int{}
	for _, r := range fake.Requests() {
		m[r.Path]++
	}
	return m
}

// fake429s counts the fake's 429 responses: a limiter bug shows up as one.
func fake429s(fake *vttest.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
	}
}

func tempDir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func secretKey() secret.String { return secret.New(vtKey) }

// TestMain keeps go-redis's reconnect messages, expected while a test has
// Redis stopped, out of the test output.
func TestMain(m *testing.M) {
	redisstate.RouteLogs(slog.New(slog.DiscardHandler))
	m.Run()
}
