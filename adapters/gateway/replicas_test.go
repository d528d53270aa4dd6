package gateway_test

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplicasOneUpstreamPerIOC runs 200 concurrent clients that each ask
// three replicas for the same 100 IOCs in their own order. Every IOC must
// cost exactly one upstream request, and the fake must never see more
// requests than its per-minute limit, which equals the gateway's.
func TestReplicasOneUpstreamPerIOC(t *testing.T) {
	rs := startRedis(t)
	const (
		iocs    = 100
		clients = 200
	)
	fake := startFake(t, iocs)
	var reps []*replica
	for range 3 {
		reps = append(reps, startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: iocs, replicas: 3}))
	}
	paths := iocPaths(iocs)
	hc := newHTTPClient()

	var (
		mu     sync.Mutex
		bodies = map[string][]byte{}
		failed atomic.Int32
		wg     sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			order := rng.Perm(iocs)
			for i, idx := range order {
				rep := reps[(c+i)%len(reps)]
				status, body, _ := get(t, hc, rep.url(), paths[idx], tokenBob)
				if status != http.StatusOK {
					if failed.Add(1) <= 5 {
						t.Errorf("client %d: GET %s on replica %d: status %d: %s", c, paths[idx], (c+i)%len(reps), status, body)
					}
					continue
				}
				mu.Lock()
				if prev, ok := bodies[paths[idx]]; !ok {
					bodies[paths[idx]] = body
				} else if !bytes.Equal(prev, body) {
					t.Errorf("GET %s returned two different bodies", paths[idx])
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	counts := upstreamCounts(fake)
	if got := len(fake.Requests()); got != iocs {
		t.Errorf("upstream requests = %d, want exactly %d (one per IOC)", got, iocs)
	}
	for _, p := range paths {
		if counts[p] != 1 {
			t.Errorf("upstream requests for %s = %d, want 1", p, counts[p])
		}
	}
	if n := fake429s(fake); n != 0 {
		t.Errorf("fake VirusTotal answered 429 %d times: the shared limiter let too many through", n)
	}
	if len(bodies) != iocs {
		t.Errorf("got answers for %d IOCs, want %d", len(bodies), iocs)
	}
	for _, b := range bodies {
		if !bytes.Contains(b, []byte(`"last_analysis_stats"`)) {
			t.Errorf("answer is not a VirusTotal object: %.120s", b)
			break
		}
	}
}

// TestSharedLimitAcrossReplicas asks three replicas for 30 distinct IOCs at
// once under a deployment limit of 10 a minute: exactly 10 go upstream and
// the rest get 429 with Retry-After, never a 429 from VirusTotal itself.
func TestSharedLimitAcrossReplicas(t *testing.T) {
	rs := startRedis(t)
	fake := startFake(t, 10)
	var reps []*replica
	for range 3 {
		reps = append(reps, startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 10, replicas: 3,
			queueWait: 300 * time.Millisecond}))
	}
	paths := iocPaths(30)
	hc := newHTTPClient()

	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			status, body, h := get(t, hc, reps[i%3].url(), p, tokenBob)
			switch status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
				if h.Get("Retry-After") == "" {
					t.Errorf("429 for %s without Retry-After", p)
				}
				if !strings.Contains(string(body), `"code":"QuotaExceededError"`) {
					t.Errorf("429 body for %s = %s, want a QuotaExceededError", p, body)
				}
			default:
				t.Errorf("GET %s: status %d: %s", p, status, body)
			}
		})
	}
	wg.Wait()

	if got := len(fake.Requests()); got != 10 {
		t.Errorf("upstream requests = %d, want 10 (the per-minute limit)", got)
	}
	if ok.Load() != 10 || limited.Load() != 20 {
		t.Errorf("answers: %d ok, %d rate limited; want 10 and 20", ok.Load(), limited.Load())
	}
	if n := fake429s(fake); n != 0 {
		t.Errorf("fake VirusTotal answered 429 %d times", n)
	}
}

// TestReplicaKilledKeepsCache kills one of two replicas while clients are
// still asking it, then asks the survivor for everything: whatever the dead
// replica had returned is served from the shared cache without another
// upstream request, and the rest is looked up once the dead replica's
// fetch locks expire.
func TestReplicaKilledKeepsCache(t *testing.T) {
	rs := startRedis(t)
	fake := startFake(t, 0)
	a := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 1000, lockTTL: time.Second})
	b := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 1000, lockTTL: time.Second})
	paths := iocPaths(60)
	hc := newHTTPClient()

	// Clients ask replica a, which is killed once half of the IOCs
	// have responses; requests racing the kill may fail.
	var (
		mu       sync.Mutex
		answered = map[string]bool{}
		wg       sync.WaitGroup
		kill     sync.Once
	)
	for _, p := range paths {
		wg.Go(func() {
			status, _, _ := get(&quietT{T: t}, hc, a.url(), p, tokenBob)
			if status != http.StatusOK {
				return
			}
			mu.Lock()
			answered[p] = true
			half := len(answered) >= len(paths)/2
			mu.Unlock()
			if half {
				kill.Do(a.stop)
			}
		})
	}
	wg.Wait()
	kill.Do(a.stop)

	mu.Lock()
	defer mu.Unlock()
	before := upstreamCounts(fake)
	for _, p := range paths {
		status, body, _ := get(t, hc, b.url(), p, tokenBob)
		if status != http.StatusOK {
			t.Errorf("GET %s on the surviving replica: status %d: %s", p, status, body)
		}
	}
	after := upstreamCounts(fake)
	if len(answered) < len(paths)/2 {
		t.Fatalf("replica a answered %d IOCs before the kill, want at least %d", len(answered), len(paths)/2)
	}
	for _, p := range paths {
		switch {
		case answered[p] && after[p] != before[p]:
			t.Errorf("%s had a response before the kill but went upstream again (%d -> %d requests): the cache lost it", p, before[p], after[p])
		case after[p] < 1:
			t.Errorf("%s was never looked up upstream", p)
		}
	}
}

// quietT turns the errors of requests that race the kill into logs.
type quietT struct{ *testing.T }

func (q *quietT) Errorf(format string, args ...any) { q.Logf(format, args...) }

// TestRedisRestartDegradesAndRecovers stops Redis under a running replica:
// lookups go upstream under the local share of the limit and Redis state
// comes back when the server does.
func TestRedisRestartDegradesAndRecovers(t *testing.T) {
	rs := startRedis(t)
	fake := startFake(t, 0)
	// Two replicas in the deployment: while Redis is down each may send
	// half of the 20 a minute.
	r := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 20, replicas: 2,
		queueWait: 200 * time.Millisecond})
	paths := iocPaths(30)
	hc := newHTTPClient()

	for _, p := range paths[:5] {
		if status, body, _ := get(t, hc, r.url(), p, tokenBob); status != http.StatusOK {
			t.Fatalf("GET %s with redis up: status %d: %s", p, status, body)
		}
	}
	if status, _, h := get(t, hc, r.url(), paths[0], tokenBob); status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" {
		t.Fatalf("repeat with redis up: status %d, cache %q; want 200 hit", status, h.Get("X-Vex-Cache"))
	}

	rs.stop()
	fake.ResetRequests()
	var ok, limited int
	for _, p := range paths[5:] {
		status, body, _ := get(t, hc, r.url(), p, tokenBob)
		switch status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Errorf("GET %s with redis down: status %d: %s", p, status, body)
		}
	}
	if ok != 10 || limited != 15 {
		t.Errorf("with redis down: %d ok and %d rate limited, want 10 and 15 (the local share of 20/min)", ok, limited)
	}
	if got := len(fake.Requests()); got != 10 {
		t.Errorf("upstream requests with redis down = %d, want 10", got)
	}
	code, health, _ := get(t, hc, r.srv.URL, "/healthz", "")
	if code != http.StatusOK || !strings.Contains(string(health), `"degraded"`) {
		t.Errorf("healthz with redis down = %d %s, want 200 degraded", code, health)
	}

	rs.start()
	// The health pause is 200 ms; after it the replica uses Redis again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, health, _ = get(t, hc, r.srv.URL, "/healthz", "")
		if code == http.StatusOK && strings.Contains(string(health), `"status":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz after redis restart = %d %s", code, health)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fake.ResetRequests()
	p := paths[29]
	if status, body, _ := get(t, hc, r.url(), p, tokenBob); status != http.StatusOK {
		t.Fatalf("GET %s after restart: status %d: %s", p, status, body)
	}
	if status, _, h := get(t, hc, r.url(), p, tokenBob); status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" {
		t.Errorf("repeat after restart: status %d, cache %q; want 200 hit from redis", status, h.Get("X-Vex-Cache"))
	}
	if got := len(fake.Requests()); got != 1 {
		t.Errorf("upstream requests after restart = %d, want 1", got)
	}
	// The requests sent during the outage were added to the shared
	// window: 10 then, plus the one above.
	n, err := rs.client(t).ZCard(t.Context(), "vex:gw:q:window").Result()
	if err != nil || n != 11 {
		t.Errorf("shared window after restart holds %d reservations (%v), want 11", n, err)
	}
}
