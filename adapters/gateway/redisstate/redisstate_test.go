package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vex-ioc/vex/adapters/gateway/redisstate"
	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
)

// startRedis starts redis-server without persistence on a free loopback
// port, with extra arguments, and returns its URL. The binary comes from
// VEX_REDIS_SERVER (set by .ci/install.d) or PATH; the test skips when
// there is none.
func startRedis(t *testing.T, extra ...string) string {
	t.Helper()
	bin := os.Getenv("VEX_REDIS_SERVER")
	if bin == "" {
		bin, _ = exec.LookPath("redis-server")
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
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	// A server that requires a password is up once it rejects one.
	up := func() bool {
		err := c.Ping(context.Background()).Err()
		return err == nil || strings.Contains(err.Error(), "NOAUTH")
	}
	for deadline := time.Now().Add(10 * time.Second); !up(); {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer PING within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

// clock is a fake time source shared by the Conns of one test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func dial(t *testing.T, url string, clk *clock) *redisstate.Conn {
	t.Helper()
	opts := redisstate.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	c, err := redisstate.Dial(context.Background(), secret.New(url), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var errWouldWait = errors.New("would wait")

// refuseSleep makes Wait return instead of sleeping, so a test gets a
// full window as an error.
func refuseSleep(context.Context, time.Duration) error { return errWouldWait }

func TestQuotaWindowAndDailyQuota(t *testing.T) {
	url := startRedis(t)
	clk := &clock{now: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)}
	var slept time.Duration
	q, err := redisstate.NewQuota(dial(t, url, clk), ratelimit.Limits{PerMinute: 3, PerDay: 5}, redisstate.QuotaOptions{
		Sleep: func(_ context.Context, d time.Duration) error {
			slept += d
			clk.Advance(d)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := q.Wait(ctx); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		clk.Advance(10 * time.Second)
	}
	if slept != 0 {
		t.Errorf("slept %s for the first 3 requests, want 0", slept)
	}
	// The window is full until the first reservation is 60 s old: 30 s
	// from now.
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if slept != 30*time.Second {
		t.Errorf("request 4 slept %s, want 30s", slept)
	}
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := q.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.UsedToday != 5 || st.Remaining() != 0 || !st.Exhausted {
		t.Errorf("status = %+v, want 5 used, none remaining, exhausted", st)
	}
	if err := q.Wait(ctx); !errors.Is(err, ratelimit.ErrQuotaExhausted) {
		t.Errorf("request 6 returned %v, want ErrQuotaExhausted", err)
	}

	clk.Advance(time.Hour) // past 00:00 UTC
	if err := q.Wait(ctx); err != nil {
		t.Errorf("first request of the next day: %v", err)
	}
}

// TestQuotaAtomicAcrossConns races 60 reservations from three connections
// against a limit of 10: exactly 10 may pass.
func TestQuotaAtomicAcrossConns(t *testing.T) {
	url := startRedis(t)
	var quotas []*redisstate.Quota
	for range 3 {
		q, err := redisstate.NewQuota(dial(t, url, nil), ratelimit.Limits{PerMinute: 10, PerDay: 1000},
			redisstate.QuotaOptions{Sleep: refuseSleep})
		if err != nil {
			t.Fatal(err)
		}
		quotas = append(quotas, q)
	}
	var passed, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			switch err := quotas[i%3].Wait(context.Background()); {
			case err == nil:
				passed.Add(1)
			case errors.Is(err, errWouldWait):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 10 || refused.Load() != 50 {
		t.Errorf("%d passed and %d waited, want 10 and 50", passed.Load(), refused.Load())
	}
}

func TestMarkExhaustedStopsEveryReplica(t *testing.T) {
	url := startRedis(t)
	limits := ratelimit.Limits{PerMinute: 10, PerDay: 1000}
	a, _ := redisstate.NewQuota(dial(t, url, nil), limits, redisstate.QuotaOptions{})
	b, _ := redisstate.NewQuota(dial(t, url, nil), limits, redisstate.QuotaOptions{})
	if err := a.MarkExhausted(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(context.Background()); !errors.Is(err, ratelimit.ErrQuotaExhausted) {
		t.Errorf("Wait on the other replica returned %v, want ErrQuotaExhausted", err)
	}
}

// TestQuotaFallsBackToShare uses a Conn to a closed port: each
// replica then allows itself its share of the limits.
func TestQuotaFallsBackToShare(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn := redisstate.NewConn(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}), redisstate.Options{})
	defer conn.Close()
	q, err := redisstate.NewQuota(conn, ratelimit.Limits{PerMinute: 10, PerDay: 1000}, redisstate.QuotaOptions{Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := q.Wait(context.Background()); err != nil {
			t.Fatalf("request %d with redis down: %v", i+1, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := q.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request 6 with redis down returned %v, want a wait (the share is 5 a minute)", err)
	}
	if conn.Available() {
		t.Error("Conn reports redis available after failures")
	}
}

func TestClientsWindow(t *testing.T) {
	url := startRedis(t)
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := redisstate.NewClients(dial(t, url, clk), nil)
	ctx := context.Background()
	for i := range 2 {
		if wait, err := c.Allow(ctx, "alice", 2); err != nil || wait != 0 {
			t.Fatalf("request %d: wait %s, err %v", i+1, wait, err)
		}
		clk.Advance(5 * time.Second)
	}
	if wait, err := c.Allow(ctx, "alice", 2); err != nil || wait != 50*time.Second {
		t.Errorf("request 3: wait %s, err %v; want 50s", wait, err)
	}
	if wait, _ := c.Allow(ctx, "bob", 2); wait != 0 {
		t.Errorf("bob waits %s for alice's window", wait)
	}
	clk.Advance(50 * time.Second)
	if wait, _ := c.Allow(ctx, "alice", 2); wait != 0 {
		t.Errorf("after the window moved on, alice waits %s", wait)
	}
}

func TestCacheEntries(t *testing.T) {
	url := startRedis(t)
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := redisstate.NewCache(dial(t, url, clk), cache.Options{TTL: time.Hour, NotFoundTTL: 10 * time.Minute})
	ctx := context.Background()
	ok := cache.Entry{Key: cache.Key{Mode: "gateway", Type: "files", Value: "abc"}, Status: cache.StatusOK, Data: []byte(`{"data":{}}`)}
	missing := cache.Entry{Key: cache.Key{Mode: "gateway", Type: "domains", Value: "nx.example"}, Status: cache.StatusNotFound}
	for _, e := range []cache.Entry{ok, missing} {
		if err := c.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.Get(ctx, cache.Key{Mode: "gateway", Type: "files", Value: "other"}); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get of an absent key: %v, want ErrMiss", err)
	}
	e, fresh, err := c.Get(ctx, ok.Key)
	if err != nil || !fresh || string(e.Data) != `{"data":{}}` || e.Status != cache.StatusOK {
		t.Errorf("Get = %+v fresh=%v err=%v", e, fresh, err)
	}

	clk.Advance(11 * time.Minute)
	if _, fresh, err := c.Get(ctx, missing.Key); err != nil || fresh {
		t.Errorf("not-found entry after its 10m TTL: fresh=%v err=%v, want a stale entry", fresh, err)
	}
	if _, fresh, _ := c.Get(ctx, ok.Key); !fresh {
		t.Error("ok entry is stale after 11m of a 1h TTL")
	}

	st, err := c.Stats(ctx)
	if err != nil || st.Entries != 2 || st.Fresh != 1 || st.Expired != 1 || st.ByStatus[cache.StatusNotFound] != 1 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	if err := c.Put(ctx, cache.Entry{Key: cache.Key{Mode: "gateway"}, Status: cache.StatusOK}); !errors.Is(err, cache.ErrInvalidEntry) {
		t.Errorf("Put with an empty key field: %v, want ErrInvalidEntry", err)
	}
	if n, err := c.Clear(ctx); err != nil || n != 2 {
		t.Errorf("Clear = %d, %v; want 2", n, err)
	}
	if _, _, err := c.Get(ctx, ok.Key); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get after Clear: %v, want ErrMiss", err)
	}
}

// TestFlightHandOverAndTakeOver checks the note hand-over from a holder
// to a waiter on another connection, and a waiter taking over from a
// holder that vanished.
func TestFlightHandOverAndTakeOver(t *testing.T) {
	url := startRedis(t)
	// A TTL of 1 s leaves renewals (every third of it) room on a loaded
	// machine under the race detector.
	opts := redisstate.FlightOptions{LockTTL: time.Second}
	a := redisstate.NewFlight(dial(t, url, nil), opts)
	defer a.Close()
	b := redisstate.NewFlight(dial(t, url, nil), opts)
	defer b.Close()
	ctx := context.Background()

	unlock, held, err := a.TryLock(ctx, "k1")
	if err != nil || !held {
		t.Fatalf("first TryLock: held=%v err=%v", held, err)
	}
	if _, held, _ := b.TryLock(ctx, "k1"); held {
		t.Fatal("second replica took a held lock")
	}
	got := make(chan []byte, 1)
	go func() {
		note, err := b.Wait(ctx, "k1")
		if err != nil {
			t.Error(err)
		}
		got <- note
	}()
	// The holder outlives its TTL; renewal must keep the waiter waiting.
	time.Sleep(1500 * time.Millisecond)
	select {
	case n := <-got:
		t.Fatalf("waiter returned %q while the holder still worked", n)
	default:
	}
	unlock([]byte("the answer"))
	select {
	case n := <-got:
		if string(n) != "the answer" {
			t.Errorf("waiter got note %q", n)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("waiter not woken within 3s of the release")
	}

	// A holder that crashes never unlocks; its lock expires.
	crashConn := dial(t, url, nil)
	crashed := redisstate.NewFlight(crashConn, opts)
	if _, held, err := crashed.TryLock(ctx, "k2"); err != nil || !held {
		t.Fatalf("TryLock k2: held=%v err=%v", held, err)
	}
	crashConn.Close() // renewals now fail
	start := time.Now()
	note, err := b.Wait(ctx, "k2")
	if err != nil || note != nil {
		t.Errorf("Wait after a crashed holder = %q, %v; want no note", note, err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("waiter took %s to notice the expired lock", d)
	}
	if _, held, _ := b.TryLock(ctx, "k2"); !held {
		t.Error("waiter could not take over the expired lock")
	}
}

// TestDialDownStartsDegraded dials a closed port: Dial returns a Conn that
// reports Redis unavailable, so the gateway can start on local state.
func TestDialDownStartsDegraded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn, err := redisstate.Dial(context.Background(), secret.New("redis://"+addr+"/0"), redisstate.Options{})
	if err != nil {
		t.Fatalf("Dial with redis down = %v, want a Conn that starts down", err)
	}
	defer conn.Close()
	if conn.Available() {
		t.Error("Conn reports redis available after a failed PING")
	}
}

// TestDialRejectedCredentials sends a wrong password: the reply is a
// configuration problem, so Dial fails without quoting the password.
func TestDialRejectedCredentials(t *testing.T) {
	url := startRedis(t, "--requirepass", "the-right-password-0123")
	withPassword := strings.Replace(url, "redis://", "redis://:not-the-password@", 1)
	conn, err := redisstate.Dial(context.Background(), secret.New(withPassword), redisstate.Options{})
	if err == nil {
		conn.Close()
		t.Fatal("Dial with rejected credentials succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "rejected the credentials") {
		t.Errorf("error %q does not say the credentials were rejected", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("error %q contains the password", err)
	}
}
