package gateway_test

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/gateway"
)

// TestCachedResponseCarriesAge checks that a response from the gateway's
// cache carries its age (Age, RFC 9111), so a client dates its copy from
// the VirusTotal request instead of from now. A response fetched for the
// request carries none.
func TestCachedResponseCarriesAge(t *testing.T) {
	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100})
	hc := newHTTPClient()
	path := iocPaths(1)[0]

	status, _, h := get(t, hc, r.url(), path, tokenBob)
	if status != http.StatusOK || h.Get("X-Vex-Cache") != "miss" || h.Get("Age") != "" {
		t.Fatalf("first request: status %d, cache %q, Age %q; want 200, miss and no Age", status, h.Get("X-Vex-Cache"), h.Get("Age"))
	}
	time.Sleep(1100 * time.Millisecond)
	status, _, h = get(t, hc, r.url(), path, tokenBob)
	age, err := strconv.Atoi(h.Get("Age"))
	if status != http.StatusOK || h.Get("X-Vex-Cache") != "hit" || err != nil || age < 1 || age > 60 {
		t.Errorf("second request: status %d, cache %q, Age %q; want 200, hit and an Age of a second or more", status, h.Get("X-Vex-Cache"), h.Get("Age"))
	}
}

// TestClientAddr checks the address in the printed base URL: a wildcard
// listener is named by loopback, which a local script can dial, rather
// than "[::]".
func TestClientAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0.0.0.0:8443", "127.0.0.1:8443"},
		{"[::]:8443", "127.0.0.1:8443"},
		{"127.0.0.1:8443", "127.0.0.1:8443"},
		{"[::1]:8443", "[::1]:8443"},
		{"192.0.2.10:8443", "192.0.2.10:8443"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := gateway.ClientAddr(a); got != tc.want {
			t.Errorf("ClientAddr(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
