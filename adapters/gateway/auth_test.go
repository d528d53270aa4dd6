package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vex-ioc/vex/adapters/gateway"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// TestClientTokens checks missing, wrong and rate-limited tokens on two
// replicas that share the per-client window through Redis.
func TestClientTokens(t *testing.T) {
	rs := startRedis(t)
	fake := startFake(t, 0)
	a := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 100, aliceRate: 5})
	b := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 100, aliceRate: 5})
	hc := newHTTPClient()
	path := iocPaths(1)[0]

	cases := []struct {
		name, token, code string
	}{
		{"missing", "", "AuthenticationRequiredError"},
		{"wrong", "gw-token-nobody", "WrongCredentialsError"},
		{"virustotal key", vtKey, "WrongCredentialsError"},
		{"prefix of a token", tokenAlice[:10], "WrongCredentialsError"},
	}
	for _, c := range cases {
		status, body, _ := get(t, hc, a.url(), path, c.token)
		if status != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"`+c.code+`"`) {
			t.Errorf("%s token: status %d body %s, want 401 %s", c.name, status, body, c.code)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("rejected clients caused %d upstream requests, want 0", n)
	}

	// Alice may send 5 requests a minute in total, whichever replica she
	// uses; cache hits count too.
	for i := range 5 {
		rep := []*replica{a, b}[i%2]
		if status, body, _ := get(t, hc, rep.url(), path, tokenAlice); status != http.StatusOK {
			t.Fatalf("alice request %d: status %d: %s", i+1, status, body)
		}
	}
	status, body, h := get(t, hc, b.url(), path, tokenAlice)
	if status != http.StatusTooManyRequests || !strings.Contains(string(body), `"code":"TooManyRequestsError"`) {
		t.Errorf("alice request 6: status %d body %s, want 429 TooManyRequestsError", status, body)
	}
	if ra := h.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("alice's 429 has Retry-After %q, want the seconds until a slot frees", ra)
	}
	if status, _, _ := get(t, hc, a.url(), path, tokenBob); status != http.StatusOK {
		t.Errorf("bob, who has no rate of his own, got status %d after alice hit hers", status)
	}

	_, metrics, _ := get(t, hc, b.srv.URL, "/metrics", "")
	if !strings.Contains(string(metrics), `vex_gateway_rate_limited_total{reason="client"} 1`) {
		t.Errorf("metrics do not count alice's 429:\n%s", grepLines(string(metrics), "rate_limited"))
	}
	if !strings.Contains(string(metrics), `vex_gateway_requests_total{client="alice",code="429"} 1`) {
		t.Errorf("metrics do not count alice's 429 by client:\n%s", grepLines(string(metrics), "requests_total"))
	}
}

// TestVirusTotalKeyNeverLeaks drives responses of every kind, including
// upstream bodies that echo the key, and then searches every response,
// log line, metric and Redis key and value for the key.
func TestVirusTotalKeyNeverLeaks(t *testing.T) {
	rs := startRedis(t)
	fake := startFake(t, 0)
	echo := `{"data":{"id":"%s","type":"file","attributes":{"comment":"key ` + vtKey + `","last_analysis_stats":{"malicious":0}}}}`
	paths := iocPaths(6)
	fake.Inject(vttest.Fault{Match: paths[0][len("/files/"):], Kind: vttest.Status, Status: 200,
		Body: fmt.Appendf(nil, echo, paths[0][len("/files/"):])})
	fake.Inject(vttest.Fault{Match: "host-2.example.com", Kind: vttest.Status, Status: 404,
		Body: vttest.ErrorBody("NotFoundError", "Domain host-2.example.com not found, key "+vtKey)})
	fake.Inject(vttest.Fault{Match: "45.10.0.4", Kind: vttest.Status, Status: 400,
		Body: vttest.ErrorBody("InvalidArgumentError", "bad request with key "+vtKey)})
	fake.Inject(vttest.Fault{Match: "host-5.example.com", Kind: vttest.Status, Status: 500,
		Body: vttest.ErrorBody("TransientError", "failed, key "+vtKey)})

	r := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 100})
	hc := newHTTPClient()
	var seen []string
	check := func(what string, data string) {
		t.Helper()
		if strings.Contains(data, vtKey) {
			t.Errorf("%s contains the VirusTotal key: %.300s", what, data)
		}
		seen = append(seen, what)
	}

	requests := append(append([]string{}, paths...),
		paths[0]+"/contacted_domains?limit=5", paths[0]+"/behaviour_summary", paths[1]+"/resolutions")
	for _, p := range requests {
		for range 2 { // the second response comes from the cache
			status, body, h := get(t, hc, r.url(), p, tokenBob)
			check(fmt.Sprintf("response %d to %s", status, p), string(body)+fmt.Sprint(h))
		}
	}

	// The fake echoed the key in a 200 body; the gateway must have
	// received it and served it redacted, or the check above proves nothing.
	if _, body, _ := get(t, hc, r.url(), paths[0], tokenBob); !strings.Contains(string(body), "[REDACTED]") {
		t.Errorf("echoing upstream body was not redacted as expected: %s", body)
	}

	// A second upstream with another key turns every miss into a 401.
	other := vttest.New(vttest.Options{Synthesize: true, APIKey: "some-other-key"})
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wrong := startReplica(t, replicaConfig{fake: other, redisURL: rs.url(), perMinute: 100, prefix: "other:"})
	status, body, h := get(t, hc, wrong.url(), paths[3], tokenBob)
	if status != http.StatusBadGateway || !strings.Contains(string(body), "UpstreamAuthenticationError") {
		t.Errorf("upstream 401: status %d body %s, want 502 UpstreamAuthenticationError", status, body)
	}
	check("upstream 401 response", string(body)+fmt.Sprint(h))

	_, metrics, _ := get(t, hc, r.srv.URL, "/metrics", "")
	check("metrics", string(metrics))
	check("replica log", r.logs.String())
	check("second replica log", wrong.logs.String())
	for _, l := range []string{r.logs.String(), wrong.logs.String()} {
		if strings.Contains(l, tokenBob) || strings.Contains(l, tokenAlice) {
			t.Error("a log line contains a client token")
		}
	}
	if !strings.Contains(r.logs.String(), `"msg":"request"`) {
		t.Error("no access log lines were written")
	}

	ctx := context.Background()
	keys := scanAll(t, rs.client(t))
	if len(keys) == 0 {
		t.Fatal("redis holds no keys; the check below would prove nothing")
	}
	for _, k := range keys {
		check("redis key "+k, k)
		check("redis value of "+k, dumpKey(ctx, t, rs.client(t), k))
	}
	t.Logf("checked %d responses, logs and metrics, and %d redis keys", len(seen), len(keys))
}

func scanAll(t *testing.T, c *redis.Client) []string {
	var keys []string
	iter := c.Scan(context.Background(), 0, "*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// dumpKey returns the value of k whatever its type.
func dumpKey(ctx context.Context, t *testing.T, c *redis.Client, k string) string {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = c.Get(ctx, k).Result()
	case "hash":
		v, err = c.HGetAll(ctx, k).Result()
	case "zset":
		v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "list":
		v, err = c.LRange(ctx, k, 0, -1).Result()
	case "set":
		v, err = c.SMembers(ctx, k).Result()
	case "none":
		return "" // expired between SCAN and TYPE
	default:
		t.Fatalf("redis key %s has unexpected type %s", k, typ)
	}
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTokenRateWithoutRedis applies a client's rate in a single instance.
func TestTokenRateWithoutRedis(t *testing.T) {
	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100, aliceRate: 2})
	hc := newHTTPClient()
	path := iocPaths(1)[0]
	for i := range 2 {
		if status, _, _ := get(t, hc, r.url(), path, tokenAlice); status != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, status)
		}
	}
	start := time.Now()
	status, _, h := get(t, hc, r.url(), path, tokenAlice)
	if status != http.StatusTooManyRequests {
		t.Errorf("third request: status %d, want 429", status)
	}
	if time.Since(start) > time.Second {
		t.Error("a client over its rate waited instead of getting a 429 at once")
	}
	if h.Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q, want 60 (the window)", h.Get("Retry-After"))
	}
}

// TestOpenRejectsWeakTokens refuses a client token that is the VirusTotal
// key itself, from the key argument or from api.key, or too short to be a
// secret.
func TestOpenRejectsWeakTokens(t *testing.T) {
	const fileKey = "file-vt-key-0123456789abcdef0123456789"
	cases := []struct {
		name, token, want string
	}{
		{"virustotal key", vtKey, "is the VirusTotal API key"},
		{"api.key from the file", fileKey, "is the VirusTotal API key"},
		{"one character", "x", "at least 16 characters"},
		{"fifteen characters", "0123456789abcde", "at least 16 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Cache.DataDir = t.TempDir()
			cfg.API.Key = secret.New(fileKey)
			cfg.Serve.Tokens = []config.Token{{Name: "fleet", Token: secret.New(c.token)}}
			g, err := gateway.Open(context.Background(), cfg, secret.New(vtKey), gateway.OpenOptions{})
			if err == nil {
				g.Close()
				t.Fatalf("Open with token %q succeeded, want an error", c.name)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"fleet"`) {
				t.Errorf("error %q does not name the client and say %q", err, c.want)
			}
			if len(c.token) >= secret.MinLength && strings.Contains(err.Error(), c.token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}
