package gateway_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// TestNonRoutableStaysLocal sends private, loopback and reserved addresses,
// and a URL on one, through the gateway: each gets a 400 from the gateway
// itself, with no upstream request and no quota spent, unless
// api.allow_non_routable is set.
func TestNonRoutableStaysLocal(t *testing.T) {
	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100})
	hc := newHTTPClient()

	paths := []string{
		"/ip_addresses/10.0.0.1",
		"/ip_addresses/127.0.0.1/resolutions",
		"/ip_addresses/192.168.1.20/communicating_files?limit=10",
		"/ip_addresses/::1",
		"/ip_addresses/fe80::1",
		"/ip_addresses/::ffff:172.16.0.5",
		"/urls/" + base64.RawURLEncoding.EncodeToString([]byte("http://10.1.2.3/admin")),
		"/urls/" + base64.RawURLEncoding.EncodeToString([]byte("http://[fd00::1]:8080/x")) + "/downloaded_files",
	}
	for _, p := range paths {
		status, body, _ := get(t, hc, r.url(), p, tokenBob)
		if status != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", p, status)
		}
		if !strings.Contains(string(body), `"code":"BadRequestError"`) || !strings.Contains(string(body), "allow_non_routable") {
			t.Errorf("GET %s: body %s, want a BadRequestError naming api.allow_non_routable", p, body)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("non-routable requests reached VirusTotal %d times, want 0", n)
	}
	_, metrics, _ := get(t, hc, r.srv.URL, "/metrics", "")
	if !strings.Contains(string(metrics), "vex_gateway_quota_used_today 0") {
		t.Errorf("quota spent on non-routable requests:\n%s", grepLines(string(metrics), "quota_used"))
	}
	if want := "vex_gateway_non_routable_total 8"; !strings.Contains(string(metrics), want) {
		t.Errorf("metrics lack %q:\n%s", want, grepLines(string(metrics), "non_routable"))
	}

	// Public addresses and URLs still go upstream.
	for _, p := range []string{"/ip_addresses/9.9.9.9", "/urls/" + base64.RawURLEncoding.EncodeToString([]byte("http://9.9.9.9/x"))} {
		if status, body, _ := get(t, hc, r.url(), p, tokenBob); status != http.StatusOK {
			t.Errorf("GET %s: status %d: %s, want 200", p, status, body)
		}
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("public requests reached VirusTotal %d times, want 2", n)
	}
}

// TestNonRoutableAllowed forwards a private address when the gateway's
// api.allow_non_routable is true.
func TestNonRoutableAllowed(t *testing.T) {
	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100, allowNonRoutable: true})
	if status, body, _ := get(t, newHTTPClient(), r.url(), "/ip_addresses/10.0.0.1", tokenBob); status != http.StatusOK {
		t.Errorf("status %d: %s, want 200", status, body)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("upstream requests = %d, want 1", n)
	}
}
