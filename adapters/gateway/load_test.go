package gateway_test

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load test bounds: whichever limit comes first ends the run.
const (
	loadMaxRequests = 20000
	loadMaxDuration = 3 * time.Second
	loadWorkers     = 32
	loadIOCs        = 100
)

// TestLoadCacheHits measures cache-hit throughput and latency on loopback,
// with Redis state shared by two replicas and with SQLite state in one
// instance. Every response must be a hit: the load adds no upstream request.
// The figures are logged; run with -v to read them.
func TestLoadCacheHits(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		rs := startRedis(t)
		fake := startFake(t, 0)
		a := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 1000})
		b := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 1000})
		runLoad(t, fake.Requests, []string{a.url(), b.url()})
	})
	t.Run("sqlite", func(t *testing.T) {
		fake := startFake(t, 0)
		r := startReplica(t, replicaConfig{fake: fake, perMinute: 1000})
		runLoad(t, fake.Requests, []string{r.url()})
	})
}

func runLoad[R any](t *testing.T, upstream func() []R, urls []string) {
	paths := iocPaths(loadIOCs)
	hc := newHTTPClient()
	for _, p := range paths {
		if status, body, _ := get(t, hc, urls[0], p, tokenBob); status != http.StatusOK {
			t.Fatalf("warm-up GET %s: status %d: %s", p, status, body)
		}
	}
	warm := len(upstream())

	var (
		next      atomic.Int64
		misses    atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(loadMaxDuration)
	start := time.Now()
	for w := range loadWorkers {
		wg.Go(func() {
			var local []time.Duration
			for time.Now().Before(deadline) {
				i := next.Add(1)
				if i > loadMaxRequests {
					break
				}
				begin := time.Now()
				status, _, h := get(t, hc, urls[(w+int(i))%len(urls)], paths[int(i)%len(paths)], tokenBob)
				local = append(local, time.Since(begin))
				if status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" {
					misses.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	if n := misses.Load(); n != 0 {
		t.Errorf("%d of %d answers were not cache hits", n, len(latencies))
	}
	if n := len(upstream()) - warm; n != 0 {
		t.Errorf("the load sent %d upstream requests, want 0", n)
	}
	if len(latencies) == 0 {
		t.Fatal("no requests completed")
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration { return latencies[int(float64(len(latencies)-1)*p)] }
	t.Logf("%d requests, %d workers, %d replicas, %s: %.0f requests/s, p50 %s, p99 %s, max %s",
		len(latencies), loadWorkers, len(urls), elapsed.Round(time.Millisecond),
		float64(len(latencies))/elapsed.Seconds(), pct(0.50), pct(0.99), latencies[len(latencies)-1])
}
