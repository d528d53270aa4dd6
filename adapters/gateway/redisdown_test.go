package gateway_test

import (
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestReplicaStartsWhileRedisDown starts a replica whose Redis is not
// running: it serves under its local limits and reports degraded without
// naming the Redis address, and it uses Redis once the server starts.
func TestReplicaStartsWhileRedisDown(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found: install Debian's redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rs := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: port}
	t.Cleanup(rs.stop)

	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, redisURL: rs.url(), perMinute: 100, replicas: 2})
	hc := newHTTPClient()

	status, body, _ := get(t, hc, r.srv.URL, "/healthz", "")
	if status != http.StatusOK || !strings.Contains(string(body), `"status":"degraded"`) {
		t.Errorf("healthz with redis down = %d %s, want 200 degraded", status, body)
	}
	if want := `"redis":"unavailable"`; !strings.Contains(string(body), want) {
		t.Errorf("healthz = %s, want %s", body, want)
	}
	if strings.Contains(string(body), strconv.Itoa(port)) || strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("healthz shows the redis address: %s", body)
	}
	path := iocPaths(1)[0]
	if status, body, _ := get(t, hc, r.url(), path, tokenBob); status != http.StatusOK {
		t.Errorf("lookup with redis down: status %d body %s, want 200", status, body)
	}
	_, metrics, _ := get(t, hc, r.srv.URL, "/metrics", "")
	if want := `vex_gateway_health_check_up{check="redis"} 0`; !strings.Contains(string(metrics), want) {
		t.Errorf("metrics lack %q:\n%s", want, grepLines(string(metrics), "health"))
	}

	rs.start()
	status, body, _ = get(t, hc, r.srv.URL, "/healthz", "")
	if status != http.StatusOK || string(body) != `{"status":"ok","checks":{"redis":"ok"}}` {
		t.Errorf("healthz once redis runs = %d %s, want 200 ok", status, body)
	}
}
